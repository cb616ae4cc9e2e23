#!/usr/bin/env bash
# Container tests on a real Docker engine (started by the caller; DOCKER_HOST set):
# builds the image's `prebuilt` target from a static binary built here, then checks
# size, non-root user, health, the API through a 127.0.0.1 port, graceful `docker stop`
# with an in-flight request, and a read-only root filesystem with a data volume.
#
#   scripts/container-test.sh    (scripts/test.sh runs it with its own engine)
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null  # scripts/servers.sh: free_port
source "$ROOT/scripts/servers.sh"
cd "$ROOT"
IMAGE="pier:test"
BUDGET_BYTES=$((20 * 1000 * 1000))
SMOKE="python3 $ROOT/scripts/container_smoke.py"
NAME="pier-container-test"
VOLUME="pier-container-test-data"
export DOCKER_BUILDKIT=0 # the classic builder: builds only the stages the target needs

fail() { echo "FAILED: $*" >&2; docker logs "$NAME" 2>&1 | tail -20 >&2 || true; exit 1; }
cleanup() { docker rm -f "$NAME" >/dev/null 2>&1 || true; docker volume rm -f "$VOLUME" >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "--- static binary (x86_64-unknown-linux-musl, release)"
scripts/static-toolchain.sh
scripts/build-static.sh
ensure_debian_package /etc/ssl/certs/ca-certificates.crt ca-certificates
cp /etc/ssl/certs/ca-certificates.crt target/docker/ca-certificates.crt
if readelf -l target/docker/pier | grep "program interpreter" >/dev/null; then fail "the binary is dynamically linked"; fi

echo "--- image (deploy/docker/Dockerfile, target prebuilt)"
docker build --quiet -f deploy/docker/Dockerfile --target prebuilt -t "$IMAGE" . >/dev/null
SIZE=$(docker image inspect -f '{{.Size}}' "$IMAGE")
echo "image size: $SIZE bytes ($(python3 -c "print(f'{$SIZE/1e6:.1f}')") MB; budget 20 MB)"
[ "$SIZE" -le "$BUDGET_BYTES" ] || fail "the image is larger than 20 MB"
[ "$(docker image inspect -f '{{.Config.User}}' "$IMAGE")" = "10001:10001" ] || fail "the image does not run as user 10001"

echo "--- run: read-only root filesystem, data on a volume, port on 127.0.0.1"
PORT=$(free_port)
docker volume create "$VOLUME" >/dev/null
healthy_or_exited() {
  STATUS=$(docker inspect -f '{{.State.Health.Status}}' "$NAME")
  [ "$STATUS" = healthy ] || [ "$(docker inspect -f '{{.State.Running}}' "$NAME")" != true ]
}
start() {
  docker run -d --name "$NAME" --read-only -v "$VOLUME:/data" -p "127.0.0.1:$PORT:8000" \
    -e PIER_SHUTDOWN_TIMEOUT=5s "$IMAGE" >/dev/null
  wait_until 20 healthy_or_exited || fail "health is $STATUS after 20 s"
  [ "$STATUS" = healthy ] || fail "the container exited"
  echo "   ok: docker health is healthy"
}
start
UIDS=$(docker top "$NAME" -eo pid,uid | tail -n +2 | awk '{print $2}' | sort -u)
[ "$UIDS" = 10001 ] || fail "processes run as uid(s) $UIDS, not 10001"
echo "   ok: runs as uid 10001"
$SMOKE smoke "$PORT"

echo "--- graceful stop: an in-flight upload completes, the stop takes < 2 s"
$SMOKE slow-upload "$PORT" 1.0 >"$ROOT/target/docker/slow-upload.out" &
UPLOAD=$!
wait_until 10 grep -q started "$ROOT/target/docker/slow-upload.out" || fail "the slow upload did not start"
sleep 0.2
STARTED=$(date +%s%N)
docker stop -t 10 "$NAME" >/dev/null
STOP_MS=$(( ($(date +%s%N) - STARTED) / 1000000 ))
wait "$UPLOAD"
ANSWER=$(tail -1 "$ROOT/target/docker/slow-upload.out")
echo "docker stop took $STOP_MS ms; the in-flight upload got $ANSWER"
[ "$ANSWER" = 201 ] || fail "the in-flight upload was not completed (got $ANSWER)"
[ "$STOP_MS" -lt 2000 ] || fail "docker stop took $STOP_MS ms (limit 2000)"
[ "$(docker inspect -f '{{.State.ExitCode}}' "$NAME")" = 0 ] || fail "pier exited with $(docker inspect -f '{{.State.ExitCode}}' "$NAME")"

echo "--- the data volume keeps everything across containers"
docker rm "$NAME" >/dev/null
start
COUNT=$($SMOKE count-images "$PORT")
[ "$COUNT" = 2 ] || fail "expected the 2 uploaded images after a restart, found $COUNT"
echo "   ok: both images are there after a new container started on the volume"
echo "container tests passed (image $SIZE bytes, stop $STOP_MS ms)"
