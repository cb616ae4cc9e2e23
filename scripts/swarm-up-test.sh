#!/usr/bin/env bash
# The swarm manager's step (deploy/terraform/aws-swarm/templates/swarm-up.sh.tftpl),
# rendered by Terraform and run for real on the test command's private Docker engine
# (DOCKER_HOST) against moto (PIER_TEST_AWS_ENDPOINT, for SSM Parameter Store and Secrets
# Manager), as the manager runs it at boot and before every release. It must be safe to
# run again: the second run neither re-initialises the swarm nor redeploys, duplicates
# or restarts the service; a changed setting redeploys the stack; and a release made
# with `docker service update --image` is never undone by it. (The OS set-up of the
# manager's user data — package installs, units — stays outside: it is shellchecked.)
# Needs: the image pier:test (scripts/container-test.sh), the aws CLI (AWS_CLI or the
# one on PATH), terraform (to render the template).
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null  # scripts/servers.sh: wait_until, ensure_debian_package
source "$ROOT/scripts/servers.sh"
: "${PIER_TEST_AWS_ENDPOINT:?the URL of moto (scripts/test.sh starts it)}"
AWS_CLI="${AWS_CLI:-aws}"
WORK="$(mktemp -d -t pier-swarm-up.XXXXXX)"
# Names of this run's own (the moto server is shared with other stages).
P="swarm-up-$$"
no_task_left() { [ -z "$(docker ps -q --filter label=com.docker.stack.namespace=pier)" ]; }
cleanup() {
  docker stack rm pier >/dev/null 2>&1 || true
  wait_until 10 no_task_left || true
  # A local volume keeps the bind device it was created with: the next stack on this
  # engine (the other swarm test) must not inherit this run's spool directory.
  wait_until 5 docker volume rm pier_pier-spool || true
  docker volume rm pier_prometheus-data pier_grafana-data >/dev/null 2>&1 || true
  docker swarm leave --force >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "swarm-up-test: $*" >&2; exit 1; }
export AWS_ENDPOINT_URL="$PIER_TEST_AWS_ENDPOINT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
AWS_BIN="$(dirname "$(command -v "$AWS_CLI")")"
export PATH="$AWS_BIN:$PATH"

echo "--- render the swarm step with test values (a local image, no ECR, the manager not reserved)"
render() { # storage
  "$ROOT/scripts/render-user-data.sh" "$WORK/rendered" registry=pier reserve_manager=false \
    tokens_secret=$P/api-tokens db_secret=$P/db db_address=127.0.0.1 \
    image_tag_param=/$P/image-tag join_token_param=/$P/join-token \
    manager_addr_param=/$P/manager-address spool_dir="$WORK/spool" storage="$1" \
    kit_path=/$P/swarm-kit grafana_secret=$P/grafana-admin >/dev/null
}
mkdir -p "$WORK/spool" && chown 10001:10001 "$WORK/spool" # on AWS: the EFS mount
docker volume rm pier_pier-spool >/dev/null 2>&1 || true # one left bound elsewhere
render s3://swarm-up-test
aws secretsmanager create-secret --name $P/api-tokens --secret-string "swarm-up-token-0123456789,second-token-0123456789" >/dev/null
aws secretsmanager create-secret --name $P/db --secret-string '{"username":"pier","password":"p@ss word"}' >/dev/null
aws ssm put-parameter --name /$P/image-tag --type String --value test >/dev/null
aws secretsmanager create-secret --name $P/grafana-admin --secret-string "grafana-admin-0123456789" >/dev/null
# The kit as aws-swarm keeps it (monitoring.tf): the stack file and every file it names,
# one SSM parameter each, gzip + base64.
mapfile -t KIT_FILES < <(echo swarm/stack.yml; sed -n 's|^ *file: \.\./\(.*\)$|\1|p' "$ROOT/deploy/swarm/stack.yml")
for file in "${KIT_FILES[@]}"; do
  aws ssm put-parameter --name "/$P/swarm-kit/$file" --type String --value "$(gzip -nc "$ROOT/deploy/$file" | base64 -w0)" >/dev/null
done
docker swarm leave --force >/dev/null 2>&1 || true

run() { PIER_SWARM_ADVERTISE_ADDR=127.0.0.1 PIER_KIT_DIR="$WORK/kit" "$WORK/rendered/swarm-up.sh"; }
state() {
  echo "swarm=$(docker info -f '{{.Swarm.Cluster.ID}}')" \
    "service=$(docker service inspect pier_pier -f '{{.ID}}:{{.Version.Index}}:{{.Spec.TaskTemplate.ContainerSpec.Image}}')" \
    "services=$(docker service ls -q | wc -l) secrets=$(docker secret ls -q | wc -l)"
}

echo "--- first run: creates the swarm, the secrets and the stack (pier, Prometheus, Grafana)"
run | tee "$WORK/first.log"
FIRST="$(state)"; echo "    $FIRST"
[[ "$FIRST" == *":pier:test services=3 secrets=2" ]] || fail "the first run did not deploy pier:test once with its monitoring: $FIRST"
for file in "${KIT_FILES[@]}"; do
  cmp -s "$ROOT/deploy/$file" "$WORK/kit/$file" || fail "the swarm step wrote $file differently from the repository's"
done
[ "$(docker service inspect pier_prometheus -f '{{len .Spec.TaskTemplate.ContainerSpec.Configs}}')" = 3 ] \
  || fail "Prometheus does not get its scrape config and the two rule files"
docker config ls --format '{{.Name}}' | grep -q '^pier_prometheus_alerts_[0-9a-f]\{12\}$' \
  || fail "the monitoring configs are not named by the files' hash: $(docker config ls --format '{{.Name}}')"
[ "$(aws ssm get-parameter --name /$P/manager-address --query Parameter.Value --output text)" = 127.0.0.1:2377 ] \
  || fail "the manager address is not published"
TOKEN="$(aws ssm get-parameter --name /$P/join-token --with-decryption --query Parameter.Value --output text)"
[ "$TOKEN" = "$(docker swarm join-token -q worker)" ] || fail "the published join token is not the swarm's"
docker service inspect pier_pier -f '{{range .Spec.TaskTemplate.ContainerSpec.Env}}{{println .}}{{end}}' >"$WORK/env"
grep -qx 'DATABASE_URL=postgres://pier:p%40ss%20word@127.0.0.1:5432/pier?sslmode=require' "$WORK/env" \
  || { cat "$WORK/env" >&2; fail "the database URL is not built from the secret"; }
grep -qx 'PIER_SPOOL=/spool' "$WORK/env" || fail "PIER_SPOOL is not the shared spool"
# The stack binds the node's spool directory (EFS on AWS) into every task at /spool.
MOUNT="$(docker service inspect pier_pier -f '{{range .Spec.TaskTemplate.ContainerSpec.Mounts}}{{.Target}} {{with .VolumeOptions}}{{with .DriverConfig}}{{.Options.type}} {{.Options.o}} {{.Options.device}}{{end}}{{end}}{{println}}{{end}}')"
grep -qx "/spool none bind $WORK/spool" <<<"$MOUNT" || fail "the spool volume is not the node's spool directory: $MOUNT"

echo "--- second run: nothing changes (no new swarm, no redeploy, no restart)"
run | tee "$WORK/second.log"
SECOND="$(state)"; echo "    $SECOND"
[ "$SECOND" = "$FIRST" ] || fail "the second run changed something: $FIRST -> $SECOND"
grep -q "nothing to do" "$WORK/second.log" || fail "the second run did not say it had nothing to do"

echo "--- a release (docker service update --image) is kept by later runs"
docker tag pier:test pier:test-v2
docker service update --detach=true --quiet --image pier:test-v2 pier_pier >/dev/null
RELEASED="$(state)"
run >/dev/null
[ "$(state)" = "$RELEASED" ] || {
  docker service ps --no-trunc pier_pier >&2 || true
  docker service inspect pier_pier -f '{{json .UpdateStatus}}' >&2 || true
  for task in $(docker ps -aq --filter label=com.docker.swarm.service.name=pier_pier | head -4); do
    docker logs --tail 15 "$task" >&2 2>&1 || true
  done
  fail "a run after a release changed the service: $RELEASED -> $(state)"
}

echo "--- a changed setting redeploys the stack, with the released image"
render s3://swarm-up-test/elsewhere
run | tee "$WORK/third.log"
grep -q "deploying the stack" "$WORK/third.log" || fail "a changed setting was not deployed"
THIRD="$(state)"; echo "    $THIRD"
[[ "$THIRD" == *":pier:test-v2 services=3 secrets=2" ]] || fail "the redeploy changed the image or duplicated: $THIRD"
[ "${THIRD%% *}" = "${FIRST%% *}" ] || fail "the swarm was re-initialised"
docker service inspect pier_pier -f '{{range .Spec.TaskTemplate.ContainerSpec.Env}}{{println .}}{{end}}' \
  | grep -qx 'PIER_STORAGE=s3://swarm-up-test/elsewhere' || fail "the new setting is not in the service"
echo "swarm-up test passed: idempotent, keeps releases, applies setting changes"
