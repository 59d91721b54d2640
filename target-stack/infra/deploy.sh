#!/bin/bash
# One command from a checkout to a running aforo stack on AWS (docs/deploy-aws.md):
# builds the release binary, packs and uploads it, and creates or updates the stacks.
#
#   target-stack/infra/deploy.sh [--academy] [--app anb|inference] [--stack NAME]
#                                [--region REGION] [--binary PATH] [--param KEY=VALUE ...]
#
# --app      what the web group runs: anb (the ANB API and its worker group; the default)
#            or inference (seed 000's ML inference service, no worker group).
# --academy  AWS Academy: LabInstanceProfile, no iam.yaml, us-east-1 / us-west-2 only, and
#            params/academy.json's sizes (at most 9 instances at once).
# --binary   use this target-stack binary instead of building one (cargo build --release).
# Credentials and region come from the environment, as for any AWS CLI call.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
stack=aforo region=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}} academy= binary= app=anb params=()
while [ $# -gt 0 ]; do
  case "$1" in
    --academy) academy=1 ;;
    --app) app=$2; shift ;;
    --stack) stack=$2; shift ;;
    --region) region=$2; shift ;;
    --binary) binary=$2; shift ;;
    --param) params+=("$2"); shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "deploy.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$app" in
  anb|inference) ;;
  *) echo "deploy.sh: --app is '$app'; it must be anb or inference" >&2; exit 2 ;;
esac
export AWS_REGION=$region AWS_DEFAULT_REGION=$region
if [ -n "$academy" ] && [ "$region" != us-east-1 ] && [ "$region" != us-west-2 ]; then
  echo "deploy.sh: AWS Academy works in us-east-1 and us-west-2 only, not $region" >&2; exit 2
fi
step() { printf '\n== %s\n' "$*"; }
cfn_deploy() { # NAME TEMPLATE [--capabilities C] [KEY=VALUE ...]: create, or update in place
  local name=$1 template=$2 capabilities=() parameters=() action=create
  shift 2
  if [ "${1:-}" = --capabilities ]; then capabilities=(--capabilities "$2"); shift 2; fi
  for pair in "$@"; do
    local value=${pair#*=}
    # The CLI's shorthand splits on commas; a list value (subnet ids) keeps its own.
    parameters+=("ParameterKey=${pair%%=*},ParameterValue=${value//,/\\,}")
  done
  aws cloudformation describe-stacks --stack-name "$name" >/dev/null 2>&1 && action=update
  local args=(--stack-name "$name" --template-body "file://$here/templates/$template" "${capabilities[@]}")
  [ ${#parameters[@]} -eq 0 ] || args+=(--parameters "${parameters[@]}")
  local out status=0
  out=$(aws cloudformation "$action-stack" "${args[@]}" 2>&1) || status=$?
  if [ "$status" -ne 0 ]; then
    case "$out" in *"No updates are to be performed"*) echo "$name: up to date"; return 0 ;; esac
    echo "$out" >&2; return "$status"
  fi
  echo "$name: $action in progress"
  aws cloudformation wait "stack-$action-complete" --stack-name "$name"
}
output() { # STACK KEY
  aws cloudformation describe-stacks --stack-name "$1" \
    --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue" --output text
}

step "artifact bucket ($stack-artifacts)"
cfn_deploy "$stack-artifacts" artifacts.yaml "AppName=$stack"
bucket=$(output "$stack-artifacts" ArtifactBucket)

if [ -z "$binary" ]; then
  step "building the release binary"
  (cd "$repo" && cargo build --release --locked -p target-stack)
  binary=${CARGO_TARGET_DIR:-$repo/target}/release/target-stack
fi
step "packing and uploading the release"
version=$("$binary" --version | awk '{print $2}')
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo local)
key="artifacts/aforo-$version-$commit-$(date -u +%Y%m%dT%H%M%SZ).tar.gz"
artifact=$(mktemp --suffix .tar.gz)
trap 'rm -f "$artifact"' EXIT
"$here/package.sh" "$artifact" "$binary"
aws s3 cp --only-show-errors "$artifact" "s3://$bucket/$key"

if [ -z "$academy" ]; then
  step "roles ($stack-iam)"
  cfn_deploy "$stack-iam" iam.yaml --capabilities CAPABILITY_IAM "AppName=$stack"
  profile=$(output "$stack-iam" InstanceProfileName)
  variant=standard
else
  profile=LabInstanceProfile
  variant=academy
fi
ami=${AFORO_AMI:-$(aws ssm get-parameter --name /aws/service/debian/release/12/latest/amd64 --query Parameter.Value --output text)}
mapfile -t overrides < <(python3 -c 'import json, sys; [print(f"{k}={v}") for k, v in json.load(open(sys.argv[1])).items()]' "$here/params/$variant.json")

step "the stack ($stack): ${#overrides[@]} parameters from params/$variant.json, ${#params[@]} from --param"
cfn_deploy "$stack" aforo.yaml \
  "${overrides[@]}" "AppName=$stack" "ArtifactBucket=$bucket" "ArtifactKey=$key" \
  "AmiId=$ami" "InstanceProfileName=$profile" "App=$app" "${params[@]}"

step "done"
echo "API:       $(output "$stack" BaseUrl)"
echo "Dashboard: $(output "$stack" DashboardUrl)"
if [ "$app" = inference ]; then
  echo "Next:      curl $(output "$stack" BaseUrl)/info"
  echo "           loadgen run scenarios/examples/ml-inference.toml --aws-stack $stack --profile ramp --users 200"
  echo "           analyze --aws-stack $stack --since 1h && analyze report"
else
  echo "Next:      loadgen run scenario1 --aws-stack $stack --profile ramp --users 200"
  echo "           analyze --aws-stack $stack --since 1h && analyze report"
fi
