#!/usr/bin/env bash
# Photos benchmark (issue 20), one release binary, everything in the same run:
#  1. what stripping metadata costs: POST /upload of a 256 KiB phone JPEG (camera EXIF
#     with GPS, ICC, XMP, a comment) with PIER_IMAGE_METADATA=keep and =strip-private,
#     ROUNDS rounds, the order alternating (median of each, and their ratio; the target
#     is >= 90 %). Each run is a fresh pier whose data directory is on tmpfs
#     (/dev/shm), removed after it: on disk, uploads are bound by write-back (the first
#     run's gigabytes of dirty pages slowed the next run 3x), which hides what the CPU
#     spends; without the disk, stripping's share of an upload is as large as it gets;
#  2. first-view thumbnail latency of a 2-megapixel photo: made on demand
#     (PIER_MAKE_AHEAD_QUEUE=0) against made ahead (the default), median of COUNT images.
#
#   bench/photos.sh            # DURATION=3s per round, ROUNDS=5, COUNT=20
#   BASELINE_REF=9078b13 bench/photos.sh   # also the pier before stripping existed (built
#                              # in a worktree), in the same rounds
# Only 127.0.0.1 is contacted; every run is bounded by DURATION or COUNT.
set -Eeuo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
DURATION="${DURATION:-3s}"
ROUNDS="${ROUNDS:-5}"
COUNT="${COUNT:-20}"
CONNECTIONS="${CONNECTIONS:-16}"
WORK="$(mktemp -d -t pier-photos.XXXXXX)"
PIDS=()
VENV="${PIER_TEST_VENV:-$ROOT/target/test-venv}"
source "$ROOT/scripts/servers.sh"
SHM="$(mktemp -d -p /dev/shm pier-photos.XXXXXX)"
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK" "$SHM"; }
trap cleanup EXIT
export BENCH_DIR
ensure_debian_package wrk wrk
[ -x "$VENV/bin/python" ] || { echo "no Pillow venv at $VENV: run scripts/test.sh once (it makes it)" >&2; exit 1; }

echo "==> building the release binary"
(cd "$ROOT" && cargo build --release --locked --bin pier)
PIER="$ROOT/target/release/pier"
BASELINE=""
if [ -n "${BASELINE_REF:-}" ]; then
  BASELINE="$(cd "$ROOT" && build_baseline "$BASELINE_REF" "$WORK" | tail -n 1)"
fi

"$VENV/bin/python" "$ROOT/tests/metadata/phone.py" noise 262144 >"$WORK/phone.jpg"
"$VENV/bin/python" "$ROOT/tests/metadata/phone.py" noise 1500000 >"$WORK/big.jpg"
echo "upload file: $(stat -c %s "$WORK/phone.jpg") bytes; first-view file: $(stat -c %s "$WORK/big.jpg") bytes"

PORT=""; PID=""
BINARY="$PIER"
start() { # dir name env... ; sets PORT and PID (runs $BINARY)
  local dir="$1" name="$2"; shift 2
  PORT="$(free_port)"
  mkdir -p "$dir/$name"
  (cd "$dir/$name" && exec env PIER_ADDR="127.0.0.1:$PORT" "$@" "$BINARY" >"$WORK/$name.log" 2>&1) & PID=$!; PIDS+=("$PID")
  wait_until 10 pier_answers "$PIER" "http://127.0.0.1:$PORT/health" || { echo "$name did not start" >&2; exit 1; }
}
stop() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }

distinct_rate() { # policy|before [binary] -> the same, every upload's bytes distinct
  DISTINCT=1 upload_rate "$@"
}

upload_rate() { # policy|before [binary] -> req/s of a fresh pier on tmpfs
  BINARY="${2:-$PIER}"
  # The baseline runs with its own default policy (before the policy existed: none).
  local policy=(PIER_IMAGE_METADATA="$1")
  [ "$1" != before ] || policy=()
  start "$SHM" "$1" "${policy[@]}" PIER_MAKE_AHEAD_QUEUE=0
  UPLOAD_FILE="$WORK/phone.jpg" rate "$PORT"
  stop
  rm -rf "${SHM:?}/$1"
}

rate() { # port -> requests/s (DISTINCT=1: every upload's bytes differ)
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$BENCH_DIR/wrk/upload.lua" "http://127.0.0.1:$1" \
    | awk '/^Requests\/sec/ {print $2}'
}

echo "==> uploads of a 256 KiB phone JPEG: keep vs strip-private, $ROUNDS rounds of $DURATION"
keep_rates=(); strip_rates=(); before_rates=(); distinct_rates=(); distinct_before_rates=()
for round in $(seq "$ROUNDS"); do
  b=""; db=""
  if [ $((round % 2)) = 1 ]; then
    [ -z "$BASELINE" ] || { b=$(upload_rate before "$BASELINE"); db=$(distinct_rate before "$BASELINE"); }
    k=$(upload_rate keep); s=$(upload_rate strip-private); d=$(distinct_rate strip-private)
  else
    d=$(distinct_rate strip-private); s=$(upload_rate strip-private); k=$(upload_rate keep)
    [ -z "$BASELINE" ] || { db=$(distinct_rate before "$BASELINE"); b=$(upload_rate before "$BASELINE"); }
  fi
  echo "   round $round: keep $k req/s, strip-private $s req/s, distinct bytes $d req/s${b:+, before ($BASELINE_REF) $b req/s, distinct $db req/s}"
  keep_rates+=("$k"); strip_rates+=("$s"); before_rates+=("${b:-0}")
  distinct_rates+=("$d"); distinct_before_rates+=("${db:-0}")
done

echo "==> first view of a thumbnail: on demand vs made ahead, $COUNT images"
start "$WORK" demand PIER_MAKE_AHEAD_QUEUE=0; DEMAND=$PORT
start "$WORK" ahead; AHEAD=$PORT
on_demand=$(python3 "$BENCH_DIR/photos.py" first-view "$DEMAND" "$WORK/big.jpg" "$COUNT" on-demand)
ahead=$(python3 "$BENCH_DIR/photos.py" first-view "$AHEAD" "$WORK/big.jpg" "$COUNT" ahead)

python3 - "${keep_rates[*]}" "${strip_rates[*]}" "$on_demand" "$ahead" "${before_rates[*]}" "${BASELINE_REF:-}" \
  "${distinct_rates[*]}" "${distinct_before_rates[*]}" <<'PY'
import statistics, sys
keep = [float(x) for x in sys.argv[1].split()]
strip = [float(x) for x in sys.argv[2].split()]
on_demand, ahead = float(sys.argv[3]), float(sys.argv[4])
before = [float(x) for x in sys.argv[5].split()]
distinct = [float(x) for x in sys.argv[7].split()]
distinct_before = [float(x) for x in sys.argv[8].split()]
k, s, b = statistics.median(keep), statistics.median(strip), statistics.median(before)
d, db = statistics.median(distinct), statistics.median(distinct_before)
print()
print("| measure | before | after | ratio |")
print("|---|---:|---:|---:|")
if b:
    print(f"| POST /upload 256 KiB phone JPEG, the same bytes each time (req/s, median) | {b:,.0f} ({sys.argv[6]}, its default policy) | {s:,.0f} (strip-private) | {s / b:.2f}x |")
    print(f"| POST /upload 256 KiB phone JPEG, distinct bytes each time (req/s, median) | {db:,.0f} ({sys.argv[6]}, its default policy) | {d:,.0f} (strip-private) | {d / db:.2f}x |")
print(f"| POST /upload 256 KiB phone JPEG (req/s, median) | {k:,.0f} (keep) | {s:,.0f} (strip-private) | {s / k:.2f}x |")
print(f"| first view of a thumbnail (ms, median) | {on_demand:.1f} (on demand) | {ahead:.1f} (made ahead) | {on_demand / ahead:.0f}x faster |")
print()
reference = b or k
print(f"strip-private keeps {100 * s / reference:.0f} % of the upload throughput of {'the baseline' if b else 'keep'} (target >= 90 %): {'met' if s >= 0.9 * reference else 'MISSED'}")
PY
