"""Review settings, from LANTHANIDE_REVIEW_* environment variables."""

from __future__ import annotations

from pathlib import Path

from lanthanide.settings import ServiceSettings
from lanthanide.topics import Topics
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict


class TokenGrant(BaseModel):
    """Who a bearer token stands for."""

    user: str = Field(min_length=1)
    roles: list[str] = Field(default_factory=list)


class ReviewSettings(ServiceSettings):
    """Settings of the review service. Tokens and conflicts are JSON in the environment."""

    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_REVIEW_", extra="ignore")

    db_url: str | None = Field(default=None, description="Async SQLAlchemy URL; default SQLite file")
    http_host: str = "127.0.0.1"
    http_port: int = 8082
    #: Largest request body the reviewer API reads (413 above it).
    max_body_bytes: int = Field(default=64_000, gt=0)
    group_id: str = "lanthanide-review"
    #: Prepended to every topic name (isolates tests sharing one broker); empty in production.
    topic_prefix: str = ""
    #: {"token": {"user": "alice", "roles": ["reviewer"]}}. No default tokens: none are committed.
    tokens: dict[str, TokenGrant] = Field(default_factory=dict)
    #: {"alice": ["Exporter Name Co., Ltd."]}: users who must not decide cases of these exporters.
    conflicts: dict[str, list[str]] = Field(default_factory=dict)
    policy_file: Path | None = None
    outbox_interval_s: float = Field(default=1.0, gt=0)
    sla_interval_s: float = Field(default=60.0, gt=0)
    timezone: str = "Asia/Shanghai"

    def database_url(self) -> str:
        return self.db_url or self.sqlite_url("review")

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def input_topics(self) -> list[str]:
        return [self.topic(Topics.SCREENING_COMPLETED), self.topic(Topics.SHIPMENTS_REPORTED)]
