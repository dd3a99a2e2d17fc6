#!/usr/bin/env bash
# make test-compose: the secured compose stack for real, on images built from Debian packages.
# Generates throw-away secrets (per-principal SCRAM passwords, per-service database roles, the
# broker's TLS material), validates the file (compose v2), builds every image
# (deploy/images/build.sh), starts the stack with screening scaled to two, submits the examples
# from the host through Kafka's SASL_SSL host listener as the submitter principal, waits for their
# decisions as the subscriber, checks the ACLs and the database roles refuse what they must,
# recreates the Kafka container and checks topics and committed offsets survived, then tears
# everything down (volumes too).
# Settings: DOCKER (CLI), LANTHANIDE_BUILD_CA_FILE (a CA bundle the image build must trust, e.g. a
# TLS-inspecting proxy's; default: the CAs added to this host in /usr/local/share/ca-certificates).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
DOCKER="${DOCKER:-docker}"
UV="${UV:-python3 -m uv}"
project="lanthanide-test-$$"
work="$(mktemp -d)"
start=$(date +%s)
log() { echo "[test-compose +$(( $(date +%s) - start ))s] $*" >&2; }

# The image build trusts the CAs this host added locally (a TLS-inspecting proxy's), or the file given.
if [ -n "${LANTHANIDE_BUILD_CA_FILE:-}" ]; then
  cp "$LANTHANIDE_BUILD_CA_FILE" deploy/build-ca/test-compose.crt
elif compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cat /usr/local/share/ca-certificates/*.crt > deploy/build-ca/test-compose.crt
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
secrets="$work/secrets"; chmod 755 "$work"
$UV run python deploy/compose/make_secrets.py "$secrets" >/dev/null
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
compose up -d --no-build --wait --wait-timeout 600 --scale screening=2
n=$(compose ps --status running -q screening | wc -l)
[ "$n" = 2 ] || { echo "expected 2 screening instances, got $n" >&2; exit 1; }

# The host's clients: SASL_SSL on the host listener, trusting the generated CA, one principal each.
export LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$kafka_port" LANTHANIDE_KAFKA_SECURITY_PROTOCOL=SASL_SSL \
  LANTHANIDE_KAFKA_SASL_MECHANISM=SCRAM-SHA-512 LANTHANIDE_KAFKA_SSL_CAFILE="$secrets/kafka-tls/ca.pem"
as() { LANTHANIDE_KAFKA_SASL_USERNAME="$1" LANTHANIDE_KAFKA_SASL_PASSWORD_FILE="$secrets/kafka-users/$1" "${@:2}"; }
log "submitting the examples from the host (SASL_SSL 127.0.0.1:$kafka_port, principal submitter)"
as submitter $UV run lanthanide submit --submitter submitter examples/applications.jsonl > "$work/submitted"
as subscriber $UV run lanthanide decisions --count 3 --timeout 180 > "$work/decisions"
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

log "checking the ACLs refuse what acls.yaml does not grant"
as subscriber $UV run python deploy/compose/refused.py write applications.submitted
# Only intake writes the shared topic; an upstream submitter writes its own topic only.
as submitter $UV run python deploy/compose/refused.py write applications.submitted
as submitter $UV run python deploy/compose/refused.py read decisions
as screening $UV run python deploy/compose/refused.py write decisions

log "checking each service's database role reaches its own database only"
psql_as() {  # role database sql
  compose exec -T -e PGPASSWORD="$(cat "$secrets/db/$1")" postgres \
    psql -h 127.0.0.1 -U "$1" -d "$2" -v ON_ERROR_STOP=1 -tAc "$3"
}
[ "$(psql_as audit audit "select count(*) > 0 from information_schema.tables where table_schema = 'public'")" = t ] \
  || { echo "audit's role sees no table in its database" >&2; exit 1; }
if psql_as review audit "select 1" >/dev/null 2>"$work/denied"; then
  echo "the review role could connect to audit's database" >&2; exit 1
fi
grep -q "permission denied for database" "$work/denied" || { cat "$work/denied" >&2; exit 1; }
psql_as review review "select 1" >/dev/null || { echo "the review role cannot reach its own database" >&2; exit 1; }
if psql_as review postgres "select 1" >/dev/null 2>&1; then
  echo "the review role could connect to the postgres database" >&2; exit 1
fi
echo "database roles: audit reads its tables, review is refused audit's database"

log "recreating the Kafka container"
as admin $UV run python deploy/compose/offsets.py > "$work/before.json"
old=$(compose ps -q kafka)
compose up -d --no-build --no-deps --force-recreate --wait --wait-timeout 600 kafka
new=$(compose ps -q kafka)
[ "$old" != "$new" ] || { echo "the Kafka container was not recreated" >&2; exit 1; }
as admin $UV run python deploy/compose/offsets.py > "$work/after.json"
python3 - "$work/before.json" "$work/after.json" <<'PY'
import json, sys
before, after = (json.load(open(p)) for p in sys.argv[1:])
assert before["topics"] and set(before["topics"]) <= set(after["topics"]), (before["topics"], after["topics"])
assert sum(before["screening_committed"].values()) > 0, before
assert before["screening_committed"] == after["screening_committed"], (before, after)
print(f"{len(after['topics'])} topics and {sum(after['screening_committed'].values())} committed offsets survived")
PY
log "passed; tearing down"
