//! The web page's delivery: security headers, content-hashed assets, compression and
//! caching. What the page does is tested in a real browser (tests/browser.rs).

use crate::helpers::{assert_problem, spawn_app};

async fn page(app: &crate::helpers::TestApp) -> reqwest::Response {
    app.client
        .get(app.url("/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_page_has_a_strict_policy_and_names_hashed_assets() {
    let app = spawn_app().await;
    let response = page(&app).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let html = response.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "no inline script or style"
    );
    let assets = pier::routes::page::asset_paths();
    assert_eq!(assets.len(), 2);
    for path in &assets {
        assert!(html.contains(path.as_str()), "the page names {path}");
        let name = path.rsplit('/').next().unwrap();
        let hash = name.split('.').nth(1).unwrap();
        assert!(
            hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "content-hashed name: {name}"
        );
    }
}

#[tokio::test]
async fn assets_are_compressed_immutable_and_revalidated() {
    let app = spawn_app().await;
    for path in pier::routes::page::asset_paths() {
        let plain = app
            .client
            .get(app.url(&path))
            .header("accept-encoding", "identity")
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), 200);
        assert_eq!(
            plain.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert!(plain.headers().get("content-encoding").is_none());
        let etag = plain.headers()["etag"].clone();
        let plain = plain.bytes().await.unwrap();
        let gzipped = app
            .client
            .get(app.url(&path))
            .header("accept-encoding", "br, gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(gzipped.headers()["content-encoding"], "gzip");
        assert_eq!(gzipped.headers()["vary"], "Accept-Encoding");
        let compressed = gzipped.bytes().await.unwrap();
        assert!(compressed.len() * 2 < plain.len(), "{path}: gzip pays");
        let mut inflated = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(compressed.as_ref()),
            &mut inflated,
        )
        .unwrap();
        assert_eq!(inflated, plain.as_ref(), "{path}: the same bytes");
        let again = app
            .client
            .get(app.url(&path))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
    }
    assert_problem(app.get("/assets/app.000000000000.js").await, 404).await;
    assert_problem(app.get("/assets/..%2F..%2Fetc%2Fpasswd").await, 404).await;
}
