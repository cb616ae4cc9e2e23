//! `/openapi.json` and `/docs`, served from the binary with no network.

use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn openapi_document_lists_every_endpoint() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for (path, method) in [
        ("/items", "post"),
        ("/items", "get"),
        ("/items/{id}", "get"),
        ("/items/{id}", "put"),
        ("/items/{id}", "delete"),
        ("/upload", "post"),
        ("/images", "get"),
        ("/image/{id}", "get"),
        ("/image/{id}", "delete"),
        ("/image/{id}/thumbnail", "get"),
        ("/health", "get"),
        ("/health/ready", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn docs_ui_is_served_locally_without_a_cdn() {
    let app = spawn_app().await;
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no remote assets: {html}"
    );
    for asset in [
        "/docs/swagger-ui.css",
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-initializer.js",
    ] {
        let response = app.get(asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert!(!response.bytes().await.unwrap().is_empty());
    }
    let initializer = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("/openapi.json"));
}
