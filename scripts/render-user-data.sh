#!/usr/bin/env bash
# Renders the instances' user-data templates (deploy/terraform/*/templates/*.tftpl) the
# way Terraform does — `templatefile` in `terraform console` — with test values, into
# OUT_DIR, for shellcheck (scripts/infra-test.sh) and for running the manager's swarm
# step against a real Docker engine (scripts/swarm-up-test.sh).
# Usage: scripts/render-user-data.sh OUT_DIR [key=value ...]   (overrides for swarm-up)
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:?OUT_DIR}"; shift
mkdir -p "$OUT"
T="$ROOT/deploy/terraform"
declare -A SWARM_UP=(
  [region]=us-east-1 [registry]=123456789012.dkr.ecr.us-east-1.amazonaws.com/pier
  [join_token_param]=/pier/swarm/worker-join-token [manager_addr_param]=/pier/swarm/manager-address
  [image_tag_param]=/pier/image-tag [tokens_secret]=pier/api-tokens [db_secret]=rds!db-0123
  [db_address]=pier.abc.us-east-1.rds.amazonaws.com [storage]=s3://pier-images
  [metadata]=database [reserve_manager]=true [spool_dir]=/var/lib/pier/spool
  [kit_path]=/pier/swarm-kit [grafana_secret]=pier/grafana-admin
)
for pair in "$@"; do SWARM_UP[${pair%%=*}]="${pair#*=}"; done
map() { # name → HCL object of the associative array
  local -n values="$1"; local out="{" key
  for key in "${!values[@]}"; do
    case "${values[$key]}" in true|false) out+="$key=${values[$key]}," ;; *) out+="$key=\"${values[$key]}\"," ;; esac
  done
  echo "${out%,}}"
}
render() { # template vars-object output
  printf 'jsonencode(templatefile("%s", %s))\n' "$1" "$2" \
    | terraform -chdir="$OUT" console 2>"$OUT/console.err" \
    | python3 -c 'import json, sys; sys.stdout.write(json.loads(json.loads(sys.stdin.read())))' >"$3" \
    || { cat "$OUT/console.err" >&2; echo "cannot render $1" >&2; exit 1; }
}
render "$T/aws-swarm/templates/swarm-up.sh.tftpl" "$(map SWARM_UP)" "$OUT/swarm-up.sh"
render "$T/aws-swarm/templates/manager.sh.tftpl" \
  "{region=\"us-east-1\", registry=\"${SWARM_UP[registry]}\", swarm_up_base64=\"$(base64 -w0 "$OUT/swarm-up.sh")\", bootstrap_param=\"/pier/swarm/manager-ready\", replicas_per_worker=2, min_replicas=4}" \
  "$OUT/manager.sh"
render "$T/aws-swarm/templates/worker.sh.tftpl" \
  '{region="us-east-1", join_token_param="/pier/swarm/worker-join-token", manager_addr_param="/pier/swarm/manager-address", spool_file_system="fs-0123456789abcdef0", spool_access_point="fsap-0123456789abcdef0", spool_dir="/var/lib/pier/spool"}' \
  "$OUT/worker.sh"
for secret in "" "arn:aws:secretsmanager:us-east-1:123456789012:secret:pier/db-password"; do
  render "$T/aws-ec2/templates/user-data.sh.tftpl" \
    "{region=\"us-east-1\", registry=\"${SWARM_UP[registry]}\", image_tag_param=\"/pier/image-tag\", bootstrap_param=\"/pier/instance-ready\", data_volume_id=\"vol-0123456789abcdef0\", tokens_secret=\"pier/api-tokens\", password_secret=\"$secret\", environment={PIER_STORAGE=\"s3://pier-images\", DATABASE_URL=\"sqlite:///data/pier.db\"}}" \
    "$OUT/ec2-user-data${secret:+-postgres}.sh"
done
chmod 0755 "$OUT"/*.sh
echo "rendered: $(find "$OUT" -name '*.sh' -printf '%f ')"
