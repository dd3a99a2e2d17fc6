#!/usr/bin/env bash
# make test-compose: the compose stack for real, on images built from Debian packages.
# Validates the file (compose v2), builds every image (deploy/images/build.sh), starts the stack
# with screening scaled to two, submits the examples from the host through Kafka's host listener,
# waits for their decisions, recreates the Kafka container and checks topics and committed
# offsets survived, then tears everything down (volumes too).
# Settings: DOCKER (CLI), LANTHANIDE_BUILD_CA_FILE
# (a CA bundle the image build must trust, e.g. a TLS-inspecting proxy's).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
DOCKER="${DOCKER:-docker}"
UV="${UV:-python3 -m uv}"
project="lanthanide-test-$$"
work="$(mktemp -d)"
start=$(date +%s)
log() { echo "[test-compose +$(( $(date +%s) - start ))s] $*" >&2; }

[ -n "${LANTHANIDE_BUILD_CA_FILE:-}" ] && cp "$LANTHANIDE_BUILD_CA_FILE" deploy/build-ca/test-compose.crt

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
secrets="$work/secrets"; mkdir -p "$secrets"; chmod 755 "$work"; chmod 700 "$secrets"
rand() { python3 -c 'import secrets; print(secrets.token_hex(16))'; }
rand > "$secrets/postgres_password"
printf '{"%s": "test-compose"}\n' "$(rand)" > "$secrets/intake_api_keys.json"
printf '{"%s": {"user": "alice", "roles": ["reviewer"]}}\n' "$(rand)" > "$secrets/review_tokens.json"
rand > "$secrets/notification_webhook_secret"
python3 -c 'import secrets; print(secrets.token_hex(32))' > "$secrets/audit_ledger_key"
python3 -c 'import secrets; print(secrets.token_hex(32))' > "$secrets/audit_checkpoint_signing_key"
chmod 644 "$secrets"/*; chmod 711 "$secrets"
kafka_port=$(free_port)
cat > "$work/env" <<ENV
LANTHANIDE_SECRETS_DIR=$secrets
LANTHANIDE_KAFKA_HOST_PORT=$kafka_port
LANTHANIDE_INTAKE_HOST_PORT=$(free_port)
LANTHANIDE_REVIEW_HOST_PORT=$(free_port)
LANTHANIDE_NOTIFICATION_HOST_PORT=$(free_port)
LANTHANIDE_AUDIT_HOST_PORT=$(free_port)
ENV
compose() { $DOCKER compose -p "$project" --env-file "$work/env" -f deploy/docker-compose.yml "$@"; }
cleanup() {
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$work" deploy/build-ca/test-compose.crt
}
trap cleanup EXIT

log "validating the compose file"
compose config -q

log "building the images from Debian packages"
deploy/images/build.sh >> "$work/env"

log "starting the stack, screening x2"
compose up -d --no-build --wait --wait-timeout 300 --scale screening=2
n=$(compose ps --status running -q screening | wc -l)
[ "$n" = 2 ] || { echo "expected 2 screening instances, got $n" >&2; exit 1; }

export LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$kafka_port"
log "submitting the examples from the host (127.0.0.1:$kafka_port)"
$UV run lanthanide submit examples/applications.jsonl > "$work/submitted"
$UV run lanthanide decisions --count 3 --timeout 180 > "$work/decisions"
python3 - "$work/submitted" "$work/decisions" <<'PY'
import json, sys
cases = {line.split("\t")[1].strip() for line in open(sys.argv[1]) if "\t" in line and "invalid" not in line}
decisions = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]
outcomes = sorted(d["payload"]["outcome"] for d in decisions)
assert len(decisions) == 3, decisions
assert all(d["case_id"] in cases for d in decisions), "a decision for a case not submitted"
assert outcomes == ["denied", "denied", "no_licence_required"], outcomes
print("decisions:", outcomes)
PY

log "recreating the Kafka container"
$UV run python deploy/compose/offsets.py "127.0.0.1:$kafka_port" > "$work/before.json"
old=$(compose ps -q kafka)
compose up -d --no-build --no-deps --force-recreate --wait --wait-timeout 300 kafka
new=$(compose ps -q kafka)
[ "$old" != "$new" ] || { echo "the Kafka container was not recreated" >&2; exit 1; }
$UV run python deploy/compose/offsets.py "127.0.0.1:$kafka_port" > "$work/after.json"
python3 - "$work/before.json" "$work/after.json" <<'PY'
import json, sys
before, after = (json.load(open(p)) for p in sys.argv[1:])
assert before["topics"] and set(before["topics"]) <= set(after["topics"]), (before["topics"], after["topics"])
assert sum(before["screening_committed"].values()) > 0, before
assert before["screening_committed"] == after["screening_committed"], (before, after)
print(f"{len(after['topics'])} topics and {sum(after['screening_committed'].values())} committed offsets survived")
PY
log "passed; tearing down"
