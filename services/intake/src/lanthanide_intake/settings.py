"""Intake settings (LANTHANIDE_INTAKE_*)."""

from __future__ import annotations

from lanthanide.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_INTAKE_", extra="ignore")

    store_name = "intake"

    group_id: str = "lanthanide-intake"
    http_port: int | None = 8081
    #: API keys allowed to POST applications: {"key": "client name"}. Empty = HTTP submit refused.
    api_keys: dict[str, str] = Field(default_factory=dict)
    max_body_bytes: int = 1_000_000
