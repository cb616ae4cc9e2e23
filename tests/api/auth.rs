//! API tokens (SPEC §1 `PIER_API_TOKENS`): writes need a bearer token, reads do not;
//! several tokens are valid at once (rotation); refusals are 401 problems with
//! `WWW-Authenticate: Bearer` and change nothing; the OpenAPI document declares it.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

const OLD: &str = "old-token-0123456789abcdef";
const NEW: &str = "new-token-0123456789abcdef";

async fn app_with_tokens() -> TestApp {
    spawn_app_with(|settings| {
        settings.access.api_tokens = Some(pier::config::Secret(format!("{OLD},{NEW}")));
    })
    .await
}

/// Uploads one small PNG, with a bearer token or without.
async fn upload(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let png = pier::test_support::encode(pier::test_support::Format::Png, 4, 4);
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(png).file_name("a.png"),
    );
    let mut request = app.client.post(app.url("/upload")).multipart(form);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn post_item(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/items"))
        .json(&json!({"name": "guarded"}));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn writes_without_a_valid_token_are_refused_and_change_nothing() {
    let app = app_with_tokens().await;
    for (authorization, challenge) in [
        (None, r#"Bearer realm="pier""#),
        (
            Some("Bearer wrong-token-0123456789abcdef"),
            r#"Bearer realm="pier", error="invalid_token""#,
        ),
        (
            Some(&*format!("Basic {OLD}")),
            r#"Bearer realm="pier", error="invalid_token""#,
        ),
        (Some("Bearer"), r#"Bearer realm="pier""#),
        (
            Some(&*format!("Bearer {OLD}x")),
            r#"Bearer realm="pier", error="invalid_token""#,
        ),
    ] {
        let response = post_item(&app, authorization).await;
        assert_eq!(
            response.headers()["www-authenticate"],
            challenge,
            "{authorization:?}"
        );
        let problem = assert_problem(response, 401).await;
        assert!(
            !problem.to_string().contains(OLD),
            "a token is echoed: {problem}"
        );
    }
    // Uploads, replacements and deletions are writes too.
    assert_problem(upload(&app, None).await, 401).await;
    for response in [
        app.client
            .put(app.url("/items/1"))
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap(),
        app.client.delete(app.url("/items/1")).send().await.unwrap(),
    ] {
        assert_problem(response, 401).await;
    }
    // A prediction changes nothing: it stays public (SPEC §2), and the document says so.
    let predicted = app.post_json("/predict", &json!({"text": "good"})).await;
    assert_eq!(predicted.status(), 200);
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"]["/predict"]["post"]["security"].is_null());
    assert!(doc["paths"]["/items"]["post"]["security"].is_array());
    // Nothing was written.
    let items: Value = app.get("/items").await.json().await.unwrap();
    assert_eq!(items["items"].as_array().unwrap().len(), 0, "{items}");
    let images: Value = app.get("/images").await.json().await.unwrap();
    assert_eq!(images["images"].as_array().unwrap().len(), 0, "{images}");
    assert!(app.stored_objects().await.is_empty());
}

#[tokio::test]
async fn every_configured_token_works_and_reads_stay_public() {
    let app = app_with_tokens().await;
    // Both the old and the new token are accepted while clients move over (rotation).
    for token in [OLD, NEW] {
        let created = post_item(&app, Some(&format!("Bearer {token}"))).await;
        assert_eq!(created.status(), 201, "{token}");
        let item: Value = created.json().await.unwrap();
        let read = app.get(&format!("/items/{}", item["id"])).await;
        assert_eq!(read.status(), 200, "reads need no token");
    }
    assert_eq!(upload(&app, Some(NEW)).await.status(), 201);
    for path in [
        "/items",
        "/images",
        "/health",
        "/health/ready",
        "/metrics",
        "/openapi.json",
    ] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn the_openapi_document_declares_the_scheme_only_when_enforced() {
    let guarded: Value = app_with_tokens()
        .await
        .get("/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        guarded["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        guarded["paths"]["/items"]["post"]["security"],
        json!([{ "bearer": [] }])
    );
    assert!(guarded["paths"]["/items"]["post"]["responses"]["401"].is_object());
    assert!(guarded["paths"]["/upload"]["post"]["security"].is_array());
    assert!(guarded["paths"]["/items/{id}"]["delete"]["security"].is_array());
    assert!(
        guarded["paths"]["/items"]["get"]["security"].is_null(),
        "reads are public"
    );

    let open: Value = spawn_app()
        .await
        .get("/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    assert!(open["components"]["securitySchemes"].is_null());
    assert!(open["paths"]["/items"]["post"]["security"].is_null());
}
