#!/usr/bin/env bash
# Soak: a bounded mixed load (gallery reads, uploads, item writes, predictions — the
# goose scenario of bench/loadtest.rs) against a release build of pier on its embedded
# defaults, for SOAK_MINUTES (10 by default). Not part of the test command (too long).
#
#   bench/soak.sh                    # 10 minutes, 64 users
#   SOAK_MINUTES=2 SOAK_USERS=32 bench/soak.sh
#
# Every SAMPLE_SECONDS it records pier's RSS and the requests it answered (from its own
# /metrics), and at the end prints a Markdown table of throughput and RSS over time.
# It fails when any request failed or got an unexpected status, when pier logged an
# error, or when RSS kept growing: the mean RSS of the last quarter of the run may not
# exceed that of the second quarter (after warm-up: caches, pools, allocator arenas) by
# more than RSS_GROWTH_PERCENT (10 by default). Only 127.0.0.1 is contacted.
set -Eeuo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
# shellcheck source=/dev/null  # scripts/servers.sh: free_port
source "$ROOT/scripts/servers.sh"
MINUTES="${SOAK_MINUTES:-10}"
USERS="${SOAK_USERS:-64}"
SAMPLE_SECONDS="${SAMPLE_SECONDS:-30}"
RSS_GROWTH_PERCENT="${RSS_GROWTH_PERCENT:-10}"
WORK="$(mktemp -d -t pier-soak.XXXXXX)"
PIER_PID=""
SAMPLER_PID=""
cleanup() {
  for pid in "$SAMPLER_PID" "$PIER_PID"; do
    [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "==> building release binaries (pier, the goose scenario)"
(cd "$ROOT" && cargo build --release --locked --bin pier --example loadtest)
PIER="$ROOT/target/release/pier"
LOADTEST="$ROOT/target/release/examples/loadtest"

PORT="$(free_port)"
mkdir -p "$WORK/data"
(cd "$WORK/data" && PIER_ADDR="127.0.0.1:$PORT" RUST_LOG=warn exec "$PIER" >"$WORK/pier.log" 2>&1) &
PIER_PID=$!
wait_until 10 pier_answers "$PIER" "http://127.0.0.1:$PORT/health"
"$PIER" healthcheck --url "http://127.0.0.1:$PORT/health"

# One line per sample: seconds since start, RSS in KiB, requests answered so far.
sample() {
  local started=$SECONDS
  while kill -0 "$PIER_PID" 2>/dev/null; do
    local rss requests
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$PIER_PID/status")
    requests=$(curl -sf "http://127.0.0.1:$PORT/metrics" \
      | awk '/^http_requests_total\{/ {s += $NF} END {printf "%d", s}')
    echo "$((SECONDS - started)) $rss $requests" >>"$WORK/samples"
    sleep "$SAMPLE_SECONDS"
  done
}
sample &
SAMPLER_PID=$!

echo "==> soak: $USERS users for $MINUTES min against 127.0.0.1:$PORT (pier pid $PIER_PID)"
STATUS=0
"$LOADTEST" --host "http://127.0.0.1:$PORT" --users "$USERS" --increase-rate "$USERS" \
  --run-time "${MINUTES}m" --no-reset-metrics --quiet >"$WORK/goose.txt" 2>&1 || STATUS=$?
sleep 1
kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=""
PEAK=$(awk '/VmHWM/ {print $2}' "/proc/$PIER_PID/status")

# goose's own tables: per-request counts, latency percentiles, status codes, errors.
sed -n '/=== PER REQUEST METRICS ===/,$p' "$WORK/goose.txt" | sed -n '1,120p'
tail -3 "$WORK/goose.txt"

python3 - "$WORK/samples" "$PEAK" "$RSS_GROWTH_PERCENT" <<'PY'
import sys
rows = [tuple(int(x) for x in line.split()) for line in open(sys.argv[1]) if len(line.split()) == 3]
peak, limit = int(sys.argv[2]), float(sys.argv[3])
print("\n| time | req/s in the interval | RSS (MiB) |\n|---|---|---|")
for (t0, _, n0), (t1, rss, n1) in zip(rows, rows[1:]):
    rate = (n1 - n0) / max(t1 - t0, 1)
    print(f"| {t1 // 60}:{t1 % 60:02d} | {rate:,.0f} | {rss / 1024:.1f} |")
total = (rows[-1][2] - rows[0][2]) / max(rows[-1][0] - rows[0][0], 1)
n = len(rows)
q2 = [r[1] for r in rows[n // 4: n // 2]] or [rows[0][1]]
q4 = [r[1] for r in rows[3 * n // 4:]] or [rows[-1][1]]
m2, m4 = sum(q2) / len(q2), sum(q4) / len(q4)
growth = (m4 - m2) / m2 * 100
print(f"\nmean throughput {total:,.0f} req/s; RSS at start {rows[0][1] / 1024:.1f} MiB, "
      f"at end {rows[-1][1] / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB; "
      f"last quarter vs second quarter: {growth:+.1f}% (limit +{limit:.0f}%)")
if growth > limit:
    print("RSS kept growing: a leak, or a cache without a bound", file=sys.stderr)
    sys.exit(1)
PY

if grep -q '"level":"ERROR"' "$WORK/pier.log"; then
  echo "pier logged errors during the soak:" >&2
  grep '"level":"ERROR"' "$WORK/pier.log" | sed -n '1,20p' >&2
  exit 1
fi
if [ "$STATUS" -ne 0 ]; then
  echo "the load test reported failed requests (exit $STATUS); goose's error table is above" >&2
  exit 1
fi
echo "soak passed: 0 failed requests, RSS levelled off"
