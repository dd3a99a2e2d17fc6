"""The secured compose stack's pieces that run without Docker: the compose file's wiring of one
Kafka principal and one database role per service, the secrets generator, and the PostgreSQL init
script on a real server (`make test-compose` runs all of it in containers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from lanthanide.kafka_secure import ADMIN, load_acls
from lanthanide.testing.postgres import find_pg_bin, real_postgres

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "deploy" / "docker-compose.yml"
SERVICES = ("intake", "screening", "review", "notification", "audit")
DB_SERVICES = ("screening", "review", "notification", "audit")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _secrets_of(service: dict[str, Any]) -> dict[str, str]:
    return {s["target"]: s["source"] for s in service.get("secrets", []) if isinstance(s, dict)}


def test_each_service_logs_in_to_kafka_as_its_own_principal(compose: dict[str, Any]) -> None:
    principals = load_acls(REPO / "deploy" / "kafka" / "acls.yaml").principals
    files = compose["secrets"]
    for name in SERVICES:
        svc = compose["services"][name]
        env = svc["environment"]
        assert env["LANTHANIDE_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", name
        assert env["LANTHANIDE_KAFKA_SASL_USERNAME"] == name and name in principals
        source = _secrets_of(svc)["lanthanide_kafka_sasl_password"]
        assert files[source]["file"].endswith(f"/kafka-users/{name}"), (name, source)
        assert env["LANTHANIDE_KAFKA_SASL_PASSWORD_FILE"] == "/run/secrets/lanthanide_kafka_sasl_password"
        assert svc["depends_on"]["kafka-acls"]["condition"] == "service_completed_successfully", name


def test_intake_reads_the_topic_of_every_kafka_submitter_of_the_acls(compose: dict[str, Any]) -> None:
    """A submitter the ACLs let write its own topic is one intake reads (else its submissions
    would wait unread), and the shared topic is intake's alone."""
    import json

    from lanthanide_intake.settings import IntakeSettings

    acls = load_acls(REPO / "deploy" / "kafka" / "acls.yaml")
    bound = json.loads(compose["services"]["intake"]["environment"]["LANTHANIDE_INTAKE_KAFKA_SUBMITTERS"])
    assert set(bound) == set(acls.submitters) and acls.submitters
    assert IntakeSettings(kafka_submitters=bound).kafka_submitters == bound
    writers = {name for name, acl in acls.principals.items() if "applications.submitted" in acl.write}
    assert writers == {"intake"}


def test_the_broker_is_secured_and_the_acls_are_applied_as_admin(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]["environment"]
    protocols = dict(e.split(":") for e in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert protocols == {"CONTROLLER": "SASL_PLAINTEXT", "INTERNAL": "SASL_PLAINTEXT", "HOST": "SASL_SSL"}
    assert kafka["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert kafka["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert kafka["KAFKA_SUPER_USERS"] == f"User:{ADMIN}"
    acls = compose["services"]["kafka-acls"]
    assert acls["command"][:4] == ["python", "-m", "lanthanide.kafka_secure", "apply"]
    assert acls["environment"]["LANTHANIDE_KAFKA_SASL_USERNAME"] == ADMIN
    assert any(v.startswith("./kafka/acls.yaml:") for v in acls["volumes"])


def test_each_service_connects_to_its_own_database_as_its_own_role(compose: dict[str, Any]) -> None:
    files = compose["secrets"]
    postgres = compose["services"]["postgres"]
    for name in DB_SERVICES:
        svc = compose["services"][name]
        (url,) = [v for k, v in svc["environment"].items() if k.endswith(("_DATABASE_URL", "_DB_URL"))]
        assert url == f"postgresql+asyncpg://{name}@postgres/{name}", url
        source = _secrets_of(svc)["lanthanide_database_password"]
        assert files[source]["file"].endswith(f"/db/{name}")
        assert source in postgres["secrets"]  # the init script makes the role with it
    assert not any("postgres_password" in _secrets_of(compose["services"][n]).values() for n in SERVICES)


def test_make_secrets_writes_every_principal_once(tmp_path: Path) -> None:
    cmd = [sys.executable, str(REPO / "deploy" / "compose" / "make_secrets.py"), str(tmp_path / "s")]
    subprocess.run(cmd, check=True, capture_output=True, timeout=180)
    root = tmp_path / "s"
    principals = {ADMIN, *load_acls(REPO / "deploy" / "kafka" / "acls.yaml").principals}
    assert {p.name for p in (root / "kafka-users").iterdir()} == principals
    assert {p.name for p in (root / "db").iterdir()} == set(DB_SERVICES)
    assert (root / "kafka-tls" / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert len({before[root / "kafka-users" / p] for p in principals}) == len(principals)  # all distinct
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=180).stdout
    assert "already" in out
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    assert oct(root.stat().st_mode & 0o777) == "0o711"


@pytest.mark.postgres
def test_postgres_init_gives_each_service_role_its_own_database_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg_bin = find_pg_bin()
    if pg_bin is None:
        pytest.skip("PostgreSQL binaries not found (apt-get install postgresql)")
    monkeypatch.delenv("LANTHANIDE_TEST_POSTGRES_URL", raising=False)  # roles are cluster-wide: own server
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for svc in DB_SERVICES:
        (secrets / f"db_{svc}").write_text(f"pw{svc}\n")
    with real_postgres() as url:
        user, hostport = url.removeprefix("postgresql://").split("/")[0].split("@")
        host, port = hostport.split(":")
        env = {**os.environ, "PGHOST": host, "PGPORT": port, "POSTGRES_USER": user,
               "POSTGRES_DB": "postgres", "DB_SECRETS_DIR": str(secrets),
               "PATH": f"{pg_bin}:{os.environ['PATH']}"}
        subprocess.run(["bash", str(REPO / "deploy" / "postgres-init.sh")], env=env, check=True,
                       capture_output=True, timeout=60)

        def psql(role: str, db: str, sql: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(pg_bin / "psql"), "-U", role, "-d", db, "-v", "ON_ERROR_STOP=1", "-tAc", sql],
                env=env, capture_output=True, text=True, timeout=30,
            )

        made = psql("audit", "audit", "create table ledger (n int); insert into ledger values (1); "
                                      "select count(*) from ledger")
        assert made.returncode == 0 and made.stdout.split()[-1] == "1", made.stderr
        for role, db in (("review", "audit"), ("review", "postgres"), ("screening", "review")):
            denied = psql(role, db, "select 1")
            assert denied.returncode != 0 and "permission denied for database" in denied.stderr, (role, db)
        owner = psql(user, "review", "select pg_get_userbyid(datdba) from pg_database where datname = 'review'")
        assert owner.stdout.strip() == "review"
