//! `/predict` and `/model/info`.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn one_text_gets_scores_and_a_label() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/predict",
            &json!({"text": "VADER is smart, handsome, and funny."}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"label": "positive", "compound": 0.8316, "pos": 0.746, "neu": 0.254, "neg": 0.0})
    );
    let negative: Value = app
        .post_json("/predict", &json!({"text": "This is terrible :("}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(negative["label"], "negative");
    let neutral: Value = app
        .post_json("/predict", &json!({"text": ""}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        neutral,
        json!({"label": "neutral", "compound": 0.0, "pos": 0.0, "neu": 0.0, "neg": 0.0})
    );
}

#[tokio::test]
async fn a_batch_is_answered_in_order() {
    let app = spawn_app().await;
    let words = ["good", "awful", "table"];
    let texts: Vec<&str> = (0..1000).map(|n| words[n % 3]).collect();
    let response = app.post_json("/predict", &json!({ "texts": texts })).await;
    assert_eq!(response.status(), 200);
    let body: Vec<Value> = response.json().await.unwrap();
    assert_eq!(body.len(), 1000);
    for (n, scores) in body.iter().enumerate() {
        assert_eq!(
            scores["label"],
            ["positive", "negative", "neutral"][n % 3],
            "text {n}"
        );
    }
    // A large batch (scored off the async threads) gives the same answers.
    let long: Vec<String> = (0..200)
        .map(|n| format!("{} {}", "great movie, ".repeat(40), n))
        .collect();
    let body: Vec<Value> = app
        .post_json("/predict", &json!({ "texts": long }))
        .await
        .json()
        .await
        .unwrap();
    assert!(body.iter().all(|s| s["label"] == "positive"));
    let empty: Vec<Value> = app
        .post_json("/predict", &json!({ "texts": [] }))
        .await
        .json()
        .await
        .unwrap();
    assert!(empty.is_empty());
}

#[tokio::test]
async fn limits_and_bad_input_are_problems() {
    let app = spawn_app().await;
    let long = "x".repeat(10_001);
    for (body, field) in [
        (json!({ "text": long }), "text"),
        (json!({ "texts": ["ok", long] }), "texts[1]"),
        (json!({ "texts": vec!["a"; 1001] }), "texts"),
        (json!({ "text": 5 }), "text"),
        (json!({ "text": "a", "texts": ["b"] }), "body"),
        (json!({}), "body"),
    ] {
        let problem = assert_problem(app.post_json("/predict", &body).await, 422).await;
        assert!(problem["errors"][field].is_array(), "{problem}");
    }
    assert_eq!(
        app.post_json("/predict", &json!({ "text": "é".repeat(10_000) }))
            .await
            .status(),
        200,
        "limits count characters"
    );
    let malformed = app
        .client
        .post(app.url("/predict"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_problem(malformed, 400).await;
    let not_json = app
        .client
        .post(app.url("/predict"))
        .body("text=hi")
        .send()
        .await
        .unwrap();
    assert_problem(not_json, 415).await;

    let small = spawn_app_with(|s| s.bodies.max_predict_bytes = 2048).await;
    let big = json!({ "texts": vec!["some words"; 300] });
    assert_problem(small.post_json("/predict", &big).await, 413).await;
}

#[tokio::test]
async fn model_info_and_metrics() {
    let app = spawn_app().await;
    let info: Value = app.get("/model/info").await.json().await.unwrap();
    assert_eq!(info["name"], "vader");
    assert_eq!(info["lexicon_size"], 7506);
    assert_eq!(info["positive_threshold"], 0.05);
    assert_eq!(info["negative_threshold"], -0.05);
    // The recorder is shared by this test binary: compare before and after.
    let count = |text: &str, label: &str| -> f64 {
        let series = format!("predictions_total{{label=\"{label}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(series.as_str()))
            .and_then(|value| value.parse().ok())
            .unwrap_or(0.0)
    };
    let before = app.get("/metrics").await.text().await.unwrap();
    app.post_json(
        "/predict",
        &json!({"texts": ["good", "bad", "table", "great"]}),
    )
    .await;
    let after = app.get("/metrics").await.text().await.unwrap();
    for (label, at_least) in [("positive", 2.0), ("negative", 1.0), ("neutral", 1.0)] {
        let grew = count(&after, label) - count(&before, label);
        assert!(grew >= at_least, "{label} grew by {grew}");
    }
}
