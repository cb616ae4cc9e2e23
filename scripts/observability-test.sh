#!/usr/bin/env bash
# The live half of the observability checks (README test command, stage
# "observability"): Debian's prometheus on 127.0.0.1 scrapes two real pier processes
# every second with the shipped recording and alert rules — one healthy, one whose
# PostgreSQL is unreachable (so its /items answers 503 and its readiness fails) — while
# scripts/observability_check.py sends known traffic and asserts through Prometheus's
# HTTP API: targets up, request rate > 0, error ratios equal to what was sent, the
# readiness series, the alerts that must be pending (and none on the healthy one), and
# every Grafana panel query valid, non-empty and built only from series pier exports
# or the rules record.
# Usage: scripts/observability-test.sh (after cargo test built target/debug/pier)
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null  # scripts/servers.sh: free_port
source "$ROOT/scripts/servers.sh"
cd "$ROOT"
WORK="$(mktemp -d -t pier-obs.XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "observability-test: $*" >&2; exit 1; }
command -v prometheus >/dev/null || fail "prometheus is required: apt-get install prometheus (Debian's package)"
test -x target/debug/pier || cargo build --locked --bin pier

HEALTHY_PORT="$(free_port)"; DEGRADED_PORT="$(free_port)"; PROM_PORT="$(free_port)"; CLOSED_PORT="$(free_port)"
mkdir -p "$WORK/healthy" "$WORK/degraded" "$WORK/prometheus"
(cd "$WORK/healthy" && PIER_ADDR="127.0.0.1:$HEALTHY_PORT" RUST_LOG=warn exec "$ROOT/target/debug/pier" >log 2>&1) &
PIDS+=($!)
# Nothing listens on CLOSED_PORT: the degraded pier's database is down from the start.
(cd "$WORK/degraded" && PIER_ADDR="127.0.0.1:$DEGRADED_PORT" DATABASE_URL="postgres://pier@127.0.0.1:$CLOSED_PORT/pier" \
  RUST_LOG=error exec "$ROOT/target/debug/pier" >log 2>&1) &
PIDS+=($!)

cat > "$WORK/prometheus/prometheus.yml" <<CONFIG
# The shipped rules with a 1 s scrape and evaluation, for a test that lasts seconds.
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $ROOT/deploy/observability/rules/recording.yml
  - $ROOT/deploy/observability/rules/alerts.yml
scrape_configs:
  - job_name: pier
    static_configs:
      - targets: ["127.0.0.1:$HEALTHY_PORT"]
  - job_name: pier-degraded
    static_configs:
      - targets: ["127.0.0.1:$DEGRADED_PORT"]
CONFIG
# The recording group's own interval (30 s, right for production) would make the test
# wait; the copy evaluates every second.
sed 's/^    interval: 30s$/    interval: 1s/' deploy/observability/rules/recording.yml > "$WORK/prometheus/recording.yml"
sed -i "s|$ROOT/deploy/observability/rules/recording.yml|$WORK/prometheus/recording.yml|" "$WORK/prometheus/prometheus.yml"
promtool check config "$WORK/prometheus/prometheus.yml" >/dev/null
prometheus --config.file="$WORK/prometheus/prometheus.yml" --storage.tsdb.path="$WORK/prometheus/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus/log" 2>&1 &
PIDS+=($!)

if ! python3 scripts/observability_check.py "$PROM_PORT" "$HEALTHY_PORT" "$DEGRADED_PORT" \
    deploy/observability/grafana/dashboards/pier.json deploy/observability/rules/recording.yml; then
  echo "--- prometheus log" >&2; tail -20 "$WORK/prometheus/log" >&2
  echo "--- healthy pier log" >&2; tail -5 "$WORK/healthy/log" >&2
  fail "the live scrape checks failed (above)"
fi
