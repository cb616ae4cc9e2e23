//! The `pier` binary: parse the command line, then serve, migrate or check health.

use std::{process::ExitCode, time::Duration};

use clap::{Parser, error::ErrorKind};
use pier::{cli::Cli, telemetry};

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
