#!/usr/bin/env bash
# The static release binary the image's `prebuilt` target copies: builds
# x86_64-unknown-linux-musl with the release profile (fat LTO, the 20 MB budget) and
# installs it as target/docker/pier.
#
# Its own target directory (target/static), so it can run in the background next to
# `cargo clippy` and `cargo test` without either waiting on the other's build lock:
# scripts/test.sh starts it early at low priority, and the container stage waits for it.
#
# Needs the musl target and musl-gcc: scripts/static-toolchain.sh installs both
# (scripts/test.sh runs it in its tools stage, scripts/container-test.sh when run alone).
# Usage: scripts/build-static.sh
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="x86_64-unknown-linux-musl"
export CARGO_TARGET_DIR="$ROOT/target/static"

scripts/static-toolchain.sh --check
cargo build --release --locked --target "$TARGET" --bin pier
mkdir -p target/docker
install -m 0555 "$CARGO_TARGET_DIR/$TARGET/release/pier" target/docker/pier
echo "static binary: target/docker/pier ($(stat -c %s target/docker/pier) bytes)"
