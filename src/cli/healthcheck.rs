//! `pier healthcheck`: exit 0 when `/health` answers 200, for container HEALTHCHECKs in
//! images without curl (pier's image is `FROM scratch`).

use std::{process::ExitCode, time::Duration};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};

use crate::config::Settings;

/// Asks `url` (default: `/health` on `PIER_ADDR`'s port on 127.0.0.1) within 3 s.
pub async fn run(settings: &Settings, url: Option<String>) -> ExitCode {
    let url = url.unwrap_or_else(|| format!("http://127.0.0.1:{}/health", settings.addr.port()));
    match tokio::time::timeout(Duration::from_secs(3), probe(&url)).await {
        Ok(Ok(200)) => ExitCode::SUCCESS,
        Ok(Ok(status)) => {
            eprintln!("pier healthcheck: {url} answered {status}");
            ExitCode::FAILURE
        }
        Ok(Err(error)) => {
            eprintln!("pier healthcheck: {url}: {error}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("pier healthcheck: {url} did not answer within 3 s");
            ExitCode::FAILURE
        }
    }
}

/// The status `url` answers a GET with (plain `http://` only: the probe runs inside the
/// container, next to the server).
async fn probe(url: &str) -> anyhow::Result<u16> {
    let uri: hyper::Uri = url.parse()?;
    anyhow::ensure!(
        uri.scheme_str() == Some("http"),
        "only http:// URLs are supported"
    );
    // The same client type the OTLP exporter uses (a `Full` body), so the binary holds
    // one copy of hyper's client, not two: the image has a 20 MB budget.
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    Ok(client.get(uri).await?.status().as_u16())
}
