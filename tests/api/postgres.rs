//! The same API on PostgreSQL: items, image metadata, `pier migrate`, and outages.

use std::time::{Duration, Instant};

use pier::{
    config::DatabaseUrl,
    test_support::{Format, encode},
};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, assert_problem, spawn_app_with},
    pg::TestPostgres,
};

async fn app_on(url: String) -> TestApp {
    spawn_app_with(move |s| s.backends.database_url = DatabaseUrl::Postgres(url)).await
}

/// Polls `path` until it answers `status` (bounded: 15 s).
async fn eventually(app: &TestApp, path: &str, status: u16) {
    let started = Instant::now();
    loop {
        let got = app.get(path).await.status();
        if got == status {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{path} still answers {got}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn items_and_images_work_on_postgres() {
    let pg = TestPostgres::start();
    let app = app_on(pg.database("api").await).await;
    let body = r#"{"name":" Lamp ","description":"warm","price":19.99}"#;
    let created = app
        .client
        .post(app.url("/items"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let text = created.text().await.unwrap();
    assert!(
        text.contains(r#""price":19.99"#),
        "exact through NUMERIC: {text}"
    );
    let item: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(item["name"], "Lamp");
    let path = format!("/items/{}", item["id"]);
    assert_eq!(
        app.get(&path).await.json::<Value>().await.unwrap(),
        item,
        "timestamps round-trip to the microsecond"
    );
    for n in 0..4 {
        app.create_item(&json!({ "name": format!("n{n}"), "price": 0.1 }))
            .await;
    }
    let page: Value = app.get("/items?limit=2").await.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let rest = app
        .get(&format!("/items?limit=10&after={}", page["next"]))
        .await
        .text()
        .await
        .unwrap();
    assert!(rest.contains(r#""price":0.10"#), "{rest}");
    let rest: Value = serde_json::from_str(&rest).unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 3);
    let replaced: Value = app
        .put_json(&path, &json!({"name": "b"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(replaced["price"], Value::Null);
    assert_eq!(app.delete(&path).await.status(), 204);
    assert_problem(app.get(&path).await, 404).await;

    let ids = app
        .upload_ok(&[
            ("a.png", encode(Format::Png, 9, 9)),
            ("b.gif", encode(Format::Gif, 9, 9)),
        ])
        .await;
    let listed: Value = app.get("/images").await.json().await.unwrap();
    let listed: Vec<&str> = listed["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[1].as_str(), ids[0].as_str()], "newest first");
    assert_eq!(app.get(&format!("/image/{}", ids[0])).await.status(), 200);
    assert_eq!(
        app.delete(&format!("/image/{}", ids[0])).await.status(),
        204
    );
    assert_problem(app.get(&format!("/image/{}", ids[0])).await, 404).await;
    let ready: Value = app.get("/health/ready").await.json().await.unwrap();
    assert_eq!(ready["checks"]["database"]["status"], "up");
}

#[tokio::test]
async fn an_outage_gives_503_and_recovers_by_itself() {
    let pg = TestPostgres::start();
    let app = app_on(pg.database("outage").await).await;
    app.create_item(&json!({"name": "before"})).await;
    pg.pause();
    let started = Instant::now();
    let problem = assert_problem(app.get("/items").await, 503).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "detected within seconds"
    );
    assert!(problem["detail"].as_str().unwrap().contains("database"));
    assert_problem(
        app.post_json("/items", &json!({"name": "during"})).await,
        503,
    )
    .await;
    assert_eq!(app.get("/health/ready").await.status(), 503);
    assert_eq!(
        app.get("/health").await.status(),
        200,
        "liveness does not depend on the database"
    );
    pg.resume();
    eventually(&app, "/items", 200).await;
    let page: Value = app.get("/items").await.json().await.unwrap();
    assert_eq!(page["items"][0]["name"], "before");
}

#[tokio::test]
async fn a_database_down_at_start_up_is_waited_for() {
    let pg = TestPostgres::start();
    let url = pg.database("late").await;
    pg.pause();
    let app = app_on(url).await;
    assert_problem(app.get("/items").await, 503).await;
    assert_eq!(app.get("/health/ready").await.status(), 503);
    pg.resume();
    eventually(&app, "/items", 200).await;
    app.create_item(&json!({"name": "after"})).await;
}

#[tokio::test]
async fn pier_migrate_applies_the_schema() {
    let pg = TestPostgres::start();
    let url = pg.database("migrate").await;
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pier"))
            .current_dir(dir.path())
            .arg("migrate")
            .env("DATABASE_URL", &url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('items', 'images')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, 2);
}
