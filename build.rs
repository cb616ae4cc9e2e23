//! Generates the table of HTTP status code strings ("100".."599") used as metric labels,
//! so labelling a response never allocates; and records the git commit for
//! `pier_build_info` (`PIER_GIT_SHA` when set, as in the Docker build, else `git`).
use std::{env, fs, path::Path, process::Command};

fn main() {
    let mut table = String::from("const STATUS_TEXT: [&str; 500] = [");
    for code in 100..600 {
        table.push_str(&format!("\"{code}\","));
    }
    table.push_str("];\n");
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("status_text.rs");
    fs::write(out, table).expect("writing into OUT_DIR");
    println!("cargo:rustc-env=PIER_GIT_SHA={}", git_sha());
    println!("cargo:rerun-if-env-changed=PIER_GIT_SHA");
    for path in [".git/HEAD", ".git/refs/heads"] {
        if Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=migrations");
}

/// A short commit id, or `unknown` outside a git checkout; only `[0-9a-z-]` kept, so the
/// value is always a clean metric label.
fn git_sha() -> String {
    let from_env = env::var("PIER_GIT_SHA").ok().filter(|v| !v.is_empty());
    let sha = from_env.or_else(|| {
        Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
    });
    let clean: String = sha
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect();
    if clean.is_empty() {
        "unknown".to_owned()
    } else {
        clean
    }
}
