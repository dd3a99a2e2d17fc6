"""Settings shared by every service, from LANTHANIDE_* environment variables (pydantic-settings).

The Kafka settings are the contracts library's (lanthanide.connection), shared with the Python
client and the CLI; `KafkaSettings` and `PlaceholderSecretError` are re-exported here for the
services."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, Literal

from lanthanide.connection import KafkaSettings as KafkaSettings
from lanthanide.connection import PlaceholderSecretError as PlaceholderSecretError
from lanthanide.connection import placeholder_fields, secrets_dir
from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)


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

    def topics(self, names: Iterable[str]) -> list[str]:
        """Catalogue topic names (a service's registry's `input_topics()`) with this deployment's prefix."""
        return [self.topic(name) for name in names]

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
                    from sqlalchemy.engine import make_url  # only with a store URL to fill (intake has none)

                    parsed = make_url(url)
                    if parsed.username and parsed.password is None:
                        setattr(self, name, parsed.set(password=password).render_as_string(hide_password=False))
        return self

    def sqlite_url(self, service: str) -> str:
        """The embedded default store of a service: one SQLite file under the data dir."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"
