//! A fleet sharing one spool directory: real pier processes on one DynamoDB table and one
//! S3 bucket (moto, behind the outage gate), each with its own working directory, all
//! with `PIER_SPOOL` pointing at the same directory and a 3 s lease. The outage is the
//! gate closing; a replica dies by SIGKILL or stalls by SIGSTOP.

use std::{
    collections::{BTreeMap, HashSet},
    path::{Path, PathBuf},
    process::Child,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use pier::test_support::noisy_png;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

#[allow(dead_code)]
#[path = "api/moto.rs"]
mod moto;

#[allow(dead_code)]
#[path = "support/process.rs"]
mod process;

const LEASE: &str = "3s";

/// One pier process of the fleet.
struct Replica {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Replica {
    fn start(env: &[(String, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = process::free_port();
        let child = process::start_with(dir.path(), port, env);
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn readiness(&self) -> Value {
        reqwest::get(self.url("/health/ready"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn spool_check(&self) -> Value {
        self.readiness().await["checks"]["spool"].clone()
    }

    /// This replica's id in the shared spool, as readiness reports it.
    async fn replica_id(&self) -> String {
        self.spool_check().await["replica"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A counter or gauge from `/metrics` (0 when absent).
    async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter_map(|line| line.strip_prefix(name))
            .filter_map(|rest| rest.strip_prefix(' '))
            .filter_map(|value| value.trim().parse().ok())
            .next()
            .unwrap_or(0.0)
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        assert_eq!(
            unsafe { libc::kill(pid, signal) },
            0,
            "kill({pid}, {signal})"
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pier.log")).unwrap_or_default()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The backends, the gate in front of them, one shared spool directory.
struct Fleet {
    _moto: moto::Moto,
    gate: moto::Gate,
    spool: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Fleet {
    async fn new(name: &str) -> Self {
        let moto = moto::Moto::start();
        let gate = moto::Gate::open_to(moto.port()).await;
        moto.create_bucket(name).await;
        process::create_table(&moto.endpoint(), name).await;
        let spool = tempfile::tempdir().unwrap();
        let mut env = process::aws_env(&gate.endpoint());
        env.extend(
            [
                ("PIER_STORAGE", format!("s3://{name}")),
                ("PIER_METADATA", format!("dynamodb://{name}")),
                ("PIER_SPOOL", spool.path().display().to_string()),
                ("PIER_SPOOL_LEASE", LEASE.to_owned()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        Self {
            _moto: moto,
            gate,
            spool,
            env,
        }
    }
}

/// An upload the test sent: its id once acknowledged, and its SHA-256.
#[derive(Clone, Debug)]
struct Sent {
    id: String,
    sha256: String,
}

fn png(seed: u32) -> Vec<u8> {
    noisy_png(24 + seed % 17, 20, seed)
}

async fn upload(client: &reqwest::Client, replica: &Replica, seed: u32) -> reqwest::Response {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(png(seed)).file_name(format!("f{seed}.png")),
    );
    client
        .post(replica.url("/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// One upload that must be acknowledged, and as spooled.
async fn spooled_upload(client: &reqwest::Client, replica: &Replica, seed: u32) -> Sent {
    let response = upload(client, replica, seed).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let body: Value = response.json().await.unwrap();
    let image = &body["images"][0];
    assert_eq!(image["location"], "spool", "{body}");
    Sent {
        id: image["id"].as_str().unwrap().to_owned(),
        sha256: hex::encode(Sha256::digest(png(seed))),
    }
}

/// Everything a reader can ask of one image, asked of `replica`.
async fn assert_served_whole(client: &reqwest::Client, replica: &Replica, image: &Sent) {
    let url = replica.url(&format!("/image/{}", image.id));
    let whole = client.get(&url).send().await.unwrap();
    assert_eq!(whole.status(), 200, "GET {url}");
    let etag = whole.headers()["etag"].clone();
    let bytes = whole.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), image.sha256);
    let head = client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    let cached = client
        .get(&url)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    let range = client
        .get(&url)
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(range.bytes().await.unwrap().as_ref(), &bytes[..10]);
    let thumbnail = client.get(format!("{url}/thumbnail")).send().await.unwrap();
    assert_eq!(thumbnail.status(), 200);
    assert_eq!(thumbnail.headers()["content-type"], "image/jpeg");
}

/// Polls `check` every 100 ms until it holds, for at most `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(()) => return,
            Err(state) if started.elapsed() > limit => {
                panic!("{what}: not within {limit:?}; last seen: {state}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn wait_drained(replica: &Replica) {
    eventually(Duration::from_secs(90), "the spool drains", || async {
        let ready = replica.readiness().await;
        if ready["status"] == "ready" {
            Ok(())
        } else {
            Err(ready.to_string())
        }
    })
    .await;
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Sends `count` uploads to `replica` at once and SIGKILLs it once `kill_after` have
/// been acknowledged. Returns the acknowledged ones, and the SHA-256 of every upload
/// sent (acknowledged or not).
async fn kill_during_uploads(
    replica: &mut Replica,
    count: u32,
    kill_after: usize,
    first_seed: u32,
) -> (Vec<Sent>, HashSet<String>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let acked: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let url = replica.url("/upload");
    let mut tasks = Vec::new();
    for seed in first_seed..first_seed + count {
        let (client, acked, url) = (client.clone(), acked.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let form = reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(png(seed)).file_name("k.png"),
            );
            let Ok(response) = client.post(url).multipart(form).send().await else {
                return;
            };
            let status = response.status();
            let Ok(body) = response.json::<Value>().await else {
                return; // cut off by the kill: found by content if it was stored
            };
            assert_eq!(status, 201, "refused before the kill: {body}");
            acked.lock().unwrap().push(Sent {
                id: body["images"][0]["id"].as_str().unwrap().to_owned(),
                sha256: hex::encode(Sha256::digest(png(seed))),
            });
        }));
    }
    let started = Instant::now();
    while acked.lock().unwrap().len() < kill_after && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    replica.child.kill().expect("SIGKILL");
    replica.child.wait().unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.len() >= kill_after && acked.len() < count as usize,
        "the kill came in the middle of the uploads ({} of {count})",
        acked.len()
    );
    let sent = (first_seed..first_seed + count)
        .map(|seed| hex::encode(Sha256::digest(png(seed))))
        .collect();
    (acked, sent)
}

/// The whole list of images, through `replica`.
async fn listing(replica: &Replica) -> Vec<Value> {
    let page: Value = reqwest::get(replica.url("/images?limit=1000"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["images"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_spool_and_the_survivor_adopts_a_killed_one() {
    let mut fleet = Fleet::new("fleet").await;
    let mut a = Replica::start(&fleet.env);
    let b = Replica::start(&fleet.env);
    let client = reqwest::Client::new();
    let a_id = a.replica_id().await;
    assert_ne!(b.spool_check().await["replica"], a_id.as_str());
    assert_eq!(a.spool_check().await["lease"], true);

    fleet.gate.close().await; // S3 and DynamoDB down
    let mut acked = Vec::new();
    for n in 0..3 {
        acked.push((spooled_upload(&client, &a, n).await, "a"));
        acked.push((spooled_upload(&client, &b, 100 + n).await, "b"));
    }
    // Every replica serves every spooled image: bytes, HEAD, ETag, range, thumbnail.
    for (image, from) in &acked {
        let other = if *from == "a" { &b } else { &a };
        assert_served_whole(&client, other, image).await;
    }
    // A spooled image of A deleted through B: gone from both, and never replayed.
    let (deleted, _) = acked.remove(0);
    let gone = client
        .delete(b.url(&format!("/image/{}", deleted.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    for replica in [&a, &b] {
        let status = client
            .get(replica.url(&format!("/image/{}", deleted.id)))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "the deleted image through {}", replica.base);
    }

    // A dies in the middle of uploads; B adopts its directory and serves what A held.
    let (killed_acked, sent) = kill_during_uploads(&mut a, 60, 10, 1000).await;
    let expected_pending = acked.len() + killed_acked.len();
    eventually(
        Duration::from_secs(20),
        "B adopts A's directory",
        || async {
            let spool = b.spool_check().await;
            if spool["pending"].as_u64() >= Some(expected_pending as u64) {
                Ok(())
            } else {
                Err(spool.to_string())
            }
        },
    )
    .await;
    assert_eq!(b.metric("spool_adopted_total").await, 1.0);
    let log = b.log();
    assert!(
        log.lines().any(|line| line.contains("adopted")
            && line.contains(&a_id)
            && line.contains("batches")),
        "B's log names the adopted replica and its batches:\n{log}"
    );
    for image in &killed_acked {
        assert_served_whole(&client, &b, image).await;
    }

    fleet.gate.open().await;
    wait_drained(&b).await;
    let listed = listing(&b).await;
    let mut seen = HashSet::new();
    for image in &listed {
        let id = image["id"].as_str().unwrap();
        assert!(seen.insert(id.to_owned()), "{id} is listed once");
        assert_eq!(image["location"], "s3", "replayed: {image}");
    }
    for (image, _) in &acked {
        assert!(seen.contains(&image.id), "{} survived", image.id);
    }
    for image in &killed_acked {
        assert!(
            seen.contains(&image.id),
            "{} (acknowledged by A) survived",
            image.id
        );
    }
    assert!(
        !seen.contains(&deleted.id),
        "the deleted image stayed deleted"
    );
    let status = client
        .get(b.url(&format!("/image/{}", deleted.id)))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
    // Everything listed is whole and was sent by this test (no stranger, nothing
    // half-written); what A took in but never answered may be there, whole.
    let sent_before: HashSet<String> = (0..3)
        .flat_map(|n| [png(n), png(100 + n)])
        .map(|bytes| hex::encode(Sha256::digest(bytes)))
        .collect();
    for image in &listed {
        let sha = image["sha256"].as_str().unwrap();
        assert!(sent.contains(sha) || sent_before.contains(sha), "{image}");
        let bytes = process::fetch(&client, &b.url(image["url"].as_str().unwrap())).await;
        assert_eq!(hex::encode(Sha256::digest(&bytes)), sha);
    }
    let tombstones = std::fs::read_dir(fleet.spool.path().join("tombstones"))
        .unwrap()
        .count();
    assert_eq!(tombstones, 0, "the tombstone went with its batch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_stopped_past_its_lease_never_writes_into_the_directory_it_lost() {
    let mut fleet = Fleet::new("stall").await;
    let a = Replica::start(&fleet.env);
    let b = Replica::start(&fleet.env);
    let client = reqwest::Client::new();
    let a_id = a.replica_id().await;
    let b_id = b.replica_id().await;
    fleet.gate.close().await;
    let before_stall = spooled_upload(&client, &a, 1).await;

    a.signal(libc::SIGSTOP); // a pause longer than the lease: GC-like, or partitioned
    eventually(
        Duration::from_secs(20),
        "B adopts the stalled replica's directory",
        || async {
            let spool = b.spool_check().await;
            if spool["pending"] == 1 {
                Ok(())
            } else {
                Err(spool.to_string())
            }
        },
    )
    .await;
    let lost = fleet
        .spool
        .path()
        .join("replicas")
        .join(&b_id)
        .join("adopted")
        .join(&a_id);
    let before = snapshot(&lost);
    assert!(!before.is_empty(), "{} holds A's upload", lost.display());

    a.signal(libc::SIGCONT);
    // Back, A learns it lost its directory (at most one upload is refused with 503
    // meanwhile) and its later uploads succeed in a new one.
    let mut after_stall = None;
    for attempt in 0..3 {
        let response = upload(&client, &a, 2).await;
        match response.status().as_u16() {
            201 => {
                let body: Value = response.json().await.unwrap();
                after_stall = Some(body["images"][0]["id"].as_str().unwrap().to_owned());
                break;
            }
            503 => assert!(attempt < 2, "refused three times"),
            other => panic!("{other}: {}", response.text().await.unwrap()),
        }
    }
    let after_stall = after_stall.expect("an upload after the stall succeeds");
    assert_eq!(
        snapshot(&lost),
        before,
        "nothing written into the lost directory"
    );
    assert_eq!(a.metric("spool_lease_lost_total").await, 1.0);
    let spool = a.spool_check().await;
    assert_ne!(spool["replica"], a_id.as_str(), "a new directory: {spool}");
    assert_eq!(spool["lease"], true);

    fleet.gate.open().await;
    wait_drained(&a).await;
    wait_drained(&b).await;
    for id in [&before_stall.id, &after_stall] {
        let status = client
            .get(a.url(&format!("/image/{id}")))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{id}");
    }
    assert_eq!(listing(&b).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_three_replicas_exactly_one_adopts_an_orphaned_directory() {
    let mut fleet = Fleet::new("race").await;
    let mut dead = Replica::start(&fleet.env);
    fleet.gate.close().await;
    let client = reqwest::Client::new();
    let mut acked = Vec::new();
    for seed in 0..4 {
        acked.push(spooled_upload(&client, &dead, seed).await);
    }
    // Three replicas watch the orphan's lease; once its process is gone, each one's
    // next look (every half second) finds it expired and they race for the one rename.
    let survivors: Vec<Replica> = (0..3).map(|_| Replica::start(&fleet.env)).collect();
    let _ = dead.child.kill();
    let _ = dead.child.wait();
    eventually(Duration::from_secs(20), "one survivor adopts", || async {
        let mut pending = Vec::new();
        for replica in &survivors {
            pending.push(replica.spool_check().await["pending"].as_u64().unwrap());
        }
        if pending.iter().sum::<u64>() == 4 {
            Ok(())
        } else {
            Err(format!("{pending:?}"))
        }
    })
    .await;
    let mut adopted = 0.0;
    for replica in &survivors {
        adopted += replica.metric("spool_adopted_total").await;
    }
    assert_eq!(adopted, 1.0, "exactly one adoption");
    fleet.gate.open().await;
    for replica in &survivors {
        wait_drained(replica).await;
    }
    let listed = listing(&survivors[0]).await;
    assert_eq!(listed.len(), 4, "every batch replayed once");
    for image in &acked {
        assert!(listed.iter().any(|l| l["id"] == image.id.as_str()));
    }
}
