#!/usr/bin/env bash
# The deploy drill: the deploy guide's commands (deploy/README.md), run for real against
# moto on 127.0.0.1, for one stack. Called by scripts/infra-test.sh, which starts moto
# (scripts/moto_drill.py) and prepares working copies of the modules; also runnable on
# its own with those in the environment:
#   ENDPOINT  moto's URL          TF      the working copy of deploy/terraform
#   PYTHON    Python with boto3   AWS_CLI the aws command
#
#   scripts/deploy-drill.sh ecs        (the ECS stack is applied already: release onto it)
#   scripts/deploy-drill.sh swarm|ec2  (apply, release, fail, roll back, destroy)
#   scripts/deploy-drill.sh bootstrap  (the state bucket and the GitHub OIDC roles)
#
# What each proves is in the step names. What moto cannot show (SSM agents, user data
# running, a load balancer answering) is said where it is worked around.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHICH="${1:?ecs, swarm, ec2 or bootstrap}"
: "${ENDPOINT:?the URL of moto}" "${TF:?the working copy of deploy/terraform}" "${PYTHON:?python with boto3}"
AWS_CLI="${AWS_CLI:-aws}"
export AWS_ENDPOINT_URL="$ENDPOINT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
AWS_BIN="$(dirname "$(command -v "$AWS_CLI")")"
export PATH="$AWS_BIN:$PATH"
# The deploy script works on the working copies; the emulator has no SSM agents (moto
# lacks DescribeInstanceInformation) and its load balancers do not answer.
export PIER_TERRAFORM_ROOT="$TF" PIER_DEPLOY_SKIP_SSM_ONLINE=1 PIER_DEPLOY_HEALTH_SECONDS=0 PIER_DEPLOY_WAIT_SECONDS=60
STEP="start"
trap 'echo "deploy-drill ($WHICH): FAILED at step: $STEP" >&2' ERR
step() { STEP="$1"; echo "--- [$WHICH] $STEP"; }
fail() { echo "deploy-drill ($WHICH): $*" >&2; exit 1; }
DEPLOY="$ROOT/deploy/scripts/deploy"

# A stand-in for `deploy/scripts/build-and-push`: moto's ECR stores a manifest, there is
# no registry to push layers to.
push_image() { # repository-url tag
  "$AWS_CLI" ecr put-image --repository-name "${1#*/}" --image-tag "$2" --image-manifest \
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":2,\"digest\":\"sha256:$(printf '%s' "$2" | sha256sum | cut -d' ' -f1)\"},\"layers\":[]}" >/dev/null
}

# The newest SSM command moto recorded for this drill's instance, as JSON (null: none).
last_command() {
  [ -n "$INSTANCE" ] || fail "last_command: no instance"
  "$AWS_CLI" ssm list-commands --instance-id "$INSTANCE" --query 'Commands[-1]' --output json
}

case "$WHICH" in
  ecs)
    STACK=aws-ecs
    VARS=(-var-file="$ROOT/deploy/terraform/aws-ecs/examples/small.tfvars" -var-file="$ROOT/deploy/terraform/test/moto.tfvars")
    ;;
  swarm)
    STACK=aws-swarm
    VARS=(-var-file="$ROOT/deploy/terraform/aws-swarm/examples/small.tfvars" -var-file="$ROOT/deploy/terraform/test/moto-swarm.tfvars")
    ;;
  ec2)
    STACK=aws-ec2
    VARS=(-var-file="$ROOT/deploy/terraform/aws-ec2/examples/small.tfvars" -var-file="$ROOT/deploy/terraform/test/moto-ec2.tfvars")
    ;;
  bootstrap)
    step "apply deploy/terraform/bootstrap: state bucket and GitHub OIDC roles"
    DIR="$TF/bootstrap"
    terraform -chdir="$DIR" apply -auto-approve -no-color -var-file="$ROOT/deploy/terraform/test/moto-bootstrap.tfvars" >"$DIR/apply.log" 2>&1 \
      || { tail -40 "$DIR/apply.log" >&2; fail "bootstrap apply failed"; }
    terraform -chdir="$DIR" output -json >"$DIR/outputs.json"
    "$PYTHON" - "$DIR/outputs.json" "$ROOT/deploy/iam/deployer-policy.json" <<'PY'
import json, sys, boto3
outputs = json.load(open(sys.argv[1]))
deployer = json.load(open(sys.argv[2]))
iam = boto3.client("iam")
s3 = boto3.client("s3")
bucket = outputs["state_bucket"]["value"]
assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled", "state bucket not versioned"
block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
assert all(block.values()), block
want = {
    "release": "repo:example-org/pier:ref:refs/heads/main",
    "deploy": "repo:example-org/pier:environment:production",
    "plan": "repo:example-org/pier:pull_request",
}
roles = outputs["github_role_arns"]["value"]
assert set(roles) == set(want), roles
for job, subject in want.items():
    role = iam.get_role(RoleName=roles[job].split("/")[-1])["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    (statement,) = trust["Statement"]
    conditions = statement["Condition"]["StringEquals"]
    assert conditions["token.actions.githubusercontent.com:sub"] == subject, (job, conditions)
    assert conditions["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com", (job, conditions)
    assert statement["Principal"]["Federated"].endswith("oidc-provider/token.actions.githubusercontent.com"), statement
policy = iam.get_role_policy(RoleName=roles["deploy"].split("/")[-1], PolicyName="deploy-stacks")["PolicyDocument"]
policy = json.loads(policy) if isinstance(policy, str) else policy
assert policy == deployer, "the deploy role's policy is not deploy/iam/deployer-policy.json"
push = iam.get_role_policy(RoleName=roles["release"].split("/")[-1], PolicyName="push-images")["PolicyDocument"]
push = json.loads(push) if isinstance(push, str) else push
actions = {a for s in push["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
assert "ecr:PutImage" in actions and not any(a.startswith("ecs:") or a == "*" for a in actions), actions
print(f"bootstrap: state bucket {bucket} versioned and private; roles trust exactly {sorted(want.values())}")
PY
    step "destroy the bootstrap"
    terraform -chdir="$DIR" destroy -auto-approve -no-color -var-file="$ROOT/deploy/terraform/test/moto-bootstrap.tfvars" >"$DIR/destroy.log" 2>&1 \
      || { tail -40 "$DIR/destroy.log" >&2; fail "bootstrap destroy failed"; }
    [ -z "$(terraform -chdir="$DIR" state list)" ] || fail "bootstrap left resources in its state"
    echo "deploy-drill (bootstrap): passed"
    exit 0
    ;;
  *) fail "unknown drill $WHICH" ;;
esac
DIR="$TF/$STACK"
EXAMPLE="$ROOT/deploy/terraform/$STACK/examples/small.tfvars"
TEST_VARS="${VARS[1]#-var-file=}"
tf() { terraform -chdir="$DIR" "$@"; }
deploy() { "$DEPLOY" "$STACK" --var-file "$EXAMPLE" "$@" --yes -- -var-file="$TEST_VARS" -no-color; }

if [ "$WHICH" != ecs ]; then
  step "first the registry (guide step 4), then an image in it"
  tf apply -auto-approve -no-color "${VARS[@]}" -target=module.registry >"$DIR/registry.log" 2>&1 \
    || { tail -40 "$DIR/registry.log" >&2; fail "apply -target=module.registry failed"; }
  REPOSITORY="$(tf output -raw ecr_repository_url)"
  push_image "$REPOSITORY" drill-1

  step "the first deploy waits (bounded) for the instance's first boot, and says so"
  if PIER_DEPLOY_WAIT_SECONDS=10 deploy --tag drill-1 >"$DIR/first.log" 2>&1; then
    cat "$DIR/first.log"; fail "the first deploy sent its command before the instance finished booting"
  fi
  grep -q "gave up after 10s waiting for .* to finish its first boot" "$DIR/first.log" \
    || { cat "$DIR/first.log" >&2; fail "the first deploy did not say what it waited for"; }
  INSTANCE="$(tf output -raw "$([ "$STACK" = aws-swarm ] && echo manager_instance_id || echo instance_id)")"
  READY="$(tf output -raw "$([ "$STACK" = aws-swarm ] && echo manager_ready_parameter || echo instance_ready_parameter)")"
  [[ "$INSTANCE" == i-* ]] || fail "no instance id in the outputs: '$INSTANCE'"
  SENT="$(last_command)"   # (set -e: a failing CLI stops the drill here, with its error)
  [ "$SENT" = null ] || fail "a command was sent before the instance was ready: $SENT"
  # What the instance's user data does at the end of its first boot (moto runs none).
  "$AWS_CLI" ssm put-parameter --name "$READY" --type String --overwrite --value "$INSTANCE" >/dev/null
else
  REPOSITORY="$(tf output -raw ecr_repository_url)"
  push_image "$REPOSITORY" latest
  push_image "$REPOSITORY" drill-1
  deploy --tag drill-1 >"$DIR/first.log" 2>&1 || { cat "$DIR/first.log" >&2; fail "deploy of drill-1 failed"; }
fi

step "the generated API token reads back with the guide's command (step 6), and only there"
TOKEN="$("$AWS_CLI" secretsmanager get-secret-value --query SecretString --output text \
  --secret-id "$(tf output -raw api_tokens_secret_arn)")"
[[ "$TOKEN" =~ ^[A-Za-z0-9]{48}$ ]] || fail "the generated token is not 48 letters and digits"
# Write-only: the value went to Secrets Manager and nowhere else Terraform keeps.
[ -s "$DIR/terraform.tfstate" ] || fail "no local state at $DIR/terraform.tfstate to search"
if grep -qF "$TOKEN" "$DIR/terraform.tfstate"; then fail "the generated token is in Terraform's state"; fi
echo "    a 48-character token, in Secrets Manager only"

step "the deploy policy grants every service this stack uses (moto does not enforce IAM)"
tf show -json >"$DIR/state.json"
"$PYTHON" "$ROOT/scripts/infra_check.py" --deployer-covers "$DIR/state.json"

step "a plan with a new image_tag replaces and destroys nothing that must outlive releases"
# Against a baseline: the same plan with the tag the stack runs now (moto makes a few
# resources differ from their configuration; the new tag must add nothing to those).
for plan in baseline:drill-1 release:drill-2; do
  tf plan -no-color "${VARS[@]}" -var "image_tag=${plan#*:}" -out="$DIR/${plan%%:*}.plan" >"$DIR/${plan%%:*}-plan.log" 2>&1 \
    || { tail -40 "$DIR/${plan%%:*}-plan.log" >&2; fail "plan with image_tag=${plan#*:} failed"; }
  tf show -json "$DIR/${plan%%:*}.plan" >"$DIR/${plan%%:*}-plan.json"
done
"$PYTHON" "$ROOT/scripts/plan_release.py" "$DIR/release-plan.json" drill-2 "$DIR/baseline-plan.json"

step "deploy/scripts/deploy releases drill-2"
push_image "$REPOSITORY" drill-2
deploy --tag drill-2 >"$DIR/deploy.log" 2>&1 || { cat "$DIR/deploy.log" >&2; fail "deploy of drill-2 failed"; }
sed -n 's/^/    /p' "$DIR/deploy.log" | grep -E '==>|SSM|\|' || true
case "$STACK" in
  aws-ecs)
    CLUSTER="$(tf output -raw cluster_name)"; SERVICE="$(tf output -raw service_name)"
    DEFINITION="$("$AWS_CLI" ecs describe-services --cluster "$CLUSTER" --services "$SERVICE" --query 'services[0].taskDefinition' --output text)"
    RUNS="$("$AWS_CLI" ecs describe-task-definition --task-definition "$DEFINITION" --query 'taskDefinition.containerDefinitions[0].image' --output text)"
    [ "$RUNS" = "$REPOSITORY:drill-2" ] || fail "the service's task definition runs $RUNS, not $REPOSITORY:drill-2"
    echo "    the service runs $RUNS"
    ;;
  aws-swarm)
    last_command >"$DIR/command.json"
    grep -q "docker service update --detach=false --quiet --with-registry-auth --image $REPOSITORY:drill-2 --update-order start-first pier_pier" "$DIR/command.json" \
      || { cat "$DIR/command.json" >&2; fail "the command sent to the manager is not the service update"; }
    grep -q "pier-swarm-up" "$DIR/command.json" || fail "the command does not run the swarm step first"
    grep -q "\"$INSTANCE\"" "$DIR/command.json" || fail "the command went to another instance"
    echo "    the manager was sent the swarm step and docker service update --image $REPOSITORY:drill-2"
    # The kit the swarm step deploys (stack + monitoring files, as SSM parameters) and
    # Grafana's listener, limited to the allowed network (moto-swarm.tfvars).
    tf output -json >"$DIR/outputs.json"
    AWS_ENDPOINT_URL="$ENDPOINT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
      "$PYTHON" "$ROOT/scripts/infra_check.py" --swarm-monitoring "$DIR/outputs.json" 203.0.113.0/24
    ;;
  aws-ec2)
    last_command >"$DIR/command.json"
    grep -q "systemctl restart pier" "$DIR/command.json" || { cat "$DIR/command.json" >&2; fail "no restart in the command"; }
    grep -q "$REPOSITORY:drill-2" "$DIR/command.json" || fail "the command does not check the released image"
    [ "$("$AWS_CLI" ssm get-parameter --name "$(tf output -raw image_tag_parameter)" --query Parameter.Value --output text)" = drill-2 ] \
      || fail "the image-tag parameter the unit reads is not drill-2"
    echo "    the instance was sent a restart, its unit reads drill-2"
    ;;
esac

if [ "$STACK" != aws-ecs ]; then
  step "a command that fails on the instance fails the deploy, with its output"
  push_image "$REPOSITORY" simulate-failure-3
  if deploy --tag simulate-failure-3 >"$DIR/failed.log" 2>&1; then
    cat "$DIR/failed.log"; fail "the deploy succeeded although its command failed"
  fi
  grep -q "simulated failure: the image could not be pulled" "$DIR/failed.log" || { cat "$DIR/failed.log" >&2; fail "the command's output is not shown"; }
  grep -q "ended Failed" "$DIR/failed.log" || fail "the failure is not named"
  echo "    failed as it should: $(grep 'ended Failed' "$DIR/failed.log")"

  step "--rollback releases the release before the current one (drill-2)"
  deploy --rollback >"$DIR/rollback.log" 2>&1 || { cat "$DIR/rollback.log" >&2; fail "rollback failed"; }
  grep -q "rolling back to drill-2" "$DIR/rollback.log" || { cat "$DIR/rollback.log" >&2; fail "rollback chose another tag"; }
  last_command | grep -q "$REPOSITORY:drill-2" || fail "the rollback's command is not for drill-2"

  step "a tag that was never pushed stops before anything changes"
  if deploy --tag never-pushed >"$DIR/missing.log" 2>&1; then fail "a deploy of a missing image went ahead"; fi
  grep -q "no image $REPOSITORY:never-pushed" "$DIR/missing.log" || { cat "$DIR/missing.log" >&2; fail "no clear message for a missing image"; }
fi

if [ "$STACK" != aws-ec2 ]; then
  step "the alarms that catch a total outage"
  TOPIC="$(tf output -raw alarm_topic_arn)"
  PREFIX="${TOPIC##*:}"   # NAME-alarms: the alarms are NAME-…
  "$PYTHON" "$ROOT/scripts/infra_check.py" --alarms "${PREFIX%alarms}" "$TOPIC"
fi

if [ "$STACK" = aws-ec2 ]; then
  step "the data volume is its own and attached; an external PostgreSQL is an option"
  VOLUME="$(tf output -raw data_volume_id)"
  "$AWS_CLI" ec2 describe-volumes --volume-ids "$VOLUME" --query 'Volumes[0].Attachments[0].[InstanceId,Device]' --output text \
    | grep -q "^${INSTANCE}[[:space:]]/dev/sdf$" || fail "the data volume is not attached to the instance"
  tf plan -no-color -var-file="$ROOT/deploy/terraform/aws-ec2/examples/postgres.tfvars" -var-file="$TEST_VARS" >"$DIR/postgres-plan.log" 2>&1 \
    || { tail -30 "$DIR/postgres-plan.log" >&2; fail "the external-PostgreSQL example does not plan"; }
  grep -q "aws_ebs_volume.data must be replaced\|aws_ebs_volume.data will be destroyed" "$DIR/postgres-plan.log" && fail "switching the database replaces the data volume"
  echo "    volume $VOLUME on $INSTANCE at /dev/sdf; examples/postgres.tfvars plans"

  step "a replaced instance (a new AMI, a terminated node) gets the same data volume back"
  tf apply -auto-approve -no-color "${VARS[@]}" -var image_tag=drill-2 -replace=aws_instance.pier >"$DIR/replace.log" 2>&1 \
    || { tail -40 "$DIR/replace.log" >&2; fail "replacing the instance failed"; }
  NEW_INSTANCE="$(tf output -raw instance_id)"
  [ "$NEW_INSTANCE" != "$INSTANCE" ] || fail "the instance was not replaced"
  [ "$(tf output -raw data_volume_id)" = "$VOLUME" ] || fail "replacing the instance replaced the data volume"
  "$AWS_CLI" ec2 describe-volumes --volume-ids "$VOLUME" --query 'Volumes[0].Attachments[0].[InstanceId,Device]' --output text \
    | grep -q "^${NEW_INSTANCE}[[:space:]]/dev/sdf$" || fail "the data volume is not attached to the new instance"
  echo "    $INSTANCE -> $NEW_INSTANCE, the same volume $VOLUME at /dev/sdf"
fi

if [ "$STACK" != aws-ecs ]; then
  step "terraform destroy leaves nothing"
  tf destroy -auto-approve -no-color "${VARS[@]}" >"$DIR/destroy.log" 2>&1 || { tail -40 "$DIR/destroy.log" >&2; fail "destroy failed"; }
  [ -z "$(tf state list)" ] || fail "resources left in the state after destroy"
fi
echo "deploy-drill ($WHICH): passed"
