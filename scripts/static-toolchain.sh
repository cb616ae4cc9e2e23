#!/usr/bin/env bash
# What scripts/build-static.sh needs, installed when missing: Rust's musl target and
# Debian's musl-tools (musl-gcc, for the C in aws-lc and SQLite). Separate from the
# build because it runs apt-get, which must not race the test command's other installs.
# Usage: scripts/static-toolchain.sh
set -Eeuo pipefail
TARGET="x86_64-unknown-linux-musl"
rustup target list --installed | grep "^$TARGET\$" >/dev/null || rustup target add "$TARGET"
if ! command -v musl-gcc >/dev/null; then
  echo "installing Debian's musl-tools for the static binary"
  (apt-get install -y -qq musl-tools >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq musl-tools >/dev/null; }) \
    || { echo "cannot install musl-tools: the static binary needs musl-gcc" >&2; exit 1; }
fi
