//! The `pier` binary: parse the command line, then serve, migrate or check health.

use std::{process::ExitCode, time::Duration};

use clap::{Parser, error::ErrorKind};
use pier::{cli::Cli, telemetry};

/// The static (musl) build's allocator: musl's own serialises allocation across threads
/// (measured: 60k vs 110k req/s on /health).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc (the static build) returns freed memory to the system at once and commits
/// its arenas as they are used rather than ahead. With its defaults (purging a second
/// after a free, arenas committed eagerly) decodes peaked above what their headers
/// predict, up to 8 %, so the decode budget did not bound resident memory
/// (`tests/decode_memory.rs` run on the static binary with `PIER_TEST_BINARY`; with
/// these settings every case stays at or under 96 % of its prediction). The same as
/// `MIMALLOC_PURGE_DELAY=0 MIMALLOC_ARENA_EAGER_COMMIT=0`, set before the first arena.
#[cfg(target_env = "musl")]
fn return_large_buffers_to_the_system() {
    use libmimalloc_sys::{mi_option_set, mi_option_t};
    // Their places in mimalloc.h's `mi_option_e` (v3); the -sys crate names no constants.
    const ARENA_EAGER_COMMIT: mi_option_t = 4;
    const PURGE_DELAY: mi_option_t = 15;
    // SAFETY: sets two allocator options; called first thing in main.
    unsafe {
        mi_option_set(ARENA_EAGER_COMMIT, 0);
        mi_option_set(PURGE_DELAY, 0);
    }
}

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

/// Other platforms: their allocator's defaults.
#[cfg(not(any(target_env = "musl", all(target_os = "linux", target_env = "gnu"))))]
fn return_large_buffers_to_the_system() {}

fn main() -> ExitCode {
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
