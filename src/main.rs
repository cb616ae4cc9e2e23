//! The `pier` binary: parse the command line, then serve, migrate or check health.

use std::{process::ExitCode, time::Duration};

use clap::{Parser, error::ErrorKind};
use pier::{cli::Cli, telemetry};

/// mimalloc on every build, static (musl) or GNU: musl's own allocator serialises
/// allocation across threads (measured: 60k vs 110k req/s on /health), and glibc's spent
/// ~3,700 instructions per `GET /health` in malloc and free (callgrind; about 16
/// allocations per request) and keeps freed image-sized buffers in per-thread arenas.
/// The container ships the musl build, so the benchmark now measures its allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
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
    let result = runtime.block_on(pier::cli::run(cli));
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
