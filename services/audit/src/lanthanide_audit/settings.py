"""Settings of the audit service (LANTHANIDE_AUDIT_* environment variables)."""

from __future__ import annotations

from lanthanide.auth import TokenSettings
from lanthanide.settings import ServiceSettings
from lanthanide.topics import Topics
from pydantic_settings import SettingsConfigDict

from lanthanide_audit import GROUP_ID, SERVICE


class AuditSettings(ServiceSettings, TokenSettings):
    """Where the ledger lives and which topics it reads."""

    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_AUDIT_", extra="ignore")

    store_name = SERVICE

    group_id: str = GROUP_ID

    def input_topics(self) -> list[str]:
        """Every business topic of the catalogue (dead-letter topics are not business events)."""
        return [self.topic(t) for t in Topics.all()]
