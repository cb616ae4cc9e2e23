//! Integration tests: the real application on port 0, over real HTTP.

mod abuse;
mod auth;
#[path = "../support/crafted.rs"]
mod crafted;
mod docs;
mod dynamodb;
mod errors;
mod hardening;
mod health;
mod helpers;
mod images;
mod items;
mod metadata;
mod moto;
mod outage;
mod page;
mod pg;
mod postgres;
mod predict;
mod s3;
mod shutdown;
