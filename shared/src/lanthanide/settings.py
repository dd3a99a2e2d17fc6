"""Settings shared by every service, from LANTHANIDE_* environment variables (pydantic-settings)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    def sqlite_url(self, service: str) -> str:
        """The embedded default store of a service: one SQLite file under the data dir."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"
