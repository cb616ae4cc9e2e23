//! The second hardening round through the real router: the decoder findings (a header
//! two parsers read apart, progressive and many-scan JPEGs, a 16-bit PNG), thumbnails
//! paid for once, upload slots that a stalled client cannot hold, and text that cannot
//! lie about itself.

use std::time::{Duration, Instant};

use jpeg_encoder::SamplingFactor;
use pier::{
    domain::ImageId,
    store::Blobs,
    test_support::{Format, encode},
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::crafted::{self, Jpeg};
use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

/// The 422 detail for an upload of `bytes`.
async fn refused_upload(app: &crate::helpers::TestApp, name: &str, bytes: Vec<u8>) -> String {
    let body = assert_problem(app.upload(&[(name, bytes)]).await, 422).await;
    assert!(
        app.stored_objects().await.is_empty(),
        "a refused upload leaves nothing"
    );
    body["detail"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_report_s_images_are_refused_at_upload_with_their_real_size() {
    let app = spawn_app().await;
    // A 16000×16000 frame behind a fill byte, which a lenient reader took for 1×1.
    let detail = refused_upload(&app, "fill.jpg", crafted::fill_byte_differential()).await;
    assert!(detail.contains("16000×16000"), "{detail}");
    // 7071² colour progressive: ~430 MiB of output and coefficients.
    let small = crafted::jpeg(32, 32, Jpeg::Colour(SamplingFactor::R_4_4_4), true);
    let detail = refused_upload(&app, "big.jpg", crafted::claiming(&small, 7071, 7071)).await;
    assert!(detail.contains("PIER_DECODE_MEMORY"), "{detail}");
    // A progressive JPEG whose scans would be decoded again and again.
    let detail = refused_upload(&app, "scans.jpg", crafted::with_scans(&small, 150)).await;
    assert!(detail.contains("64 scans"), "{detail}");
}

#[tokio::test]
async fn a_16_bit_png_at_36_megapixels_gets_its_thumbnail() {
    let app = spawn_app().await;
    let id = app
        .upload_ok(&[("deep.png", crafted::png_rgba16(6000, 6000))])
        .await
        .remove(0);
    let thumbnail = app.get(&format!("/image/{id}/thumbnail")).await;
    assert_eq!(thumbnail.status(), 200);
    let small = image::load_from_memory(&thumbnail.bytes().await.unwrap()).unwrap();
    assert_eq!((small.width(), small.height()), (256, 256));
}

/// A PNG whose structure is sound but whose compressed data is not: accepted at upload
/// (the walk does not inflate), undecodable when a thumbnail is asked for.
fn corrupt_png() -> Vec<u8> {
    let mut png = encode(Format::Png, 60, 60);
    let middle = png.len() / 2;
    png[middle..middle + 20].fill(0xAB);
    png
}

#[tokio::test]
async fn a_failed_thumbnail_is_paid_for_once_and_remembered_with_the_image() {
    let app = spawn_app().await;
    let id = app
        .upload_ok(&[("corrupt.png", corrupt_png())])
        .await
        .remove(0);
    let path = format!("/image/{id}/thumbnail");
    let decodes = app.context.gallery.thumbnails().decodes();
    assert_problem(app.get(&path).await, 422).await;
    assert_eq!(app.context.gallery.thumbnails().decodes(), decodes + 1);
    let image_id = ImageId::parse(&id).unwrap();
    assert!(
        app.context
            .gallery
            .blobs()
            .size_of(&Blobs::thumbnail_failure_key(image_id))
            .await
            .unwrap()
            .is_some(),
        "the failure is kept with the image"
    );
    // Even with a decodable original planted behind pier's back, the answer is the
    // remembered failure: nothing is decoded again.
    app.context
        .gallery
        .blobs()
        .put_bytes(
            &Blobs::image_key(image_id),
            encode(Format::Png, 60, 60).into(),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        let body = assert_problem(app.get(&path).await, 422).await;
        assert!(
            body["errors"]["file"][0]
                .as_str()
                .unwrap()
                .contains("decoded")
        );
    }
    assert_eq!(app.context.gallery.thumbnails().decodes(), decodes + 1);
    // Deleting the image removes the failure with it.
    assert_eq!(app.delete(&format!("/image/{id}")).await.status(), 204);
    assert!(app.stored_objects().await.is_empty());
}

#[tokio::test]
async fn concurrent_first_requests_for_a_thumbnail_share_one_decode() {
    let app = spawn_app().await;
    let id = app
        .upload_ok(&[("big.png", encode(Format::Png, 1500, 1500))])
        .await
        .remove(0);
    let path = format!("/image/{id}/thumbnail");
    let decodes = app.context.gallery.thumbnails().decodes();
    let app = &app;
    let answers = futures::future::join_all((0..8).map(|_| async {
        let response = app.get(&path).await;
        (response.status(), response.bytes().await.unwrap())
    }))
    .await;
    assert!(answers.iter().all(|(status, _)| *status == 200));
    assert!(answers.windows(2).all(|pair| pair[0].1 == pair[1].1));
    assert_eq!(
        app.context.gallery.thumbnails().decodes(),
        decodes + 1,
        "eight concurrent requests, one decode"
    );
}

/// Opens an upload that sends its headers and 8 bytes of body, then nothing.
async fn stalled_upload(address: &str) -> tokio::net::TcpStream {
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 1000000\r\n\r\n--XyZ\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn stalled_uploads_lose_their_slots_within_seconds() {
    let app = spawn_app_with(|s| {
        s.uploads.max_concurrent_uploads = 2;
        s.uploads.upload_idle_timeout = Duration::from_secs(1);
    })
    .await;
    let mut stalled = Vec::new();
    for _ in 0..2 {
        stalled.push(stalled_upload(&app.address).await);
    }
    // Both slots are taken by clients that send nothing more.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let real = tokio::time::timeout(
        Duration::from_secs(10),
        app.upload(&[("real.png", encode(Format::Png, 20, 20))]),
    )
    .await
    .expect("a real upload got a slot within 10 s (the request deadline is 60 s)");
    assert_eq!(real.status(), 201);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "it did wait"
    );
    // The stalled clients were told why.
    for mut stream in stalled {
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("PIER_UPLOAD_IDLE_TIMEOUT"), "{answer}");
    }
}

#[tokio::test]
async fn file_names_and_item_text_cannot_hide_characters() {
    let app = spawn_app().await;
    let body: Value = app
        .upload(&[("a\u{202E}gnp.exe.png", encode(Format::Png, 4, 4))])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["images"][0]["filename"], "agnp.exe.png");
    let body = assert_problem(
        app.upload(&[("\u{202E}\u{200B}", encode(Format::Png, 4, 4))])
            .await,
        422,
    )
    .await;
    assert!(
        body["errors"]["file"][0]
            .as_str()
            .unwrap()
            .contains("visible")
    );

    for name in ["\u{202e}", "\u{200b}", "lamp\u{202e}pmal", "a\u{2028}b"] {
        let body =
            assert_problem(app.post_json("/items", &json!({ "name": name })).await, 422).await;
        assert!(body["errors"]["name"].is_array(), "{name:?}: {body}");
    }
    let body = assert_problem(
        app.post_json(
            "/items",
            &json!({ "name": "lamp", "description": "x\u{202e}y" }),
        )
        .await,
        422,
    )
    .await;
    assert!(
        body["errors"]["description"][0]
            .as_str()
            .unwrap()
            .contains("U+202E")
    );
    let item = app
        .create_item(&json!({ "name": " 👩\u{200d}💻 desk ", "description": "two\nlines" }))
        .await;
    assert_eq!(item["name"], "👩\u{200d}💻 desk");
}

#[tokio::test]
async fn json_bodies_say_each_field_once_and_only_known_fields() {
    let app = spawn_app().await;
    let send = |path: &'static str, body: &'static str| {
        app.client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let body = assert_problem(
        send("/items", r#"{"name":"a","price":1,"price":1000}"#)
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("`price` more than once")
    );
    assert_problem(
        send("/predict", r#"{"text":"good","text":"awful"}"#)
            .await
            .unwrap(),
        400,
    )
    .await;
    let body = assert_problem(
        send("/items", r#"{"name":"a","colour":"red","size":2}"#)
            .await
            .unwrap(),
        422,
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(fields, ["colour", "size"]);
    let page: Value = app.get("/items").await.json().await.unwrap();
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );
}

#[tokio::test]
async fn the_quadratic_but_batch_is_answered() {
    let app = spawn_app().await;
    let text = format!("{}but", ":) ".repeat(3332));
    let texts = vec![text; 100];
    let response = app.post_json("/predict", &json!({ "texts": texts })).await;
    assert_eq!(response.status(), 200);
    let scores: Vec<Value> = response.json().await.unwrap();
    assert_eq!(scores.len(), 100);
    assert!(scores.iter().all(|s| s["label"] == "positive"));
}
