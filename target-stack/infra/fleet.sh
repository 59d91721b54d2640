#!/bin/bash
# Runs a loadgen fleet on ECS Fargate (templates/loadgen-fleet.yaml): N generators with one
# shared start time, generator i taking --shard i/N of the load; each uploads its run
# directory to the fleet stack's RunsUrl, and one `analyze --runs-dir RUNS_URL` merges them.
#
#   target-stack/infra/fleet.sh [--stack aforo-loadgen] [--lead 90] N -- LOADGEN-RUN-ARGS...
#   e.g. fleet.sh 4 -- scenario1 --aws-stack aforo --profile ramp --users 800
#
# --lead  seconds between now and the shared start (time for Fargate to pull and start).
set -euo pipefail
stack=aforo-loadgen lead=90
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) stack=$2; shift 2 ;;
    --lead) lead=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
count=${1:?usage: fleet.sh [--stack NAME] [--lead SECONDS] N -- LOADGEN-RUN-ARGS...}
shift
[ "${1:-}" = -- ] && shift
[ $# -gt 0 ] || { echo "fleet.sh: give the loadgen run arguments after --" >&2; exit 2; }
case "$count" in ''|*[!0-9]*|0) echo "fleet.sh: N must be a whole number above 0, not $count" >&2; exit 2 ;; esac
for arg in "$@"; do
  case "$arg" in --shard|--start-at|--upload) echo "fleet.sh: $arg is set per generator; leave it out" >&2; exit 2 ;; esac
done

output() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
cluster=$(output Cluster) task=$(output TaskDefinition) group=$(output SecurityGroup)
subnets=$(output Subnets) runs=$(output RunsUrl)
start=$(date -u -d "+$lead seconds" +%Y-%m-%dT%H:%M:%SZ)
network="awsvpcConfiguration={subnets=[$subnets],securityGroups=[$group],assignPublicIp=ENABLED}"

for i in $(seq 1 "$count"); do
  overrides=$(python3 - "$i" "$count" "$start" "$runs" "$@" <<'PY'
import json, sys
i, n, start, runs, *args = sys.argv[1:]
command = ["loadgen", "run", *args, "--shard", f"{i}/{n}", "--start-at", start, "--upload", runs]
print(json.dumps({"containerOverrides": [{"name": "loadgen", "command": command}]}))
PY
)
  arn=$(aws ecs run-task --cluster "$cluster" --task-definition "$task" --launch-type FARGATE \
    --count 1 --network-configuration "$network" --overrides "$overrides" \
    --started-by "aforo-fleet" --query 'tasks[0].taskArn' --output text)
  echo "generator $i/$count: $arn"
done
echo "the fleet starts at $start; its runs go to $runs"
echo "afterwards: analyze --runs-dir $runs --since 1h && analyze report"
