//! The decode budget, measured where it is spent: the real `pier` binary makes
//! thumbnails of the largest images of each kind a budget admits, and the process's
//! peak resident memory during each decode (`VmHWM` after `clear_refs` reset it) must
//! stay within the cost the header predicted — the model the upload check refuses
//! images by. Then several such decodes are asked for at once: together they must still
//! fit in the budget (thumbnails wait for memory, not only for cores).

#[path = "support/crafted.rs"]
mod crafted;

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crafted::Jpeg;
use jpeg_encoder::SamplingFactor;
use pier::domain::ImageInspector;

const PIER: &str = env!("CARGO_BIN_EXE_pier");
const MIB: u64 = 1 << 20;
/// Small enough that the test's images stay quick to make, large enough that a decode
/// dwarfs the process's baseline.
const BUDGET: u64 = 64 * MIB;

struct Pier {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Pier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_pier(budget: u64) -> Pier {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // PIER_TEST_BINARY: another build to measure, e.g. the static (musl, mimalloc) binary
    // the container ships (target/docker/pier).
    let binary = std::env::var("PIER_TEST_BINARY").unwrap_or_else(|_| PIER.to_owned());
    let child = Command::new(binary)
        .current_dir(dir.path())
        .env_clear()
        .envs(std::env::vars().filter(|(k, _)| k.starts_with("MIMALLOC_")))
        .env("PIER_ADDR", format!("127.0.0.1:{port}"))
        .env("PIER_DECODE_MEMORY", budget.to_string())
        .env("PIER_OBJECT_CACHE_BYTES", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pier = Pier {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "pier did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    pier
}

/// A field of `/proc/PID/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

/// Resets the peak to the current resident size (`echo 5 > clear_refs`).
fn reset_peak(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .expect("writing /proc/PID/clear_refs (Linux ≥ 4.0, same user)");
}

async fn upload(client: &reqwest::Client, pier: &Pier, name: &str, bytes: &[u8]) -> String {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned()),
    );
    let response = client
        .post(format!("{}/upload", pier.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{name}: {body}");
    body["images"][0]["id"].as_str().unwrap().to_owned()
}

async fn thumbnail(client: &reqwest::Client, pier: &Pier, id: &str) {
    let response = client
        .get(format!("{}/image/{id}/thumbnail", pier.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// What the upload check predicts this file's decode costs (its bytes included).
fn predicted(bytes: &[u8]) -> u64 {
    let mut inspector = ImageInspector::new(50_000_000, BUDGET);
    inspector.feed(bytes).unwrap();
    let inspected = inspector.finish().unwrap();
    inspected.layout.decode_bytes() + bytes.len() as u64
}

/// The worst cases of each decoder that fit in [`BUDGET`].
fn worst_cases() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "progressive 4:4:4 colour JPEG 2400×2400",
            crafted::jpeg(2400, 2400, Jpeg::Colour(SamplingFactor::R_4_4_4), true),
        ),
        (
            "progressive 4:2:0 colour JPEG 3000×3000",
            crafted::jpeg(3000, 3000, Jpeg::Colour(SamplingFactor::R_4_2_0), true),
        ),
        (
            "progressive grey JPEG 4000×4000",
            crafted::jpeg(4000, 4000, Jpeg::Grey, true),
        ),
        (
            "baseline 4:2:0 colour JPEG 4000×4000",
            crafted::jpeg(4000, 4000, Jpeg::Colour(SamplingFactor::R_4_2_0), false),
        ),
        ("16-bit RGBA PNG 3500×3500", crafted::png_rgba16(3500, 3500)),
        ("GIF 3000×2000", crafted::gif(3000, 2000)),
        (
            "lossless WebP with alpha 2000×2000",
            crafted::webp_lossless(2000, 2000),
        ),
        (
            "lossy WebP 3000×2000",
            crafted::webp_lossy(3000, 2000, false),
        ),
        (
            "lossy WebP with alpha 2000×2000",
            crafted::webp_lossy(2000, 2000, true),
        ),
        (
            "animated lossy WebP 1500×1500, 3 frames",
            crafted::webp_animated(1500, 1500, 3),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn each_decode_stays_within_its_predicted_cost_and_all_within_the_budget() {
    let pier = start_pier(BUDGET);
    let pid = pier.child.id();
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    println!(
        "{:<40} {:>10} {:>10} {:>6}",
        "image", "predicted", "measured", "ratio"
    );
    for (name, bytes) in worst_cases() {
        let predicted = predicted(&bytes);
        assert!(predicted <= BUDGET, "{name}: {predicted} over the budget");
        let id = upload(&client, &pier, name, &bytes).await;
        drop(bytes);
        // Let the upload's buffers go back before measuring from here.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = status_bytes(pid, "VmRSS:");
        reset_peak(pid);
        thumbnail(&client, &pier, &id).await;
        let measured = status_bytes(pid, "VmHWM:").saturating_sub(before);
        println!(
            "{name:<40} {:>8} MiB {:>8} MiB {:>5.0} %",
            predicted / MIB,
            measured / MIB,
            100.0 * measured as f64 / predicted as f64
        );
        assert!(
            measured <= predicted,
            "{name}: the decode peaked at {measured} bytes over the process's baseline, more than the {predicted} its header predicted"
        );
        ids.push(id);
    }

    // The same kind of decodes, several at once, on fresh images: together they must
    // fit in the budget (each costs more than half of it, so two at once would not).
    let mut fresh = Vec::new();
    for side in [2401u16, 2402, 2403] {
        let bytes = crafted::jpeg(side, side, Jpeg::Colour(SamplingFactor::R_4_4_4), true);
        assert!(predicted(&bytes) > BUDGET / 2);
        fresh.push(upload(&client, &pier, "concurrent", &bytes).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = status_bytes(pid, "VmRSS:");
    reset_peak(pid);
    let requests = fresh.iter().map(|id| thumbnail(&client, &pier, id));
    futures::future::join_all(requests).await;
    let measured = status_bytes(pid, "VmHWM:").saturating_sub(before);
    println!("three concurrent decodes: {} MiB", measured / MIB);
    assert!(
        measured <= BUDGET,
        "three concurrent decodes peaked at {measured} bytes, over the {BUDGET}-byte budget"
    );
}
