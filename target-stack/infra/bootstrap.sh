#!/bin/bash
# aforo instance bootstrap, run by the launch templates' user data from the unpacked release
# (/opt/aforo/release, made by package.sh). It reads the instance configuration from SSM and
# the secrets from Secrets Manager, writes /etc/aforo/aforo.env (mode 600), the systemd unit
# of this instance's role and the CloudWatch agent's configuration, then starts them.
#
# Set by user data: AWS_REGION, AFORO_ROLE (web | worker), AFORO_CONFIG (the SSM parameter),
# AFORO_APP (anb, the default | inference: what the web role runs).
# For tests and hosts of your own: AFORO_ROOT (prefix of every path written), AFORO_SYSTEMCTL
# (default systemctl), AFORO_SKIP_PACKAGES=1 (no apt-get, no agent), AFORO_INSTANCE_ID.
set -euo pipefail

root=${AFORO_ROOT:-}
role=${AFORO_ROLE:?AFORO_ROLE must be web or worker}
config_name=${AFORO_CONFIG:?AFORO_CONFIG must name the SSM parameter with the instance configuration}
systemctl=${AFORO_SYSTEMCTL:-systemctl}
release=/opt/aforo/release
app=${AFORO_APP:-anb}
case "$role/$app" in
  web/anb) command=api unit=aforo-web.service ;;
  web/inference) command=inference unit=aforo-web.service ;;
  worker/anb) command=worker unit=aforo-worker.service ;;
  worker/inference) echo "aforo-bootstrap: App=inference has no worker role" >&2; exit 2 ;;
  */anb | */inference) echo "aforo-bootstrap: AFORO_ROLE is '$role'; it must be web or worker" >&2; exit 2 ;;
  *) echo "aforo-bootstrap: AFORO_APP is '$app'; it must be anb or inference" >&2; exit 2 ;;
esac
log() { echo "aforo-bootstrap: $*" >&2; }

if [ "${AFORO_SKIP_PACKAGES:-}" != 1 ]; then
  log "installing packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  packages="python3 curl"
  [ "$role" = worker ] && packages="$packages ffmpeg"
  # shellcheck disable=SC2086
  apt-get install -y -q $packages
  curl -fsSL -o /tmp/amazon-cloudwatch-agent.deb \
    "https://amazoncloudwatch-agent.s3.amazonaws.com/debian/amd64/latest/amazon-cloudwatch-agent.deb"
  dpkg -i -E /tmp/amazon-cloudwatch-agent.deb
fi

log "reading $config_name"
config=$(aws ssm get-parameter --name "$config_name" --query Parameter.Value --output text)
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$config" "$1"; }
# A field that configurations written by older templates lack.
optional_field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], sys.argv[3]))' "$config" "$1" "$2"; }
secret() { aws secretsmanager get-secret-value --secret-id "$1" --query SecretString --output text; }
if [ -z "${AFORO_INSTANCE_ID:-}" ]; then
  token=$(curl -fsS -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" http://169.254.169.254/latest/api/token)
  AFORO_INSTANCE_ID=$(curl -fsS -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/instance-id)
fi

log "writing /etc/aforo/aforo.env"
install -d -m 0755 "$root/etc/aforo"
umask 077
if [ "$app" = inference ]; then
  # Seed 000's service keeps no state: no database, queue, bucket or signing key.
  cat > "$root/etc/aforo/aforo.env" <<ENV
ANB_BIND=0.0.0.0:8080
ANB_INFERENCE_SLOW_FRACTION=$(optional_field inference_slow_fraction 0)
ANB_INSTANCE_ID=$AFORO_INSTANCE_ID
AWS_REGION=$AWS_REGION
RUST_LOG=info
ENV
else
  db_secret=$(secret "$(field db_secret_arn)")
  jwt_secret=$(secret "$(field jwt_secret_arn)")
  database_url=$(python3 - "$db_secret" "$(field db_host)" "$(field db_name)" <<'PY'
import json, sys, urllib.parse
secret, host, name = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
user = urllib.parse.quote(secret["username"], safe="")
password = urllib.parse.quote(secret["password"], safe="")
print(f"postgres://{user}:{password}@{host}:5432/{name}?sslmode=require")
PY
)
  cat > "$root/etc/aforo/aforo.env" <<ENV
DATABASE_URL=$database_url
ANB_STORAGE=s3://$(field bucket)/videos
ANB_QUEUE=$(field queue_url)
ANB_DLQ=$(field dlq_url)
ANB_QUEUE_VISIBILITY_SECS=$(field visibility_secs)
ANB_JWT_SECRET=$jwt_secret
ANB_BIND=0.0.0.0:8080
# Only the load balancer reaches 8080 (its security group): the last X-Forwarded-For entry,
# which it appends, is the client's address for the login throttle.
ANB_TRUST_FORWARDED_FOR=true
ANB_WORKER_CONCURRENCY=$(field worker_concurrency)
ANB_DATA_DIR=/var/lib/aforo
ANB_INSTANCE_ID=$AFORO_INSTANCE_ID
AWS_REGION=$AWS_REGION
RUST_LOG=info
ENV
fi
umask 022

log "writing $unit"
install -d -m 0755 "$root/etc/systemd/system"
cat > "$root/etc/systemd/system/$unit" <<UNIT
[Unit]
Description=aforo $role (target-stack $command)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=$release/bin/target-stack $command
EnvironmentFile=/etc/aforo/aforo.env
DynamicUser=yes
StateDirectory=aforo
WorkingDirectory=/var/lib/aforo
Restart=always
RestartSec=2
# The worker finishes or releases its tasks on SIGTERM; a killed one is delivered again.
TimeoutStopSec=120
LimitNOFILE=65536
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
UNIT

log "writing the CloudWatch agent's configuration"
agent=/opt/aws/amazon-cloudwatch-agent
install -d -m 0755 "$root$agent/etc"
cat > "$root$agent/etc/amazon-cloudwatch-agent.json" <<'AGENT'
{
  "agent": { "metrics_collection_interval": 60 },
  "metrics": {
    "namespace": "CWAgent",
    "append_dimensions": { "AutoScalingGroupName": "${aws:AutoScalingGroupName}", "InstanceId": "${aws:InstanceId}" },
    "aggregation_dimensions": [["AutoScalingGroupName"]],
    "metrics_collected": {
      "mem": { "measurement": ["mem_used_percent"] },
      "disk": { "measurement": ["used_percent"], "resources": ["/"] }
    }
  }
}
AGENT
if [ "${AFORO_SKIP_PACKAGES:-}" != 1 ]; then
  "$agent/bin/amazon-cloudwatch-agent-ctl" -a fetch-config -m ec2 -s \
    -c "file:$agent/etc/amazon-cloudwatch-agent.json"
fi

log "starting $unit ($("$root$release/bin/target-stack" --version))"
"$systemctl" daemon-reload
"$systemctl" enable --now "$unit"
