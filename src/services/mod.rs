//! What the API does, independent of HTTP. Routes translate requests into calls on
//! these and their answers back into responses; the services talk to `store`.

pub mod catalogue;
pub mod gallery;
