"""Settings shared by every service, from LANTHANIDE_* environment variables (pydantic-settings)."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url

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


class LoggingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_LOG_", extra="ignore")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "console"] = "json"


class ServiceSettings(BaseSettings):
    """Base of each service's settings class; a service adds its own fields and env prefix."""

    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_", extra="ignore", populate_by_name=True)

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
                    parsed = make_url(url)
                    if parsed.username and parsed.password is None:
                        setattr(self, name, parsed.set(password=password).render_as_string(hide_password=False))
        return self

    def sqlite_url(self, service: str) -> str:
        """The embedded default store of a service: one SQLite file under the data dir."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"
