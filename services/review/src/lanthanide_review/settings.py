"""Review settings, from LANTHANIDE_REVIEW_* environment variables."""

from __future__ import annotations

from pathlib import Path

from lanthanide.auth import TokenGrant, TokenSettings
from lanthanide.settings import ServiceSettings
from lanthanide.topics import Topics
from pydantic import Field
from pydantic_settings import SettingsConfigDict

__all__ = ["ReviewSettings", "TokenGrant"]


class ReviewSettings(ServiceSettings, TokenSettings):
    """Settings of the review service. Tokens and conflicts are JSON in the environment."""

    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_REVIEW_", extra="ignore")

    store_name = "review"

    http_port: int | None = 8082
    #: Largest request body the reviewer API reads (413 above it).
    max_body_bytes: int = Field(default=64_000, gt=0)
    group_id: str = "lanthanide-review"
    #: {"alice": ["Exporter Name Co., Ltd."]}: users who must not decide cases of these exporters.
    conflicts: dict[str, list[str]] = Field(default_factory=dict)
    policy_file: Path | None = None
    outbox_interval_s: float = Field(default=1.0, gt=0)
    sla_interval_s: float = Field(default=60.0, gt=0)
    timezone: str = "Asia/Shanghai"

    @property
    def input_topics(self) -> list[str]:
        return [self.topic(Topics.SCREENING_COMPLETED), self.topic(Topics.SHIPMENTS_REPORTED)]
