#!/usr/bin/env bash
# deploy/swarm/stack.yml on a single-node swarm of the test command's Docker engine
# (DOCKER_HOST set, image pier:test built by scripts/container-test.sh), with state in
# the shared PostgreSQL and moto (PIER_TEST_POSTGRES_URL, PIER_TEST_AWS_ENDPOINT):
# 3 healthy replicas; an upload through one replica read through the others; a killed
# task replaced under load; a rolling update under load with 0 failed requests. The
# routing mesh needs IPVS, which this kernel lacks, so the test stack uses
# `endpoint_mode: dnsrr`. The load is a client on the stack's overlay network: it finds
# the tasks through Swarm's DNS (`pier`), keeps its connections alive, and mixes reads
# with writes (scripts/swarm_load.py, run in a helper container's network namespace).
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null  # scripts/servers.sh: free_port
source "$ROOT/scripts/servers.sh"
cd "$ROOT"
WORK="$(mktemp -d -t pier-swarm.XXXXXX)"
SERVICE=pier_pier
RELAY_PID=""
no_task_left() { [ -z "$(docker ps -q --filter "label=com.docker.swarm.service.name=$SERVICE")" ]; }
cleanup() {
  docker rm -f pier-client >/dev/null 2>&1 || true
  docker stack rm pier >/dev/null 2>&1 || true
  wait_until 10 no_task_left || true
  # A local volume keeps the bind device it was created with: the next stack on this
  # engine (the other swarm test) must not inherit this run's spool directory.
  wait_until 5 docker volume rm pier_pier-spool || true
  wait_until 5 docker volume rm pier_prometheus-data pier_grafana-data || true
  docker swarm leave --force >/dev/null 2>&1 || true
  docker network rm docker_gwbridge >/dev/null 2>&1 || true
  [ -n "$RELAY_PID" ] && kill "$RELAY_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAILED: $*" >&2; docker service ps --no-trunc "$SERVICE" 2>&1 | sed -n '1,20p' >&2 || true; exit 1; }

echo "--- single-node swarm on 127.0.0.1"
# The bridge that swarm tasks use for traffic leaving the overlay; made now (docker
# would make it with the first task) so its gateway address is known before the deploy.
docker network inspect docker_gwbridge >/dev/null 2>&1 || docker network create \
  -o com.docker.network.bridge.name=docker_gwbridge \
  -o com.docker.network.bridge.enable_icc=false \
  -o com.docker.network.bridge.enable_ip_masquerade=true docker_gwbridge >/dev/null
docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >/dev/null
GATEWAY=$(docker network inspect docker_gwbridge -f '{{(index .IPAM.Config 0).Gateway}}')
PG_PORT=${PIER_TEST_POSTGRES_URL##*:}; PG_PORT=${PG_PORT%%/*}
MOTO_PORT=${PIER_TEST_AWS_ENDPOINT##*:}
PG_RELAY=$(free_port); MOTO_RELAY=$(free_port)
python3 "$ROOT/scripts/tcp_relay.py" "$GATEWAY" "$PG_RELAY:$PG_PORT" "$MOTO_RELAY:$MOTO_PORT" >"$WORK/relay.log" 2>&1 &
RELAY_PID=$!
wait_until 5 grep -q relaying "$WORK/relay.log" || fail "the TCP relay to PostgreSQL and moto did not start"
PGOPTIONS="-c client_min_messages=warning" psql "$PIER_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS swarm" -c "CREATE DATABASE swarm" >/dev/null
curl -sf -X PUT "$PIER_TEST_AWS_ENDPOINT/swarm-test" >/dev/null
# Writes need one of these (the stack reads them as PIER_API_TOKENS from the secret file).
printf 'swarm-token-one-0123456789\nswarm-token-two-0123456789\n' | docker secret create pier_api_tokens - >/dev/null
printf 'swarm-grafana-0123456789\n' | docker secret create grafana_admin_password - >/dev/null

echo "--- the stack's Prometheus image, from Debian's prometheus (no registry to pull prom/prometheus from)"
ensure_debian_package prometheus prometheus || fail "prometheus is required to build the stack's Prometheus image"
IMAGE_DIR="$WORK/prometheus-image"
mkdir -p "$IMAGE_DIR/rootfs/bin" "$IMAGE_DIR/rootfs/prometheus"
cp "$(command -v prometheus)" "$IMAGE_DIR/rootfs/bin/prometheus"
# The binary's C library and loader (Debian builds it against glibc), nothing else.
for lib in $(ldd "$(command -v prometheus)" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
  mkdir -p "$IMAGE_DIR/rootfs$(dirname "$lib")" && cp -L "$lib" "$IMAGE_DIR/rootfs$lib"
done
# /prometheus belongs to nobody, as in prom/prometheus (a new volume takes that owner);
# ADD of a tar keeps owners, COPY would not.
chown 65534:65534 "$IMAGE_DIR/rootfs/prometheus"
tar -C "$IMAGE_DIR/rootfs" --numeric-owner -cf "$IMAGE_DIR/rootfs.tar" .
printf 'FROM scratch\nADD rootfs.tar /\nUSER 65534:65534\nENTRYPOINT ["/bin/prometheus"]\n' >"$IMAGE_DIR/Dockerfile"
docker build -q -t pier-prometheus:test "$IMAGE_DIR" >/dev/null

echo "--- deploy: the user's stack file, with the test's image, dnsrr and quicker checks"
export PIER_IMAGE=pier:test
export DATABASE_URL="postgres://postgres@$GATEWAY:$PG_RELAY/swarm"
export PIER_STORAGE=s3://swarm-test/gallery
# The spool every replica shares (on AWS: EFS mounted at the same path on every node).
export PIER_SPOOL_DIR="$WORK/spool"
mkdir -p "$PIER_SPOOL_DIR" && chown 10001:10001 "$PIER_SPOOL_DIR"
export AWS_ENDPOINT_URL="http://$GATEWAY:$MOTO_RELAY" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export PROMETHEUS_IMAGE=pier-prometheus:test
docker stack config -c deploy/swarm/stack.yml >"$WORK/config.yml"
/usr/bin/python3 - "$WORK/config.yml" "$WORK/stack.yml" <<'PY'
import os, sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
for service in config["services"].values():
    service.pop("ports", None)                # ingress publishing needs IPVS
# Grafana: no image on this engine and no Grafana binary to build one from, so the
# service is deployed at 0 replicas; what it would load is checked here instead: the
# same provisioning and dashboard files the Compose stack mounts (the observability
# stage verifies that dashboard's every query), its data source the stack's Prometheus.
grafana = config["services"]["grafana"]
grafana["deploy"]["replicas"] = 0
files = {c["target"]: os.path.relpath(config["configs"][c["source"]]["file"]) for c in grafana["configs"]}
assert files == {
    "/etc/grafana/provisioning/datasources/prometheus.yml": "deploy/observability/grafana/provisioning/datasources/prometheus.yml",
    "/etc/grafana/provisioning/dashboards/pier.yml": "deploy/observability/grafana/provisioning/dashboards/pier.yml",
    "/var/lib/grafana/dashboards/pier.json": "deploy/observability/grafana/dashboards/pier.json",
}, files
source = yaml.safe_load(open(files["/etc/grafana/provisioning/datasources/prometheus.yml"]))["datasources"][0]
assert source["url"] == "http://prometheus:9090" and "prometheus" in config["services"], source
provider = yaml.safe_load(open(files["/etc/grafana/provisioning/dashboards/pier.yml"]))["providers"][0]
assert provider["options"]["path"] == "/var/lib/grafana/dashboards", provider
assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
assert [s["source"] for s in grafana["secrets"]] == ["grafana_admin_password"], grafana["secrets"]
print("   grafana: 0 replicas here (no image); its provisioning is the Compose stack's files, its data source the stack's Prometheus")
pier = config["services"]["pier"]
pier["deploy"]["endpoint_mode"] = "dnsrr"
pier["deploy"]["update_config"]["monitor"] = "3s"
pier["deploy"]["update_config"]["delay"] = "1s"
pier["healthcheck"]["interval"] = "1s"
pier["healthcheck"]["start_period"] = "1s"
pier["environment"]["PIER_DRAIN_DELAY"] = "3s"
# The load's client container joins the stack's network.
config.setdefault("networks", {})["default"] = {"driver": "overlay", "attachable": True}
yaml.safe_dump(config, open(sys.argv[2], "w"))
PY
docker stack deploy -c "$WORK/stack.yml" pier >/dev/null

# Each running task's address on docker_gwbridge (the host's way in, without the mesh).
DISCOVER="python3 $ROOT/scripts/swarm_tasks.py $SERVICE"
healthy_count() { docker ps --filter "label=com.docker.swarm.service.name=$SERVICE" --format '{{.Status}}' | grep -c '(healthy)' || true; }
at_least_healthy() { [ "$(healthy_count)" -ge "$1" ]; }
wait_healthy() { # count timeout_s
  wait_until "$2" at_least_healthy "$1" || fail "$(healthy_count) healthy replicas after $2 s, expected $1"
}
wait_healthy 3 90
mapfile -t TASKS < <($DISCOVER | grep .)
[ "${#TASKS[@]}" -eq 3 ] || fail "expected 3 task addresses, found: ${TASKS[*]}"
echo "   ok: 3 replicas healthy at ${TASKS[*]}"
# One spool for the stack: each replica keeps its own directory (and lease) in it.
SPOOL_REPLICAS=$(find "$PIER_SPOOL_DIR/replicas" -mindepth 2 -maxdepth 2 -name lease | wc -l)
[ "$SPOOL_REPLICAS" -eq 3 ] || fail "expected 3 replica directories with a lease in the shared spool, found $SPOOL_REPLICAS"
echo "   ok: the 3 replicas share one spool ($PIER_SPOOL_DIR/replicas: $SPOOL_REPLICAS leases)"

echo "--- the stack's Prometheus finds and scrapes every task (dns_sd_configs on tasks.pier, the kit's rules)"
prometheus_task() { PROMETHEUS=$(python3 "$ROOT/scripts/swarm_tasks.py" pier_prometheus | sed -n 1p); [ -n "$PROMETHEUS" ]; }
wait_until 30 prometheus_task || fail "the stack's prometheus service has no running task"
/usr/bin/python3 "$ROOT/scripts/swarm_monitoring_check.py" "$PROMETHEUS" 3 || {
  docker service ps --no-trunc pier_prometheus >&2 || true
  docker service logs --tail 30 pier_prometheus >&2 2>&1 || true
  fail "the stack's Prometheus does not scrape the stack's pier tasks"
}

echo "--- any replica serves any image (state in PostgreSQL + S3)"
python3 - "${TASKS[@]}" <<'PY'
import hashlib, json, sys, urllib.error, urllib.request
sys.path.insert(0, "scripts")
from container_smoke import multipart, png
first, *others = sys.argv[1:]
image = png(50, 40, 11)
body, content_type = multipart("swarm.png", image)
token = {"Authorization": "Bearer swarm-token-two-0123456789"}
request = urllib.request.Request(f"http://{first}:8000/upload", data=body, method="POST", headers={"Content-Type": content_type, **token})
stored = json.load(urllib.request.urlopen(request, timeout=10))["images"][0]
assert stored["location"] == "s3", stored
for other in others:
    fetched = urllib.request.urlopen(f"http://{other}:8000{stored['url']}", timeout=10).read()
    assert hashlib.sha256(fetched).digest() == hashlib.sha256(image).digest(), other
refused = urllib.request.Request(f"http://{first}:8000/items", data=b'{"name":"swarm"}', method="POST", headers={"Content-Type": "application/json"})
try:
    urllib.request.urlopen(refused, timeout=10)
    raise AssertionError("a write without a token was accepted")
except urllib.error.HTTPError as error:
    assert error.code == 401, error.code
item = urllib.request.Request(f"http://{first}:8000/items", data=b'{"name":"swarm"}', method="POST", headers={"Content-Type": "application/json", **token})
created = json.load(urllib.request.urlopen(item, timeout=10))
open("target/docker/swarm-paths", "w").write(f"/items/{created['id']}\n{stored['url']}\n/health\n")
print(f"   ok: uploaded through {first} with a token from the Swarm secret (401 without), read back through {', '.join(others)}")
PY
mapfile -t PATHS <target/docker/swarm-paths

# A client on the overlay network: a container of the same image (it only lends its
# network namespace, where Swarm's DNS answers on 127.0.0.11) that the load runs in.
docker run -d --name pier-client --network pier_default pier:test >/dev/null
CLIENT_PID=$(docker inspect -f '{{.State.Pid}}' pier-client)
[ "$CLIENT_PID" -gt 0 ] || fail "the client container did not start"
load() { # seconds stop_file
  PIER_TOKEN=swarm-token-two-0123456789 STOP_FILE="$2" \
    nsenter -t "$CLIENT_PID" -n /usr/bin/python3 "$ROOT/scripts/swarm_load.py" "$1" pier "${PATHS[0]}" "${PATHS[1]}"
}

echo "--- a killed task is replaced (under load)"
load 60 "$WORK/stop-kill" >"$WORK/kill-load.out" &
LOAD=$!
sleep 2
VICTIM=$(docker ps -q --filter "label=com.docker.swarm.service.name=$SERVICE" | sed -n 1p)
docker kill "$VICTIM" >/dev/null
replaced() { at_least_healthy 3 && ! docker ps -q --filter "label=com.docker.swarm.service.name=$SERVICE" | grep "^$VICTIM" >/dev/null; }
wait_until 60 replaced || fail "the killed task was not replaced within 60 s ($(healthy_count) healthy)"
touch "$WORK/stop-kill"; wait "$LOAD"
echo "   ok: Swarm replaced the killed task; load meanwhile: $(head -1 "$WORK/kill-load.out")"

echo "--- rolling update under load: start-first, health-gated, 0 failed requests"
docker tag pier:test pier:test-v2
load 120 "$WORK/stop-update" >"$WORK/update-load.out" &
LOAD=$!
sleep 2
STARTED=$(date +%s)
docker service update --quiet --detach=false --image pier:test-v2 --env-add PIER_RELEASE=2 "$SERVICE" >/dev/null
sleep 2
touch "$WORK/stop-update"; wait "$LOAD"
RESULT=$(head -1 "$WORK/update-load.out")
echo "rolling update: $RESULT ($(($(date +%s) - STARTED)) s)"
cat "$WORK/update-load.out" | tail -n +2
[ "$(docker service inspect -f '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$SERVICE")" = pier:test-v2 ] || fail "the service does not run the new image"
[ "$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$SERVICE")" = completed ] || fail "the update did not complete"
REQUESTS=$(echo "$RESULT" | sed -n 's/requests=\([0-9]*\).*/\1/p')
FAILED=$(echo "$RESULT" | sed -n 's/.*failed=\([0-9]*\).*/\1/p')
[ -n "$REQUESTS" ] && [ "$REQUESTS" -gt 100 ] || fail "too little load during the update ($RESULT)"
[ "$FAILED" = 0 ] || fail "$FAILED requests (or 100 ms intervals without a task in DNS) failed during the rolling update"
echo "swarm test passed (rolling update: $REQUESTS requests, 0 failed)"
