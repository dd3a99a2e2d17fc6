"""How every Kafka client of the project connects: the Kafka settings (LANTHANIDE_KAFKA_*,
security included) and the one client factory (aiokafka producers, consumers, admin clients).

Part of the contracts library, so the Python client, the CLI and the services' platform make
their clients here alike: SASL and TLS settings apply to all of them. The services' FastStream
broker and their consume-transform-produce stage are lanthanide.kafka (the platform).
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import AliasChoices, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Where container platforms mount secrets (docker compose, Kubernetes conventions).
DEFAULT_SECRETS_DIR = Path("/run/secrets")

# The example secrets say "change-me"; a service must never start with one of them.
_PLACEHOLDER = re.compile(r"change[-_ .]?me|replace[-_ .]?me", re.IGNORECASE)


class PlaceholderSecretError(RuntimeError):
    """A setting still holds an example placeholder. Not a ValueError on purpose: pydantic would
    wrap that in a ValidationError that prints the start of the input, secrets included."""


def secrets_dir() -> Path | None:
    """The directory of secret files: LANTHANIDE_SECRETS_DIR, else /run/secrets when it exists.

    Each file is one setting, named like its environment variable (lanthanide_review_tokens);
    environment variables win over files.
    """
    given = os.environ.get("LANTHANIDE_SECRETS_DIR")
    if given:
        path = Path(given)
        if not path.is_dir():
            raise ValueError(f"LANTHANIDE_SECRETS_DIR: {path} is not a directory")
        return path
    return DEFAULT_SECRETS_DIR if DEFAULT_SECRETS_DIR.is_dir() else None


def placeholder_fields(value: Any, path: str) -> Iterator[str]:
    """Dotted paths of every string (or secret, dict key, list item) that is a placeholder.

    Paths name fields and positions only, never a dict key: keys can be secrets (API keys).
    """
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str):
        if _PLACEHOLDER.search(value):
            yield path
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from placeholder_fields(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, dict):
        for i, (key, item) in enumerate(value.items()):
            yield from placeholder_fields(key, f"{path}[key {i}]")
            yield from placeholder_fields(item, f"{path}[{i}]")
    elif isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(value):
            yield from placeholder_fields(item, f"{path}[{i}]")


class KafkaSettings(BaseSettings):
    """How to reach Kafka and how to produce. KAFKA_BOOTSTRAP_SERVERS is honoured as well."""

    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_KAFKA_", extra="ignore", populate_by_name=True)

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
    )
    partitions: int = 6
    replication_factor: int = 1
    acks: Literal["all", "1"] = "all"
    linger_ms: int = 5
    max_batch_records: int = 500
    #: How long a consumer waits for a batch to fill. FastStream also sleeps this long after an
    #: empty poll, so it bounds the latency an idle stage adds to each hop (it was 50 ms).
    batch_timeout_ms: int = 10
    client_id_prefix: str = "lanthanide"
    #: On SIGTERM, how long to let the batch in flight finish and commit before leaving anyway
    #: (e.g. the broker is gone). Nothing is lost: uncommitted input is redelivered and deduplicated.
    drain_timeout_seconds: float = 20.0
    #: The largest record a stage publishes (value + key + headers). Below the broker's
    #: message.max.bytes and the producer's max_request_size (1 MiB by default) with headroom for
    #: the record batch framing: an output over it is dead-lettered instead of stalling a partition.
    max_message_bytes: int = 1_000_000
    #: Dead-letter topics hold personal data (the original bytes): kept this long, then deleted
    #: by Kafka (retention.ms, set when the topic is created). 14 days: time to find and replay.
    dlq_retention_ms: int = 14 * 24 * 3600 * 1000

    # -- security (see README "Security"). PLAINTEXT only for a local quick start.
    security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = "PLAINTEXT"
    #: SCRAM-SHA-512 in production; PLAIN only for development (the password crosses the wire).
    sasl_mechanism: Literal["SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    #: A file holding the password (a mounted secret); read at start, wins over sasl_password.
    sasl_password_file: Path | None = None
    #: PEM bundle of the CA that signed the brokers' certificates (default: the system store).
    ssl_cafile: Path | None = None
    #: Client certificate and key (PEM) for brokers that require mutual TLS.
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True
    #: The upstream submitter a client (`lanthanide submit`, LanthanideClient.submit) publishes
    #: applications as: to its own topic lanthanide.applications.submitted.<submitter>, the only
    #: one its principal may write on a secured cluster. Unset: the shared
    #: lanthanide.applications.submitted (the open local broker of `make run`).
    submitter: str | None = None

    @model_validator(mode="after")
    def _submitter_makes_a_topic(self) -> KafkaSettings:
        if self.submitter is not None:
            from lanthanide.topics import submitter_topic

            try:
                submitter_topic(self.submitter)
            except ValueError as exc:
                raise ValueError(f"LANTHANIDE_KAFKA_SUBMITTER: {exc}") from None
        return self

    @model_validator(mode="after")
    def _credentials_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL_"):
            if not self.sasl_username:
                raise ValueError(
                    f"LANTHANIDE_KAFKA_SASL_USERNAME is required with security_protocol={self.security_protocol}"
                )
            if self.sasl_password is None and self.sasl_password_file is None:
                raise ValueError(
                    "LANTHANIDE_KAFKA_SASL_PASSWORD or LANTHANIDE_KAFKA_SASL_PASSWORD_FILE is required "
                    f"with security_protocol={self.security_protocol}"
                )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("LANTHANIDE_KAFKA_SSL_CERTFILE and LANTHANIDE_KAFKA_SSL_KEYFILE go together")
        return self

    def password(self) -> str | None:
        """The SASL password: the file's content (trailing newline stripped) or the setting."""
        if self.sasl_password_file is not None:
            try:
                return self.sasl_password_file.read_text().rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"LANTHANIDE_KAFKA_SASL_PASSWORD_FILE: cannot read {self.sasl_password_file}: "
                                 f"{exc.strerror}") from None
        return self.sasl_password.get_secret_value() if self.sasl_password is not None else None

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SASL_SSL", "SSL")



# --------------------------------------------------------------------------- client factory


def ssl_context_of(settings: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context for SASL_SSL/SSL (CA bundle, optional client certificate), else None."""
    if not settings.uses_tls:
        return None
    context = ssl.create_default_context(cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None)
    context.check_hostname = settings.ssl_check_hostname
    if settings.ssl_certfile is not None and settings.ssl_keyfile is not None:
        context.load_cert_chain(str(settings.ssl_certfile), str(settings.ssl_keyfile))
    return context


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """aiokafka keyword arguments for bootstrap servers and security (producer, consumer, admin)."""
    options: dict[str, Any] = {
        # A list, not the comma-separated string: FastStream wraps a string into a one-element
        # list and aiokafka then reads "h1:p1,h2:p2" as one host.
        "bootstrap_servers": [s.strip() for s in settings.bootstrap_servers.split(",") if s.strip()],
        "security_protocol": settings.security_protocol,
    }
    context = ssl_context_of(settings)
    if context is not None:
        options["ssl_context"] = context
    if settings.security_protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.password()
    return options


def make_producer(settings: KafkaSettings, client_id: str, **kwargs: Any) -> AIOKafkaProducer:
    """A plain aiokafka producer (CLI, clients, transactional use); acks=all, idempotent."""
    options: dict[str, Any] = {"acks": "all", "enable_idempotence": True, "linger_ms": settings.linger_ms}
    options.update(kwargs)
    return AIOKafkaProducer(
        client_id=f"{settings.client_id_prefix}-{client_id}", **client_options(settings), **options
    )


def make_consumer(settings: KafkaSettings, *topics: str, client_id: str, **kwargs: Any) -> AIOKafkaConsumer:
    """A plain aiokafka consumer (readers, the client's decision reader, tests, benchmarks)."""
    return AIOKafkaConsumer(
        *topics, client_id=f"{settings.client_id_prefix}-{client_id}", **client_options(settings), **kwargs
    )


def make_admin(settings: KafkaSettings, client_id: str = "admin") -> AIOKafkaAdminClient:
    """An aiokafka admin client (topic creation, ACLs)."""
    return AIOKafkaAdminClient(client_id=f"{settings.client_id_prefix}-{client_id}", **client_options(settings))
