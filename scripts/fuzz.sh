#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time (FUZZ_SECONDS each, 30 by default),
# starting from the committed seeds in fuzz/seeds/<target>. Any crash fails the run;
# libFuzzer leaves the input in fuzz/artifacts/<target>/, which then becomes a
# regression test (a unit test with those bytes) before it is fixed.
#
# cargo fuzz needs nightly-only compiler flags (-Z sanitizer, coverage passes); the one
# stable toolchain of the machine accepts them with RUSTC_BOOTSTRAP=1, so no second
# toolchain is installed. The address sanitizer is off: the targets are safe Rust (the
# few C parts — SQLite, aws-lc — are not what is fuzzed), and ASan would double the
# instrumented build's time.
#
# Usage: scripts/fuzz.sh [target ...]     FUZZ_SECONDS=600 scripts/fuzz.sh image_detection
#        scripts/fuzz.sh --build-only      (install cargo-fuzz and build; the test command
#                                           does this in the background, at low priority)
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"
CARGO_FUZZ_VERSION="0.13.2"
SECONDS_EACH="${FUZZ_SECONDS:-30}"
BUILD_ONLY=0
if [ "${1:-}" = "--build-only" ]; then BUILD_ONLY=1; shift; fi
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(image_detection header_agreement metadata_strip multipart_upload json_bodies sentiment)
fi

if ! cargo fuzz --version 2>/dev/null | grep "$CARGO_FUZZ_VERSION" >/dev/null; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io"
  cargo install --locked --quiet --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
# This is also the one build of pier without its default features (the fuzz workspace
# leaves out the S3, DynamoDB and PostgreSQL clients): a warning there fails it, as
# clippy's -D warnings does for the default build. cargo fuzz appends RUSTFLAGS to its
# own flags; dependencies' warnings stay capped by cargo.
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-D warnings"
# Several codegen units: the instrumented build of the whole service is the slow part
# on a 2-core machine; the fuzzing itself is bounded by time, not by speed.
FUZZ_FLAGS=(--sanitizer none --release --debug-assertions --codegen-units 16)

CORPUS="$(mktemp -d -t pier-fuzz.XXXXXX)"
trap 'rm -rf "$CORPUS"' EXIT
echo "building the fuzz targets (instrumented)"
if ! cargo fuzz build "${FUZZ_FLAGS[@]}" >"$CORPUS/build.log" 2>&1; then
  grep -vE '^\s+(Compiling|Fresh|Checking|Downloaded|Downloading)' "$CORPUS/build.log" | tail -60 >&2
  echo "the fuzz targets do not build" >&2
  exit 1
fi
if [ "$BUILD_ONLY" = 1 ]; then echo "fuzz targets built"; exit 0; fi
for target in "${TARGETS[@]}"; do
  test -d "seeds/$target" || { echo "no seed corpus in fuzz/seeds/$target" >&2; exit 1; }
  mkdir -p "$CORPUS/$target"
  echo "--- fuzzing $target for ${SECONDS_EACH}s (seeds: $(find "seeds/$target" -type f | wc -l))"
  # The first directory receives new inputs; the committed seeds stay untouched.
  if ! cargo fuzz run "${FUZZ_FLAGS[@]}" "$target" "$CORPUS/$target" "seeds/$target" -- \
      -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 >"$CORPUS/$target.log" 2>&1; then
    tail -60 "$CORPUS/$target.log" >&2
    echo "fuzz target $target failed: the crashing input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|cov:' "$CORPUS/$target.log" | tail -3
done
echo "fuzzing: ${#TARGETS[@]} targets, ${SECONDS_EACH}s each, no crash"
