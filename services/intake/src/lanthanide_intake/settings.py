"""Intake settings (LANTHANIDE_INTAKE_*)."""

from __future__ import annotations

from lanthanide.settings import ServiceSettings
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict


class SubmitterGrant(BaseModel):
    """Who an API key stands for and which exporters it may submit for (operator data).

    `exporters` holds exporter keys (``uscc:9136...``) or exporter names; ``["*"]`` is an
    upstream system that submits for every exporter.
    """

    submitter: str = Field(min_length=1, max_length=100)
    exporters: list[str] = Field(min_length=1)

    def may_submit_for(self, exporter_key: str, exporter_name: str) -> bool:
        """Whether this submitter may submit (or resubmit) for the exporter."""
        wanted = {exporter_key.casefold(), " ".join(exporter_name.casefold().split())}
        return any(e == "*" or " ".join(e.casefold().split()) in wanted for e in self.exporters)


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_INTAKE_", extra="ignore")

    store_name = "intake"

    group_id: str = "lanthanide-intake"
    http_port: int | None = 8081
    #: API keys allowed to POST applications, each bound to the exporters it may submit for:
    #: {"key": {"submitter": "acme-erp", "exporters": ["uscc:91360700MA35XXXX1A"]}}. The older
    #: form {"key": "client name"} is an upstream system for every exporter. Empty = HTTP submit refused.
    api_keys: dict[str, SubmitterGrant | str] = Field(default_factory=dict)

    def grants(self) -> dict[str, SubmitterGrant]:
        """Every API key with its grant (the older string form read as every exporter)."""
        return {
            key: grant if isinstance(grant, SubmitterGrant) else SubmitterGrant(submitter=grant, exporters=["*"])
            for key, grant in self.api_keys.items()
        }
    max_body_bytes: int = 1_000_000
