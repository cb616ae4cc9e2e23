//! The web page in a real browser: Debian's `chromium`, driven through `chromedriver`
//! (WebDriver) by fantoccini, against the real app on a free port. Needs the Debian
//! packages `chromium` and `chromium-driver` (scripts/test.sh installs them), or
//! `PIER_TEST_CHROMIUM` and `PIER_TEST_CHROMEDRIVER` pointing at other builds.
//!
//! Screenshots of the desktop and phone layouts are saved to `target/screenshots/`.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use pier::{
    config::{Settings, StorageUrl},
    startup::Application,
    test_support::{Format, encode, noisy_png},
};
use serde_json::{Value, json};

const UPLOAD_LIMIT: u64 = 200_000;
const XSS_NAME: &str = "<img src=x onerror=alert(1)>.png";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tool(variable: &str, default: &str, package: &str) -> PathBuf {
    let path = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        path.exists(),
        "{} not found: install Debian's `{package}` package (scripts/test.sh does) or set {variable}",
        path.display()
    );
    path
}

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Self {
        let binary = tool(
            "PIER_TEST_CHROMEDRIVER",
            "/usr/bin/chromedriver",
            "chromium-driver",
        );
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let chromium = tool("PIER_TEST_CHROMIUM", "/usr/bin/chromium", "chromium");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::rustls()
        .expect("a TLS connector")
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session with chromium")
}

/// Polls `check` (bounded) until it returns `Some`.
async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn script(client: &Client, source: &str) -> Value {
    client
        .execute(source, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}\n{source}"))
}

async fn text_of(client: &Client, css: &str) -> String {
    match client.find(Locator::Css(css)).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn tiles(client: &Client) -> usize {
    client
        .find_all(Locator::Css("#images li"))
        .await
        .map_or(0, |all| all.len())
}

async fn click(client: &Client, locator: Locator<'_>) {
    client
        .find(locator)
        .await
        .unwrap_or_else(|e| panic!("no element to click: {e}"))
        .click()
        .await
        .unwrap();
}

async fn fill(element: &Element, value: &str) {
    element.clear().await.unwrap();
    if !value.is_empty() {
        element.send_keys(value).await.unwrap();
    }
}

/// The item table's rows as text, read in one script (rows may be replaced meanwhile).
async fn item_rows(client: &Client) -> Vec<String> {
    let rows = script(
        client,
        "return Array.from(document.querySelectorAll('#items-table tbody tr')).map(r => r.innerText);",
    )
    .await;
    serde_json::from_value(rows).unwrap()
}

async fn save_screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

/// Starts pier on SQLite and local files under `dir` (test settings changed by
/// `configure`), serving until the test ends; returns its base URL.
async fn start_app(dir: &Path, configure: impl FnOnce(&mut Settings)) -> String {
    let mut settings =
        Settings::for_tests(dir.join("pier.db"), StorageUrl::File(dir.join("images")));
    configure(&mut settings);
    let app = Application::build(&settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_does_everything_in_a_real_browser() {
    // The app, with a small upload limit so that an over-size file is easy to make.
    let dir = tempfile::tempdir().unwrap();
    let base = start_app(dir.path(), |s| s.uploads.max_upload_bytes = UPLOAD_LIMIT).await;
    let api = reqwest::Client::new();

    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let first = files.join("harbour.png");
    std::fs::write(&first, noisy_png(320, 200, 7)).unwrap();
    let xss = files.join(XSS_NAME);
    std::fs::write(&xss, encode(Format::Png, 240, 240)).unwrap();
    let big = files.join("too-big.png");
    std::fs::write(&big, noisy_png(400, 400, 9)).unwrap();
    assert!(std::fs::metadata(&big).unwrap().len() > UPLOAD_LIMIT);

    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.goto(&format!("{base}/")).await.unwrap();
    wait_for("the empty gallery", || async {
        text_of(&client, "#gallery-status")
            .await
            .contains("No images yet")
            .then_some(())
    })
    .await;

    // Every image has alt text, every form control a label.
    let unlabelled = script(
        &client,
        "return Array.from(document.querySelectorAll('input:not([type=hidden]), textarea'))\
         .filter(e => !(e.labels && e.labels.length)).map(e => e.id);",
    )
    .await;
    assert_eq!(unlabelled, json!([]), "controls without a label");

    // Upload two files at once through the file input.
    let input = client.find(Locator::Id("file-input")).await.unwrap();
    input
        .send_keys(&format!("{}\n{}", first.display(), xss.display()))
        .await
        .unwrap();
    wait_for("two thumbnails", || async {
        (tiles(&client).await == 2).then_some(())
    })
    .await;
    wait_for("both thumbnails to load", || async {
        let loaded = script(
            &client,
            "return Array.from(document.querySelectorAll('#images img'))\
             .filter(i => i.complete && i.naturalWidth > 0).length;",
        )
        .await;
        (loaded == json!(2)).then_some(())
    })
    .await;
    let alts = script(
        &client,
        "return Array.from(document.querySelectorAll('#images img')).map(i => i.alt).sort();",
    )
    .await;
    assert_eq!(alts, json!([XSS_NAME, "harbour.png"]));

    // The hostile file name is text: no element was made from it, no script ran.
    let names = script(
        &client,
        "return Array.from(document.querySelectorAll('#uploads .name')).map(n => n.textContent);",
    )
    .await;
    assert!(
        names.as_array().unwrap().contains(&json!(XSS_NAME)),
        "{names}"
    );
    let injected = script(
        &client,
        "return document.querySelectorAll('img[src=\"x\"], #uploads img').length;",
    )
    .await;
    assert_eq!(injected, json!(0), "a file name became markup");
    assert!(
        client.get_alert_text().await.is_err(),
        "no alert may be open"
    );

    // An over-size file is refused with the API's message.
    let input = client.find(Locator::Id("file-input")).await.unwrap();
    input.send_keys(&big.display().to_string()).await.unwrap();
    let refused = wait_for("the over-size refusal", || async {
        let text = text_of(&client, "#uploads li.failed .state").await;
        (!text.is_empty()).then_some(text)
    })
    .await;
    assert!(
        refused.contains("too-big.png") && refused.contains("larger than the limit"),
        "{refused}"
    );
    assert_eq!(tiles(&client).await, 2, "nothing was added");

    // Items: a validation error next to its field, then create and edit.
    let name = client.find(Locator::Id("item-name")).await.unwrap();
    let price = client.find(Locator::Id("item-price")).await.unwrap();
    fill(&name, "   ").await;
    fill(&price, "1.999").await;
    click(&client, Locator::Id("item-submit")).await;
    let price_error = wait_for("the price error", || async {
        let text = text_of(&client, "#item-price-error").await;
        (!text.is_empty()).then_some(text)
    })
    .await;
    assert!(price_error.contains("fraction digits"), "{price_error}");
    assert!(
        text_of(&client, "#item-name-error")
            .await
            .contains("must not be empty"),
        "the name error is shown next to the name"
    );
    fill(&name, "Harbour tour").await;
    fill(&price, "19.99").await;
    click(&client, Locator::Id("item-submit")).await;
    wait_for("the new item row", || async {
        let rows = item_rows(&client).await;
        (rows.len() == 1 && rows[0].contains("Harbour tour") && rows[0].contains("19.99"))
            .then_some(())
    })
    .await;
    assert!(text_of(&client, "#item-price-error").await.is_empty());
    click(
        &client,
        Locator::Css("#items-table tbody tr button.secondary"),
    )
    .await;
    let price = client.find(Locator::Id("item-price")).await.unwrap();
    fill(&price, "24.50").await;
    click(&client, Locator::Id("item-submit")).await;
    wait_for("the edited row", || async {
        let rows = item_rows(&client).await;
        (rows.len() == 1 && rows[0].contains("24.50")).then_some(())
    })
    .await;
    let stored: Value = api
        .get(format!("{base}/items"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["items"][0]["price"], json!(24.5));

    // Sentiment as the user types.
    client
        .find(Locator::Id("sentiment-text"))
        .await
        .unwrap()
        .send_keys("The harbour tour was wonderful and the staff were great!")
        .await
        .unwrap();
    let label = wait_for("a sentiment label", || async {
        let text = text_of(&client, "#sentiment-label").await;
        (!text.is_empty()).then_some(text)
    })
    .await;
    assert_eq!(label.to_lowercase(), "positive");
    for hidden in ["more-images", "more-items", "item-cancel"] {
        let shown = client
            .find(Locator::Id(hidden))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap();
        assert!(!shown, "#{hidden} is shown but has nothing to do");
    }
    // The whole page in one picture.
    client.set_window_size(1280, 1900).await.unwrap();
    script(
        &client,
        "window.scrollTo(0, 0); document.activeElement.blur(); return null;",
    )
    .await;
    save_screenshot(&client, "desktop.png").await;

    // Open an image, see its facts, delete it with confirmation.
    let tile = client
        .find(Locator::Css("#images li button"))
        .await
        .unwrap();
    tile.click().await.unwrap();
    wait_for("the viewer", || async {
        let open = script(&client, "return document.getElementById('viewer').open;").await;
        (open == json!(true)).then_some(())
    })
    .await;
    let title = text_of(&client, "#viewer-title").await;
    assert!(
        [XSS_NAME, "harbour.png"].contains(&title.as_str()),
        "{title}"
    );
    assert!(text_of(&client, "#viewer-dimensions").await.contains("px"));
    click(&client, Locator::Id("viewer-delete")).await;
    click(&client, Locator::Id("viewer-confirm-yes")).await;
    wait_for("one tile left", || async {
        (tiles(&client).await == 1).then_some(())
    })
    .await;
    let page: Value = api
        .get(format!("{base}/images"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["images"].as_array().unwrap().len(),
        1,
        "deleted on the server"
    );

    // Delete the item, with confirmation.
    click(&client, Locator::Css("#items-table tbody tr button.danger")).await;
    client
        .find(Locator::XPath("//button[text()='Yes, delete']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for("no item rows", || async {
        item_rows(&client).await.is_empty().then_some(())
    })
    .await;
    let items: Value = api
        .get(format!("{base}/items"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(items["items"], json!([]));

    // A phone: 375 px wide, nothing scrolls sideways.
    client.set_window_size(375, 812).await.unwrap();
    client.refresh().await.unwrap();
    wait_for("the gallery on a phone", || async {
        (tiles(&client).await == 1).then_some(())
    })
    .await;
    let widths = script(
        &client,
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
    )
    .await;
    let (scroll, client_width) = (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap());
    assert!(client_width <= 375, "the viewport is a phone's: {widths}");
    assert!(
        scroll <= client_width,
        "horizontal scroll at 375 px: {widths}"
    );
    // Something to see in the picture: an item and a score.
    fill(
        &client.find(Locator::Id("item-name")).await.unwrap(),
        "Ferry ticket",
    )
    .await;
    fill(
        &client.find(Locator::Id("item-price")).await.unwrap(),
        "4.20",
    )
    .await;
    click(&client, Locator::Id("item-submit")).await;
    wait_for("the phone's item row", || async {
        (item_rows(&client).await.len() == 1).then_some(())
    })
    .await;
    let widths = script(
        &client,
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
    )
    .await;
    assert!(
        widths[0].as_i64() <= widths[1].as_i64(),
        "horizontal scroll with an item: {widths}"
    );
    script(
        &client,
        "window.scrollTo(0, 0); document.activeElement.blur(); return null;",
    )
    .await;
    save_screenshot(&client, "phone.png").await;

    // The API docs render under their own policy, from pier alone.
    client.set_window_size(1280, 1000).await.unwrap();
    client.goto(&format!("{base}/docs")).await.unwrap();
    let title = wait_for("the docs UI", || async {
        let text = text_of(&client, ".swagger-ui .info .title").await;
        (!text.is_empty()).then_some(text)
    })
    .await;
    assert!(title.contains("pier"), "{title}");
    let operations = script(
        &client,
        "return document.querySelectorAll('.opblock').length;",
    )
    .await;
    assert!(
        operations.as_i64().unwrap() >= 10,
        "operations listed: {operations}"
    );
    client.close().await.unwrap();
}

#[tokio::test]
async fn the_gallery_shows_placeholders_ladder_sizes_and_upright_phone_photos() {
    let dir = tempfile::tempdir().unwrap();
    let base = start_app(dir.path(), |s| s.images.make_ahead_queue = 16).await;
    let api = reqwest::Client::new();

    // A portrait photo as a phone held upright writes it: landscape pixels, EXIF 6.
    let upright = pier::test_support::quadrants(600, 1200);
    let photo = pier::test_support::oriented_jpeg(&upright, 6);
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(photo).file_name("portrait.jpg"),
    );
    let uploaded: Value = api
        .post(format!("{base}/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = uploaded["images"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            &uploaded["images"][0]["width"],
            &uploaded["images"][0]["height"]
        ),
        (&json!(600), &json!(1200)),
        "the displayed size"
    );
    wait_for("the placeholder, made ahead", || async {
        let page: Value = api
            .get(format!("{base}/images"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        page["images"][0]["placeholder"].as_str().map(|_| ())
    })
    .await;

    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    client.goto(&format!("{base}/")).await.unwrap();
    wait_for("the tile's thumbnail to load", || async {
        let loaded = script(
            &client,
            "const i = document.querySelector('#images img'); return !!i && i.complete && i.naturalWidth > 0;",
        )
        .await;
        (loaded == json!(true)).then_some(())
    })
    .await;
    let tile = script(
        &client,
        "const i = document.querySelector('#images img'); \
         const c = document.querySelector('#images canvas.placeholder'); \
         return {srcset: i.srcset, current: i.currentSrc, w: i.naturalWidth, h: i.naturalHeight, \
                 placeholder: !!c && c.width > 0 && c.height > c.width};",
    )
    .await;
    assert_eq!(
        tile["placeholder"],
        json!(true),
        "a portrait placeholder: {tile}"
    );
    let srcset = tile["srcset"].as_str().unwrap();
    assert!(
        srcset.contains("thumbnail?size=256 128w") && srcset.contains("thumbnail?size=512 256w"),
        "{tile}"
    );
    assert!(!srcset.contains("size=1024"), "tiles stop at 512: {tile}");
    assert!(
        tile["h"].as_u64() > tile["w"].as_u64(),
        "the thumbnail is upright (portrait): {tile}"
    );

    click(&client, Locator::Css("#images li button")).await;
    let viewer = wait_for("the viewer's variant to load", || async {
        let viewer = script(
            &client,
            "const i = document.getElementById('viewer-image'); \
             return {loaded: i.complete && i.naturalWidth > 0, current: i.currentSrc, \
                     w: i.naturalWidth, h: i.naturalHeight, \
                     original: document.getElementById('viewer-original').href};",
        )
        .await;
        (viewer["loaded"] == json!(true)).then_some(viewer)
    })
    .await;
    assert!(
        viewer["current"]
            .as_str()
            .unwrap()
            .contains(&format!("/image/{id}/thumbnail?size=")),
        "the viewer shows a screen-sized variant: {viewer}"
    );
    assert!(
        viewer["h"].as_u64() > viewer["w"].as_u64(),
        "upright: {viewer}"
    );
    assert_eq!(viewer["original"], json!(format!("{base}/image/{id}")));
}
