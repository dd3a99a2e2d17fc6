"""Settings shared by every service, from LANTHANIDE_* environment variables (pydantic-settings)."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

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


class LoggingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_LOG_", extra="ignore")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "console"] = "json"


class ServiceSettings(BaseSettings):
    """Base of each service's settings class; a service adds its own fields and env prefix.

    The names every service shares are defined here once, read with the service's prefix:
    LANTHANIDE_<SERVICE>_DATABASE_URL, _HTTP_HOST, _HTTP_PORT, _TOPIC_PREFIX (and the global
    LANTHANIDE_DATA_DIR, LANTHANIDE_INSTANCE, LANTHANIDE_KAFKA_*, LANTHANIDE_LOG_*)."""

    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_", extra="ignore", populate_by_name=True)

    #: The store's file name under data_dir when no database_url is given (set by each service).
    store_name: ClassVar[str] = "service"
    #: Older names of shared settings, still read: {field: (env suffix, keyword)}.
    legacy_names: ClassVar[dict[str, tuple[str, str]]] = {"database_url": ("DB_URL", "db_url")}

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    data_dir: Path = Field(
        default=Path(".data"), validation_alias=AliasChoices("LANTHANIDE_DATA_DIR", "data_dir")
    )
    #: Distinguishes instances of one service (per-instance consumer groups, client ids). The
    #: hostname by default: stable across restarts and unique per container when scaled.
    instance: str = Field(
        default_factory=socket.gethostname, validation_alias=AliasChoices("LANTHANIDE_INSTANCE", "instance")
    )

    #: SQLAlchemy async URL of the service's store (sqlite+aiosqlite:// or postgresql+asyncpg://);
    #: none = a SQLite file under data_dir. The older LANTHANIDE_<SERVICE>_DB_URL is still read.
    database_url: str | None = None
    #: Where the service's HTTP API (health, readiness, metrics and its own routes) listens;
    #: http_port none = no HTTP server. 0.0.0.0 in a container.
    http_host: str = "127.0.0.1"
    http_port: int | None = None
    #: Prepended to every topic name (tests give each run its own topics on one broker); empty in production.
    topic_prefix: str = ""

    @model_validator(mode="before")
    @classmethod
    def _read_legacy_names(cls, data: Any) -> Any:
        """Keep the older per-service names working (the new name wins when both are set)."""
        if not isinstance(data, dict):
            return data
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, (suffix, keyword) in cls.legacy_names.items():
            if data.get(name) is None:
                old = data.get(keyword) or os.environ.get(f"{prefix}{suffix}")
                if old:
                    data = {**data, name: old}
        return data

    def topic(self, name: str) -> str:
        """A catalogue topic name with this deployment's prefix."""
        return f"{self.topic_prefix}{name}"

    def store_url(self) -> str:
        """The store's URL: database_url, else the SQLite file `<data_dir>/<store_name>.db`."""
        return self.database_url or self.sqlite_url(self.store_name)

    #: The store's password, kept out of the database URL (a compose secret mounted as
    #: /run/secrets/lanthanide_database_password): filled into a db_url/database_url that names a
    #: user but no password.
    database_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("LANTHANIDE_DATABASE_PASSWORD", "database_password")
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then environment, then secret files (secrets_dir() decided at each start)."""
        folder = secrets_dir()
        if folder is None:
            return init_settings, env_settings, dotenv_settings
        return init_settings, env_settings, dotenv_settings, SecretsSettingsSource(settings_cls, secrets_dir=folder)

    @model_validator(mode="after")
    def _secrets_are_real(self) -> ServiceSettings:
        found = list(placeholder_fields(self, ""))
        if found:
            raise PlaceholderSecretError(
                f"{type(self).__name__}: placeholder value (change-me) in {', '.join(found)}; "
                "set a real secret before starting"
            )
        password = self.database_password.get_secret_value() if self.database_password else None
        if password:
            for name in ("db_url", "database_url"):
                url = getattr(self, name, None)
                if isinstance(url, str) and not url.startswith("sqlite"):
                    from sqlalchemy.engine import make_url  # services only (the client has no SQLAlchemy)

                    parsed = make_url(url)
                    if parsed.username and parsed.password is None:
                        setattr(self, name, parsed.set(password=password).render_as_string(hide_password=False))
        return self

    def sqlite_url(self, service: str) -> str:
        """The embedded default store of a service: one SQLite file under the data dir."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"
