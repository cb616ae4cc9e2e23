//! The `pier` binary: parse the command line, then serve, migrate or check health.

use std::{process::ExitCode, time::Duration};

use clap::{Parser, error::ErrorKind};
use pier::{
    config::{Cli, Command, Settings},
    startup::{self, Application},
    telemetry,
};

/// The static (musl) build's allocator: musl's own serialises allocation across threads
/// (measured: 60k vs 110k req/s on /health).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// glibc (the GNU build): buffers of 4 MiB and more — decoded images, large bodies —
/// are mapped on their own and returned to the system when freed. Without this glibc
/// raises its threshold to 32 MiB after the first big free and keeps freed buffers in
/// per-thread arenas, so resident memory would grow past the decode budget with no
/// decode running. (mimalloc, in the static build, returns large blocks by itself.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_buffers_to_the_system() {
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread
    // exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

fn main() -> ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    return_large_buffers_to_the_system();
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            error.exit()
        }
        Err(error) => {
            // One line naming the setting and what is allowed.
            let message = error.to_string();
            let line = message
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("pier: {line}");
            return ExitCode::from(2);
        }
    };
    cli.settings.aws = cli.settings.aws.without_empty_values();
    if let Err(reason) = cli.settings.api_tokens() {
        eprintln!("pier: {reason}");
        return ExitCode::from(2);
    }
    // Blocking threads do file I/O and image decoding; a bound keeps threads (and the
    // memory each one's allocator heap holds) from growing with the number of clients.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("pier: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Do not wait for stray blocking tasks (a thumbnail being made) once we are done.
    runtime.shutdown_timeout(Duration::from_millis(200));
    telemetry::flush_logs();
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("pier: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            telemetry::init_logging(cli.settings.log_format);
            if !cli.settings.otlp_endpoint.is_empty() {
                pier::otlp::start(&cli.settings.otlp_endpoint, &cli.settings.otel_service_name)?;
            }
            let app = Application::build(&cli.settings).await?;
            tracing::info!(addr = %cli.settings.addr, port = app.port(), version = env!("CARGO_PKG_VERSION"), "pier is serving");
            app.run_until_stopped().await?;
            pier::otlp::flush().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            telemetry::init_logging(cli.settings.log_format);
            let database = startup::open_database(&cli.settings).await?;
            database.migrate().await?;
            #[cfg(feature = "aws")]
            if let pier::config::MetadataBackend::DynamoDb { table } = &cli.settings.metadata {
                pier::store::dynamo::DynamoMeta::connect(table, &cli.settings.aws)
                    .await
                    .migrate()
                    .await?;
            }
            tracing::info!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck { url } => Ok(healthcheck(&cli.settings, url).await),
        Command::MigrateStore { from, to } => {
            let source = pier::store::Blobs::open(&from, &cli.settings.aws)?;
            let destination = pier::store::Blobs::open(&to, &cli.settings.aws)?;
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} objects {elapsed_precise}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let summary = pier::migrate_store::copy_store(&source, &destination, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await?;
            bar.finish();
            println!(
                "copied {} objects ({} bytes), {} already there, {} damaged copies replaced",
                summary.copied, summary.bytes, summary.skipped, summary.repaired
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Asks `/health` over plain HTTP/1.1 on loopback; no TLS, no client library, so the
/// check works in a `FROM scratch` image.
async fn healthcheck(settings: &Settings, url: Option<String>) -> ExitCode {
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

async fn probe(url: &str) -> anyhow::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let parsed = url::Url::parse(url)?;
    anyhow::ensure!(parsed.scheme() == "http", "only http:// URLs are supported");
    let host = parsed
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("the URL has no host"))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let mut stream = tokio::net::TcpStream::connect((host, port)).await?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        parsed.path()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = vec![0u8; 64];
    let read = stream.read(&mut head).await?;
    let line = String::from_utf8_lossy(&head[..read]);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("not an HTTP response"))?;
    Ok(status)
}
