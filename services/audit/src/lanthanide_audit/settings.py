"""Settings of the audit service (LANTHANIDE_AUDIT_* environment variables)."""

from __future__ import annotations

from lanthanide.settings import ServiceSettings
from lanthanide.topics import Topics
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from lanthanide_audit import GROUP_ID, SERVICE


class AuditSettings(ServiceSettings):
    """Where the ledger lives and which topics it reads."""

    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_AUDIT_", extra="ignore")

    group_id: str = GROUP_ID
    #: Prepended to every topic name; tests use it to share one broker without crosstalk.
    topic_prefix: str = ""
    db_url: str | None = Field(default=None, description="SQLAlchemy async URL; default SQLite under data_dir")
    #: 127.0.0.1 by default; 0.0.0.0 in a container, so probes and scrapes reach it.
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(default=None, description="Port of /healthz, /readyz, /verify; none = no HTTP")

    def store_url(self) -> str:
        """The ledger's database URL."""
        return self.db_url or self.sqlite_url(SERVICE)

    def input_topics(self) -> list[str]:
        """Every business topic of the catalogue (dead-letter topics are not business events)."""
        return [f"{self.topic_prefix}{t}" for t in Topics.all()]
