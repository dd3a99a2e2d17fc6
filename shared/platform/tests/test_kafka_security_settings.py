"""Kafka security settings: complete or refused with the setting's name; passwords from files;
the same settings become FastStream's security object and aiokafka's options."""

from __future__ import annotations

from pathlib import Path

import pytest
from faststream.security import SASLPlaintext, SASLScram512
from lanthanide.kafka import client_options, security_of
from lanthanide.kafka_secure import bindings, load_acls
from lanthanide.settings import KafkaSettings
from lanthanide.testing.kafka import ACL_FILE
from pydantic import ValidationError


def test_sasl_without_username_or_password_names_the_missing_setting() -> None:
    with pytest.raises(ValidationError, match="LANTHANIDE_KAFKA_SASL_USERNAME"):
        KafkaSettings(security_protocol="SASL_PLAINTEXT")
    with pytest.raises(ValidationError, match="LANTHANIDE_KAFKA_SASL_PASSWORD"):
        KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_username="review")


def test_the_password_file_wins_and_reaches_both_client_kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "review.password"
    secret.write_text("from-the-file\n")
    monkeypatch.setenv("LANTHANIDE_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("LANTHANIDE_KAFKA_SASL_USERNAME", "review")
    monkeypatch.setenv("LANTHANIDE_KAFKA_SASL_PASSWORD", "from-the-env")
    monkeypatch.setenv("LANTHANIDE_KAFKA_SASL_PASSWORD_FILE", str(secret))
    settings = KafkaSettings()
    options = client_options(settings)
    assert options["sasl_plain_password"] == "from-the-file" and options["sasl_mechanism"] == "SCRAM-SHA-512"
    security = security_of(settings)
    assert isinstance(security, SASLScram512) and security.password == "from-the-file"
    assert not security.use_ssl
    assert "from-the" not in repr(settings)  # the secret never shows in a repr or a log line


def test_plain_over_tls_for_development(tmp_path: Path) -> None:
    settings = KafkaSettings(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="u",
                             sasl_password="p")
    security = security_of(settings)
    assert isinstance(security, SASLPlaintext) and security.use_ssl and security.ssl_context is not None
    assert client_options(settings)["security_protocol"] == "SASL_SSL"


def test_the_shipped_acls_give_decisions_to_review_alone() -> None:
    writers = {b.principal for b in bindings(load_acls(ACL_FILE))
               if b.operation == "WRITE" and b.name == "lanthanide.decisions"}
    assert writers == {"User:review"}


def test_an_acl_file_naming_an_unknown_topic_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "acls.yaml"
    bad.write_text("version: 1\nprincipals:\n  intake:\n    write: [decisons]\n")
    with pytest.raises(ValueError, match=r"intake.*decisons"):
        load_acls(bad)


def test_each_submitter_writes_its_own_topic_and_only_intake_the_shared_one(tmp_path: Path) -> None:
    acls = tmp_path / "acls.yaml"
    text = ACL_FILE.read_text().replace("submitters: [submitter]", "submitters: [submitter, acme]")
    text = text.replace("principals:\n", "principals:\n  acme:\n    description: a second upstream system\n", 1)
    acls.write_text(text)
    found = bindings(load_acls(acls))

    def who(operation: str, topic: str) -> set[str]:
        return {b.principal for b in found if b.operation == operation and b.name == topic}

    assert who("WRITE", "lanthanide.applications.submitted") == {"User:intake"}
    for name in ("submitter", "acme"):
        topic = f"lanthanide.applications.submitted.{name}"
        assert who("WRITE", topic) == {f"User:{name}"}
        assert who("READ", topic) == {"User:intake"}
        assert who("WRITE", f"{topic}.dlq") == {"User:intake"} and who("READ", f"{topic}.dlq") == {"User:operator"}
    # LITERAL only: no grant reaches another submitter's topic by a shared prefix.
    assert all(b.pattern == "LITERAL" for b in found if b.resource == "TOPIC")
    assert "lanthanide.applications.submitted.acme.dlq" in load_acls(acls).submitter_topics()


def test_a_submitter_must_be_a_principal_with_a_topic_name(tmp_path: Path) -> None:
    bad = tmp_path / "acls.yaml"
    bad.write_text("version: 1\nprincipals:\n  intake: {}\nsubmitters: [ghost]\n")
    with pytest.raises(ValueError, match=r"ghost.*not a principal"):
        load_acls(bad)
    bad.write_text("version: 1\nprincipals:\n  Big ERP: {}\nsubmitters: [Big ERP]\n")
    with pytest.raises(ValueError, match="Big ERP"):
        load_acls(bad)


def test_a_submitter_setting_names_its_own_topic_or_is_refused() -> None:
    from lanthanide.client import LanthanideClient

    assert LanthanideClient(settings=KafkaSettings(submitter="acme-erp")).submit_topic == (
        "lanthanide.applications.submitted.acme-erp")
    assert LanthanideClient(settings=KafkaSettings()).submit_topic == "lanthanide.applications.submitted"
    with pytest.raises(ValidationError, match="LANTHANIDE_KAFKA_SUBMITTER"):
        KafkaSettings(submitter="Acme ERP")
