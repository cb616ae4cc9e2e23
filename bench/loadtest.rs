//! The load-test scenario a team runs against its deployment before going live: users
//! who browse the gallery, upload images, keep the items catalogue and ask for
//! predictions, in the proportions below. Built on goose; every goose option works
//! (`--users`, `--increase-rate`, `--run-time`, `--throttle-requests`, `--report-file`, `--threshold`).
//!
//! ```text
//! cargo run --release --example loadtest -- --host https://pier.example.com \
//!     --users 50 --increase-rate 10 --run-time 5m
//! PIER_TOKEN=… cargo run --release --example loadtest -- --host …   # writes need a token
//! ```
//!
//! Prints goose's tables (requests per second, median, p95/p99 and maximum latency per
//! request, status codes, errors). Exits with status 1 when any request failed or got
//! an answer other than the one expected, so a script can gate a release on it.
//!
//! Every request goes only to `--host`. Set `PIER_TOKEN` when the deployment requires
//! API tokens for writes (`PIER_API_TOKENS`); it is sent as a bearer token, never printed.

use std::{sync::LazyLock, time::Duration};

use goose::{goose::GooseResponse, prelude::*};
use pier::test_support::{Format, encode};
use serde_json::Value;

/// Weights: for every upload, six gallery visits, three predictions, two item edits.
const BROWSE_WEIGHT: usize = 6;
const PREDICT_WEIGHT: usize = 3;
const ITEMS_WEIGHT: usize = 2;
const UPLOAD_WEIGHT: usize = 1;

/// The multipart boundary of the upload bodies (never inside a PNG of this size).
const BOUNDARY: &str = "pier-loadtest-boundary-7c1f";

/// A 96×64 PNG, about the size of a thumbnail, uploaded by every upload transaction.
static UPLOAD_BODY: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let png = encode(Format::Png, 96, 64);
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"loadtest.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&png);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
});

/// The bearer header for writes, from `PIER_TOKEN`.
static AUTHORIZATION: LazyLock<Option<String>> = LazyLock::new(|| {
    std::env::var("PIER_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .map(|t| format!("Bearer {t}"))
});

const TEXTS: [&str; 4] = [
    "The delivery was fast and the product is excellent!",
    "Terrible support, I waited two weeks and nobody answered :(",
    "It is a lamp. It gives light.",
    "Not bad at all, though the price is a bit high.",
];

#[tokio::main]
async fn main() -> Result<(), GooseError> {
    let metrics = GooseAttack::initialize()?
        .register_scenario(weighted(
            "BrowseGallery",
            BROWSE_WEIGHT,
            vec![
                transaction!(front_page).set_name("front page"),
                transaction!(gallery).set_name("gallery"),
            ],
        )?)
        .register_scenario(weighted(
            "Predict",
            PREDICT_WEIGHT,
            vec![
                transaction!(predict_one).set_name("predict"),
                transaction!(predict_batch).set_name("predict batch"),
            ],
        )?)
        .register_scenario(weighted(
            "Items",
            ITEMS_WEIGHT,
            vec![transaction!(item_lifecycle).set_name("item lifecycle")],
        )?)
        .register_scenario(weighted(
            "Upload",
            UPLOAD_WEIGHT,
            vec![transaction!(upload).set_name("upload")],
        )?)
        .execute()
        .await?;

    let failed: usize = metrics.requests.values().map(|r| r.fail_count).sum();
    let sent: usize = metrics
        .requests
        .values()
        .map(|r| r.success_count + r.fail_count)
        .sum();
    if sent == 0 {
        eprintln!("loadtest: no request was sent (is --host right?)");
        std::process::exit(1);
    }
    if failed > 0 || !metrics.errors.is_empty() {
        eprintln!("loadtest: {failed} of {sent} requests failed");
        std::process::exit(1);
    }
    println!("loadtest: {sent} requests, 0 failed");
    Ok(())
}

/// A scenario of `weight` users running `transactions` in turn, pausing 100–500 ms
/// between them as a person would.
fn weighted(
    name: &str,
    weight: usize,
    transactions: Vec<Transaction>,
) -> Result<Scenario, GooseError> {
    let scenario = Scenario::new(name)
        .set_weight(weight)?
        .set_wait_time(Duration::from_millis(100), Duration::from_millis(500))?;
    Ok(transactions
        .into_iter()
        .fold(scenario, Scenario::register_transaction))
}

/// The HTML gallery page and its first page of images.
async fn front_page(user: &mut GooseUser) -> TransactionResult {
    user.get("/").await?;
    Ok(())
}

/// The JSON gallery, then the newest image's thumbnail and bytes, as a viewer would.
async fn gallery(user: &mut GooseUser) -> TransactionResult {
    let listed = user.get("/images?limit=20").await?;
    let Some(first) = json(listed)
        .await
        .and_then(|page| page["images"][0]["id"].as_str().map(str::to_owned))
    else {
        return Ok(()); // an empty gallery: nothing more to view
    };
    user.get_named(
        &format!("/image/{first}/thumbnail"),
        "/image/{id}/thumbnail",
    )
    .await?;
    user.get_named(&format!("/image/{first}"), "/image/{id}")
        .await?;
    user.get("/items?limit=20").await?;
    Ok(())
}

async fn predict_one(user: &mut GooseUser) -> TransactionResult {
    let text = TEXTS[fastrand_index(TEXTS.len())];
    let body = serde_json::json!({ "text": text });
    write(
        user,
        GooseMethod::Post,
        "/predict",
        "/predict",
        body.to_string(),
        200,
    )
    .await?;
    Ok(())
}

async fn predict_batch(user: &mut GooseUser) -> TransactionResult {
    let body = serde_json::json!({ "texts": TEXTS });
    write(
        user,
        GooseMethod::Post,
        "/predict",
        "/predict batch",
        body.to_string(),
        200,
    )
    .await?;
    Ok(())
}

/// Create an item, read it, replace it, delete it: the catalogue stays the same size.
async fn item_lifecycle(user: &mut GooseUser) -> TransactionResult {
    let item = serde_json::json!({ "name": "Load-test lamp", "description": "made by the load test", "price": 19.99 });
    let created = write(
        user,
        GooseMethod::Post,
        "/items",
        "/items",
        item.to_string(),
        201,
    )
    .await?;
    // Item ids are integers.
    let Some(id) = json(created).await.and_then(|v| v["id"].as_i64()) else {
        return Ok(()); // the failure is already counted
    };
    let path = format!("/items/{id}");
    user.get_named(&path, "/items/{id}").await?;
    let replaced = serde_json::json!({ "name": "Load-test lamp", "price": 24.5 });
    write(
        user,
        GooseMethod::Put,
        &path,
        "/items/{id}",
        replaced.to_string(),
        200,
    )
    .await?;
    write(
        user,
        GooseMethod::Delete,
        &path,
        "/items/{id}",
        String::new(),
        204,
    )
    .await?;
    Ok(())
}

/// Images each upload user keeps before deleting its oldest: a viewer reads the newest
/// image of the gallery, which is then never one being deleted, and a long run still
/// does not fill the disk (each upload user leaves its last few images behind).
const UPLOADS_KEPT: usize = 5;

/// The ids an upload user has uploaded and not yet deleted, oldest first.
#[derive(Clone, Default)]
struct Uploaded(std::collections::VecDeque<String>);

/// One image per upload, its thumbnail read back, and the user's oldest upload deleted.
async fn upload(user: &mut GooseUser) -> TransactionResult {
    let mut builder = user.get_request_builder(&GooseMethod::Post, "/upload")?;
    if let Some(value) = AUTHORIZATION.as_deref() {
        builder = builder.header("authorization", value);
    }
    let builder = builder
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(UPLOAD_BODY.clone());
    let request = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path("/upload")
        .expect_status_code(201)
        .set_request_builder(builder)
        .build();
    let uploaded = user.request(request).await?;
    let Some(id) = json(uploaded)
        .await
        .and_then(|v| v["images"][0]["id"].as_str().map(str::to_owned))
    else {
        return Ok(());
    };
    user.get_named(&format!("/image/{id}/thumbnail"), "/image/{id}/thumbnail")
        .await?;
    if user.get_session_data::<Uploaded>().is_none() {
        user.set_session_data(Uploaded::default());
    }
    let kept = user
        .get_session_data_mut::<Uploaded>()
        .expect("set just above");
    kept.0.push_back(id);
    let oldest = (kept.0.len() > UPLOADS_KEPT)
        .then(|| kept.0.pop_front())
        .flatten();
    if let Some(oldest) = oldest {
        let path = format!("/image/{oldest}");
        write(
            user,
            GooseMethod::Delete,
            &path,
            "/image/{id}",
            String::new(),
            204,
        )
        .await?;
    }
    Ok(())
}

/// A write (every POST, PUT and DELETE, `/predict` included) with the bearer token
/// when one is set, and the status it must answer.
async fn write(
    user: &mut GooseUser,
    method: GooseMethod,
    path: &str,
    name: &str,
    body: String,
    expect: u16,
) -> Result<GooseResponse, Box<TransactionError>> {
    let mut builder = user.get_request_builder(&method, path)?;
    if let Some(value) = AUTHORIZATION.as_deref() {
        builder = builder.header("authorization", value);
    }
    if !body.is_empty() {
        builder = builder
            .header("content-type", "application/json")
            .body(body);
    }
    let request = GooseRequest::builder()
        .method(method)
        .path(path)
        .name(name)
        .expect_status_code(expect)
        .set_request_builder(builder)
        .build();
    user.request(request).await
}

/// The JSON of a successful answer; `None` when it failed (goose has counted it).
async fn json(response: GooseResponse) -> Option<Value> {
    let text = response.response.ok()?.text().await.ok()?;
    serde_json::from_str(&text).ok()
}

/// A cheap varying index, so users do not all send the same text.
fn fastrand_index(len: usize) -> usize {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos as usize % len
}
