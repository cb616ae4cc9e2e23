#!/usr/bin/env bash
# What scripts/build-static.sh needs: Rust's musl target and Debian's musl-tools
# (musl-gcc, for the C in aws-lc and SQLite). Installs what is missing; with --check it
# only says what is missing and fails, as build-static.sh does before building (it may
# run in the background, where apt-get must not race the test command's other installs).
# Usage: scripts/static-toolchain.sh [--check]
set -Eeuo pipefail
# shellcheck source=/dev/null  # scripts/servers.sh: ensure_debian_package
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/servers.sh"
TARGET="x86_64-unknown-linux-musl"
CHECK_ONLY=0
if [ "${1:-}" = "--check" ]; then CHECK_ONLY=1; fi

if ! rustup target list --installed | grep "^$TARGET\$" >/dev/null; then
  [ "$CHECK_ONLY" = 0 ] || { echo "the $TARGET target is missing: rustup target add $TARGET (or scripts/static-toolchain.sh)" >&2; exit 1; }
  rustup target add "$TARGET"
fi
if ! command -v musl-gcc >/dev/null; then
  [ "$CHECK_ONLY" = 0 ] || { echo "musl-gcc is missing: apt-get install musl-tools (or scripts/static-toolchain.sh)" >&2; exit 1; }
  ensure_debian_package musl-gcc musl-tools || exit 1
fi
