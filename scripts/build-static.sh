#!/usr/bin/env bash
# The static release binary the image's `prebuilt` target copies: builds
# x86_64-unknown-linux-musl with the release profile (fat LTO, the 20 MB budget) and
# installs it as target/docker/pier.
#
# Its own target directory (target/static), so it can run in the background next to
# `cargo clippy` and `cargo test` without either waiting on the other's build lock:
# scripts/test.sh starts it early at low priority, and the container stage waits for it.
#
# Needs the musl target and musl-gcc (scripts/test.sh installs both in its tools stage,
# scripts/container-test.sh when run alone).
# Usage: scripts/build-static.sh
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="x86_64-unknown-linux-musl"
export CARGO_TARGET_DIR="$ROOT/target/static"

rustup target list --installed | grep "^$TARGET\$" >/dev/null \
  || { echo "the $TARGET target is missing: rustup target add $TARGET" >&2; exit 1; }
command -v musl-gcc >/dev/null \
  || { echo "musl-gcc is missing (aws-lc and SQLite are C): apt-get install musl-tools" >&2; exit 1; }
cargo build --release --locked --target "$TARGET" --bin pier
mkdir -p target/docker
install -m 0555 "$CARGO_TARGET_DIR/$TARGET/release/pier" target/docker/pier
echo "static binary: target/docker/pier ($(stat -c %s target/docker/pier) bytes)"
