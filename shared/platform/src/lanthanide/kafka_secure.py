"""Kafka as a trust boundary: one principal per service, least-privilege ACLs as data
(deploy/kafka/acls.yaml), and the command that applies them.

    python -m lanthanide.kafka_secure apply deploy/kafka/acls.yaml   # as the admin principal
    python -m lanthanide.kafka_secure show deploy/kafka/acls.yaml    # the bindings, no broker

The admin's connection comes from the usual LANTHANIDE_KAFKA_* settings (README "Security").
`apply` also creates the catalogue's topics (services have no Create right on a secured cluster).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import yaml
from aiokafka.protocol.admin import CreateAclsRequest
from lanthanide.settings import KafkaSettings
from lanthanide.topics import PREFIX, all_topics_with_dlq, dlq, submitter_topic
from pydantic import BaseModel, ConfigDict, Field

#: The services, each its own principal (user name = service name).
SERVICE_PRINCIPALS = ("intake", "screening", "review", "notification", "audit")
#: Outside clients: upstream systems, operators, downstream subscribers, auditors.
CLIENT_PRINCIPALS = ("submitter", "operator", "subscriber", "auditor")
ADMIN = "admin"


class _Resource(IntEnum):  # Kafka's ResourceType codes
    TOPIC = 2
    GROUP = 3


class _Pattern(IntEnum):  # Kafka's PatternType codes
    LITERAL = 3
    PREFIXED = 4


class _Operation(IntEnum):  # Kafka's AclOperation codes
    READ = 3
    WRITE = 4
    DESCRIBE = 8


_ALLOW = 3


class PrincipalAcl(BaseModel):
    """What one principal may do: topics it reads, topics it writes, consumer-group prefixes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


class AclFile(BaseModel):
    """deploy/kafka/acls.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(1, ge=1, le=1)
    principals: dict[str, PrincipalAcl]
    #: Upstream systems that submit over Kafka, each a principal of the same name. Each may
    #: write only its own topic `applications.submitted.<name>` (LITERAL); intake reads it and
    #: writes its DLQ, the operator reads that DLQ. Which exporters each may submit for is
    #: intake's setting LANTHANIDE_INTAKE_KAFKA_SUBMITTERS (README "Security").
    submitters: tuple[str, ...] = ()

    def submitter_topics(self) -> tuple[str, ...]:
        """The submitters' own topics and their DLQs (full names), to create up front."""
        topics = [submitter_topic(name) for name in self.submitters]
        return (*topics, *(dlq(t) for t in topics))


@dataclass(frozen=True, slots=True, order=True)
class Binding:
    """One ALLOW ACL: principal may `operation` the resource (topic or group) named `name`."""

    principal: str
    resource: str
    name: str
    pattern: str
    operation: str


def load_acls(path: str | os.PathLike[str]) -> AclFile:
    """Read and validate an ACL file; unknown topics are refused, naming the principal."""
    data = yaml.safe_load(Path(path).read_text())
    acls = AclFile.model_validate(data)
    known = {t.removeprefix(f"{PREFIX}.") for t in all_topics_with_dlq()}
    for name, acl in acls.principals.items():
        unknown = sorted({*acl.read, *acl.write} - known)
        if unknown:
            raise ValueError(f"{path}: principal {name!r}: unknown topics {unknown} (see lanthanide.topics)")
    for name in acls.submitters:
        if name not in acls.principals:
            raise ValueError(f"{path}: submitter {name!r} is not a principal; add it under principals")
        try:
            submitter_topic(name)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return acls


def bindings(acls: AclFile, topic_prefix: str = f"{PREFIX}.") -> list[Binding]:
    """The ACL file as Kafka ACL bindings (sorted, without duplicates)."""
    out: set[Binding] = set()
    for principal, acl in acls.principals.items():
        user = f"User:{principal}"
        for topic in acl.read:
            for op in ("READ", "DESCRIBE"):
                out.add(Binding(user, "TOPIC", topic_prefix + topic, "LITERAL", op))
        for topic in acl.write:
            for op in ("WRITE", "DESCRIBE"):
                out.add(Binding(user, "TOPIC", topic_prefix + topic, "LITERAL", op))
        for group in acl.groups:
            for op in ("READ", "DESCRIBE"):
                out.add(Binding(user, "GROUP", group, "PREFIXED", op))
    for name in acls.submitters:
        # LITERAL, never PREFIXED: a submitter named "acme" must not reach "acme-b"'s topic.
        topic = topic_prefix + submitter_topic(name).removeprefix(f"{PREFIX}.")
        for principal, ops, on in (
            (name, ("WRITE", "DESCRIBE"), topic),
            ("intake", ("READ", "DESCRIBE"), topic),
            ("intake", ("WRITE", "DESCRIBE"), dlq(topic)),
            ("operator", ("READ", "DESCRIBE"), dlq(topic)),
        ):
            if principal in acls.principals:
                for op in ops:
                    out.add(Binding(f"User:{principal}", "TOPIC", on, "LITERAL", op))
    return sorted(out)


async def apply_acls(admin_settings: KafkaSettings, acls: AclFile) -> int:
    """Create every binding of `acls` on the cluster (idempotent); returns how many were sent.

    aiokafka's admin client has no ACL method, so the CreateAcls request it ships is sent
    through the admin connection (one binding per request: aiokafka's request builder takes
    one); Kafka answers a binding that exists already with success."""
    from lanthanide.kafka import make_admin

    admin = make_admin(admin_settings, "acls")
    await admin.start()
    sent = 0
    try:
        for b in bindings(acls):
            request = CreateAclsRequest(
                _Resource[b.resource].value, b.name, _Pattern[b.pattern].value, b.principal, "*",
                _Operation[b.operation].value, _ALLOW,
            )
            response = await admin._send_request(request)  # private: aiokafka has no public ACL API
            for error_code, error_message in response.creation_responses:
                if error_code:
                    raise RuntimeError(f"CreateAcls {b}: error {error_code} {error_message}")
            sent += 1
    finally:
        await admin.close()
    return sent


async def prepare_cluster(admin_settings: KafkaSettings, acls: AclFile) -> int:
    """What an administrator does once per secured cluster: the topics, then the ACLs."""
    from lanthanide.kafka import ensure_topics

    await ensure_topics(admin_settings, [*all_topics_with_dlq(), *acls.submitter_topics()])
    return await apply_acls(admin_settings, acls)


def new_passwords(names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Fresh random passwords (alphanumeric, 32 hex digits) for the admin and `names`."""
    return {name: secrets.token_hex(16) for name in (ADMIN, *names)}


@dataclass
class Credentials:
    """How each principal reaches a secured cluster: the connection settings and its password."""

    bootstrap_servers: str
    security_protocol: str
    passwords: dict[str, str]
    ca_file: Path | None = None
    sasl_mechanism: str = "SCRAM-SHA-512"
    extra: dict[str, Any] = field(default_factory=dict)
    #: Principals that are upstream submitters (AclFile.submitters): their settings and env
    #: publish applications to their own topic.
    submitters: tuple[str, ...] = ()

    def settings(self, principal: str, **overrides: Any) -> KafkaSettings:
        """KafkaSettings of `principal` (KeyError if it has no password)."""
        values: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_username": principal,
            "sasl_password": self.passwords[principal],
            "ssl_cafile": self.ca_file,
            "submitter": principal if principal in self.submitters else None,
            **self.extra,
            **overrides,
        }
        return KafkaSettings(**values)

    def env(self, principal: str) -> dict[str, str]:
        """LANTHANIDE_KAFKA_* environment variables of `principal`, for a process."""
        env = {
            "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "LANTHANIDE_KAFKA_SECURITY_PROTOCOL": self.security_protocol,
            "LANTHANIDE_KAFKA_SASL_MECHANISM": self.sasl_mechanism,
            "LANTHANIDE_KAFKA_SASL_USERNAME": principal,
            "LANTHANIDE_KAFKA_SASL_PASSWORD": self.passwords[principal],
        }
        if self.ca_file is not None:
            env["LANTHANIDE_KAFKA_SSL_CAFILE"] = str(self.ca_file)
        if principal in self.submitters:
            env["LANTHANIDE_KAFKA_SUBMITTER"] = principal
        return env


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lanthanide.kafka_secure", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("apply", "create the topics and the ACLs (as the admin principal)"),
                       ("show", "print the ACL bindings the file stands for")):
        p = sub.add_parser(name, help=text)
        p.add_argument("file", nargs="?", default="deploy/kafka/acls.yaml")
    args = parser.parse_args(argv)
    try:
        acls = load_acls(args.file)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "show":
        for b in bindings(acls):
            print(f"{b.principal:<20} {b.operation:<9} {b.resource:<6} {b.pattern:<9} {b.name}")
        return 0
    count = asyncio.run(prepare_cluster(KafkaSettings(), acls))
    print(f"topics ensured, {count} ACL bindings applied for {len(acls.principals)} principals")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
