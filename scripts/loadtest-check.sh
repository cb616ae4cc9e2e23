#!/usr/bin/env bash
# The goose load-test scenario (bench/loadtest.rs) for a few seconds against a local
# pier that requires API tokens, so the scenario's writes carry the bearer token: the
# scenario must run end to end with 0 failed requests. Expects `cargo test` to have
# built target/debug/pier and target/debug/examples/loadtest.
# Usage: scripts/loadtest-check.sh [seconds]
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null  # scripts/servers.sh: free_port
source "$ROOT/scripts/servers.sh"
SECONDS_TO_RUN="${1:-5}"
PIER="$ROOT/target/debug/pier"
LOADTEST="$ROOT/target/debug/examples/loadtest"
test -x "$PIER" && test -x "$LOADTEST" \
  || (cd "$ROOT" && cargo build --locked --bin pier --example loadtest)
WORK="$(mktemp -d -t pier-loadtest.XXXXXX)"
PIER_PID=""
cleanup() { [ -n "$PIER_PID" ] && { kill "$PIER_PID" 2>/dev/null || true; wait "$PIER_PID" 2>/dev/null || true; }; rm -rf "$WORK"; }
trap cleanup EXIT

TOKEN="loadtest-token-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
PORT="$(free_port)"
(cd "$WORK" && PIER_ADDR="127.0.0.1:$PORT" PIER_API_TOKENS="$TOKEN" RUST_LOG=warn exec "$PIER" >"$WORK/pier.log" 2>&1) &
PIER_PID=$!
wait_until 10 pier_answers "$PIER" "http://127.0.0.1:$PORT/health" \
  || { cat "$WORK/pier.log" >&2; echo "pier did not answer /health within 10 s" >&2; exit 1; }

echo "--- goose scenario, 8 users, ${SECONDS_TO_RUN}s, writes with a bearer token"
if ! PIER_TOKEN="$TOKEN" "$LOADTEST" --host "http://127.0.0.1:$PORT" --users 8 --increase-rate 8 \
    --run-time "${SECONDS_TO_RUN}s" --no-reset-metrics --quiet >"$WORK/goose.txt" 2>&1; then
  cat "$WORK/goose.txt" >&2
  echo "the load-test scenario failed against a local pier" >&2
  exit 1
fi
sed -n '/=== PER REQUEST METRICS ===/,/=== PER TRANSACTION/p' "$WORK/goose.txt" | sed -n '1,40p'
tail -1 "$WORK/goose.txt"
# The scenario must have exercised every kind of request it claims to.
for name in "POST /upload" "POST /predict" "POST /items" "GET /items/{id}" "PUT /items/{id}" \
    "DELETE /items/{id}" "GET /images" "GET /image/{id}/thumbn" "DELETE /image/{id}"; do
  grep -q "$name" "$WORK/goose.txt" || { echo "the scenario sent no $name" >&2; exit 1; }
done

echo "--- the same scenario without the token: its writes must be refused (and counted as failures)"
# Twelve users: one of each weighted kind at least (6 browse, 3 predict, 2 item lives,
# 1 upload), so every kind of request is sent.
if "$LOADTEST" --host "http://127.0.0.1:$PORT" --users 12 --increase-rate 12 --run-time 3s \
    --quiet >"$WORK/goose-unauthorised.txt" 2>&1; then
  echo "writes without a token succeeded against a pier that requires one" >&2
  exit 1
fi
# goose's status-code table, one row per request kind: "NAME | N [STATUS], M [STATUS]".
# Writes must have been answered 401 and nothing else; reads and predictions (which
# change nothing, so stay public) 200 and nothing else.
sed -n '/Status codes/,/Aggregated/p' "$WORK/goose-unauthorised.txt" | grep '|' | grep -v 'Status codes\|Aggregated' \
  >"$WORK/statuses.txt" || true
check_statuses() { # pattern expected what
  local rows
  rows=$(grep -E "^ *($1)" "$WORK/statuses.txt" || true)
  if [ -z "$rows" ]; then
    cat "$WORK/goose-unauthorised.txt" >&2; echo "no $3 were sent without the token" >&2; exit 1
  fi
  if echo "$rows" | sed 's/.*|//' | grep -o '\[[0-9]*\]' | grep -v "^\[$2\]$" >/dev/null; then
    echo "$rows" >&2; echo "$3 without the token were answered other than $2" >&2; exit 1
  fi
}
check_statuses 'POST /upload|POST /items|PUT /items|DELETE /items|DELETE /image' 401 writes
check_statuses 'GET |POST /predict' 200 "reads and predictions"
cat "$WORK/statuses.txt"
echo "without the token: every write answered 401, every read and prediction 200; the scenario exited non-zero as it should"
if grep -q '"level":"ERROR"' "$WORK/pier.log"; then
  grep '"level":"ERROR"' "$WORK/pier.log" | sed -n '1,20p' >&2
  echo "pier logged errors under the load test" >&2
  exit 1
fi
