#!/usr/bin/env bash
# Photos benchmark (issue 20), one release binary, everything in the same run:
#  1. what stripping metadata costs: POST /upload of a 256 KiB phone JPEG (camera EXIF
#     with GPS, ICC, XMP, a comment) with PIER_IMAGE_METADATA=keep and =strip-private,
#     ROUNDS rounds alternating (median of each, and their ratio; the target is >= 90 %);
#  2. first-view thumbnail latency of a 2-megapixel photo: made on demand
#     (PIER_MAKE_AHEAD_QUEUE=0) against made ahead (the default), median of COUNT images.
#
#   bench/photos.sh            # DURATION=5s per round, ROUNDS=3, COUNT=20
# Only 127.0.0.1 is contacted; every run is bounded by DURATION or COUNT.
set -Eeuo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
DURATION="${DURATION:-5s}"
ROUNDS="${ROUNDS:-3}"
COUNT="${COUNT:-20}"
CONNECTIONS="${CONNECTIONS:-16}"
WORK="$(mktemp -d -t pier-photos.XXXXXX)"
PIDS=()
VENV="${PIER_TEST_VENV:-$ROOT/target/test-venv}"
source "$ROOT/scripts/servers.sh"
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
export BENCH_DIR
ensure_debian_package wrk wrk
[ -x "$VENV/bin/python" ] || { echo "no Pillow venv at $VENV: run scripts/test.sh once (it makes it)" >&2; exit 1; }

echo "==> building the release binary"
(cd "$ROOT" && cargo build --release --locked --bin pier)
PIER="$ROOT/target/release/pier"

"$VENV/bin/python" "$ROOT/tests/metadata/phone.py" noise 262144 >"$WORK/phone.jpg"
"$VENV/bin/python" "$ROOT/tests/metadata/phone.py" noise 1500000 >"$WORK/big.jpg"
echo "upload file: $(stat -c %s "$WORK/phone.jpg") bytes; first-view file: $(stat -c %s "$WORK/big.jpg") bytes"

PORT=""
start() { # name env... ; sets PORT
  local name="$1"; shift
  PORT="$(free_port)"
  mkdir -p "$WORK/$name"
  (cd "$WORK/$name" && exec env PIER_ADDR="127.0.0.1:$PORT" "$@" "$PIER" >"$WORK/$name.log" 2>&1) & PIDS+=($!)
  wait_until 10 pier_answers "$PIER" "http://127.0.0.1:$PORT/health" || { echo "$name did not start" >&2; exit 1; }
}

rate() { # port -> requests/s
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$BENCH_DIR/wrk/upload.lua" "http://127.0.0.1:$1" \
    | awk '/^Requests\/sec/ {print $2}'
}

echo "==> uploads of a 256 KiB phone JPEG: keep vs strip-private, $ROUNDS rounds of $DURATION"
start keep PIER_IMAGE_METADATA=keep PIER_MAKE_AHEAD_QUEUE=0; KEEP=$PORT
start strip PIER_IMAGE_METADATA=strip-private PIER_MAKE_AHEAD_QUEUE=0; STRIP=$PORT
keep_rates=(); strip_rates=()
for round in $(seq "$ROUNDS"); do
  k=$(UPLOAD_FILE="$WORK/phone.jpg" rate "$KEEP"); s=$(UPLOAD_FILE="$WORK/phone.jpg" rate "$STRIP")
  echo "   round $round: keep $k req/s, strip-private $s req/s"
  keep_rates+=("$k"); strip_rates+=("$s")
done

echo "==> first view of a thumbnail: on demand vs made ahead, $COUNT images"
start demand PIER_MAKE_AHEAD_QUEUE=0; DEMAND=$PORT
start ahead; AHEAD=$PORT
on_demand=$(python3 "$BENCH_DIR/photos.py" first-view "$DEMAND" "$WORK/big.jpg" "$COUNT" on-demand)
ahead=$(python3 "$BENCH_DIR/photos.py" first-view "$AHEAD" "$WORK/big.jpg" "$COUNT" ahead)

python3 - "${keep_rates[*]}" "${strip_rates[*]}" "$on_demand" "$ahead" <<'PY'
import statistics, sys
keep = [float(x) for x in sys.argv[1].split()]
strip = [float(x) for x in sys.argv[2].split()]
on_demand, ahead = float(sys.argv[3]), float(sys.argv[4])
k, s = statistics.median(keep), statistics.median(strip)
print()
print("| measure | before | after | ratio |")
print("|---|---:|---:|---:|")
print(f"| POST /upload 256 KiB phone JPEG (req/s, median) | {k:,.0f} (keep) | {s:,.0f} (strip-private) | {s / k:.2f}x |")
print(f"| first view of a thumbnail (ms, median) | {on_demand:.1f} (on demand) | {ahead:.1f} (made ahead) | {on_demand / ahead:.0f}x faster |")
print()
print(f"stripping keeps {100 * s / k:.0f} % of upload throughput (target >= 90 %): {'met' if s >= 0.9 * k else 'MISSED'}")
PY
