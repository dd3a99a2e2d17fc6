"""Generate the compose stack's secrets into a directory (default deploy/secrets/, never committed).

    python deploy/compose/make_secrets.py [DIR]      # `make compose-secrets`

Creates only what is missing (running it again keeps every password, which the Kafka and
PostgreSQL volumes remember), with random values:
  postgres_password                 PostgreSQL's superuser (the postgres container only)
  db/<service>                      each service's own database role (screening, review, notification, audit)
  kafka-users/<principal>           a SCRAM password per principal of deploy/kafka/acls.yaml, and admin's
  kafka-tls/ca.pem, broker.p12, store-password
                                    a CA and the broker's key pair for the SASL_SSL host listener
                                    (SAN 127.0.0.1 and localhost, 30 days; needs keytool from Java 17+)
  intake_api_keys.json, review_tokens.json, notification_webhook_secret
                                    one intake API key, one reviewer token (user alice), the webhook key
  audit_ledger_key, audit_checkpoint_signing_key
                                    the audit ledger's MAC key and checkpoint signing key
Files are mode 0644, DIR itself 0711 (its sub-directories 0755): the containers' users (kafka uid 1000, postgres,
the services' uid 10001) read them through compose secrets and bind mounts.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import lanthanide_kafka_runner as kafka_runner
from lanthanide.kafka_secure import ADMIN, load_acls

REPO = Path(__file__).resolve().parents[2]

#: The services that keep a database (intake keeps none).
DB_SERVICES = ("screening", "review", "notification", "audit")


def _write(path: Path, text: str) -> bool:
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o644)
    return True


def generate(root: Path) -> list[Path]:
    """Write every missing secret under `root`; return the files written."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o711)
    made: list[Path] = []
    for sub in ("db", "kafka-users", "kafka-tls"):
        (root / sub).mkdir(exist_ok=True)
        (root / sub).chmod(0o755)  # the broker lists kafka-users/

    def put(rel: str, text: str) -> None:
        if _write(root / rel, text):
            made.append(root / rel)

    def token() -> str:
        return secrets.token_hex(16)

    put("postgres_password", token())
    for svc in DB_SERVICES:
        put(f"db/{svc}", token())
    for principal in (ADMIN, *load_acls(REPO / "deploy" / "kafka" / "acls.yaml").principals):
        put(f"kafka-users/{principal}", token())
    put("intake_api_keys.json", json.dumps({token(): "compose"}) + "\n")
    put("review_tokens.json", json.dumps({token(): {"user": "alice", "roles": ["reviewer"]}}) + "\n")
    put("notification_webhook_secret", token())
    # the audit ledger's MAC key and checkpoint signing key (kept outside its database)
    put("audit_ledger_key", secrets.token_hex(32))
    put("audit_checkpoint_signing_key", secrets.token_hex(32))

    tls = root / "kafka-tls"
    if not (tls / "broker.p12").exists():
        store_password = token()
        kafka_runner.generate_tls_material(tls, store_password)
        for name in ("ca.pem", "broker.p12", "store-password"):
            (tls / name).chmod(0o644)
            made.append(tls / name)
        for leftover in ("broker.csr", "broker.pem"):
            (tls / leftover).unlink(missing_ok=True)
    return made


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else REPO / "deploy" / "secrets"
    made = generate(root)
    print(f"{len(made)} secret files written under {root}" if made else f"every secret already in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
