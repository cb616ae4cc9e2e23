#!/usr/bin/env bash
# The Compose file: validated with `docker-compose config`, then its pier service run
# (image pier:test from scripts/container-test.sh) against the shared PostgreSQL and
# moto servers (PIER_TEST_POSTGRES_URL, PIER_TEST_AWS_ENDPOINT), checked healthy and
# smoke-tested through its port, and removed.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null  # scripts/servers.sh: wait_until, ensure_debian_package
source "$ROOT/scripts/servers.sh"
cd "$ROOT/deploy/compose"
ensure_debian_package docker-compose docker-compose
PROJECT=piercomposetest
WORK="$(mktemp -d -t pier-compose.XXXXXX)"
# The file with the test override applied, resolved by docker-compose itself; host
# networking cannot be combined with published ports, so the resolved file drops them.
compose() { docker-compose -p "$PROJECT" -f "$WORK/resolved.yml" "$@"; }
cleanup() { [ -f "$WORK/resolved.yml" ] && compose down -v --remove-orphans >/dev/null 2>&1; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "FAILED: $*" >&2; compose logs --tail 20 pier >&2 || true; exit 1; }

echo "--- docker-compose config (the file users run)"
docker-compose -f docker-compose.yml config -q
echo "   ok: deploy/compose/docker-compose.yml is valid"

PGOPTIONS="-c client_min_messages=warning" psql "$PIER_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS compose" -c "CREATE DATABASE compose" >/dev/null
curl -sf -X PUT "$PIER_TEST_AWS_ENDPOINT/compose-test" >/dev/null
export PIER_TEST_DATABASE_URL="${PIER_TEST_POSTGRES_URL%/postgres}/compose"
export PIER_TEST_PORT
PIER_TEST_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
docker-compose -f docker-compose.yml -f test.override.yml config >"$WORK/config.yml"
/usr/bin/python3 - "$WORK/config.yml" "$WORK/resolved.yml" <<'PY'
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
config["services"]["pier"].pop("ports", None)
yaml.safe_dump(config, open(sys.argv[2], "w"))
PY
echo "--- its pier service on PostgreSQL + S3 (moto)"
compose up -d --no-deps --no-build pier
CONTAINER=$(compose ps -q pier)
healthy() { STATUS=$(docker inspect -f '{{.State.Health.Status}}' "$CONTAINER"); [ "$STATUS" = healthy ]; }
wait_until 20 healthy || fail "the Compose pier service is $STATUS after 20 s"
echo "   ok: healthy"
[ "$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$CONTAINER")" = true ] || fail "the root filesystem is not read-only"
python3 "$ROOT/scripts/container_smoke.py" smoke "$PIER_TEST_PORT"
READY=$(curl -sf "http://127.0.0.1:$PIER_TEST_PORT/health/ready")
echo "$READY" | grep '"status":"ready"' >/dev/null || fail "not ready on PostgreSQL + S3: $READY"
echo "compose test passed"
