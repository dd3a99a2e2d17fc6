"""Review settings, from LANTHANIDE_REVIEW_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lanthanide.auth import TokenGrant, TokenSettings
from lanthanide.settings import ServiceSettings
from pydantic import Field, SecretStr
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
    #: Signs the reviewer console's session cookie; unset: a random key per process.
    console_session_secret: SecretStr | None = None
    #: The console cookie is sent over HTTPS only (false only for a loopback test stack).
    console_cookie_secure: bool = True
    console_session_minutes: int = Field(default=480, gt=0)

    def console_options(self) -> Any:
        """The console's cookie options (a ConsoleOptions; imported here, not at module top)."""
        from lanthanide_review.entrypoints.console import ConsoleOptions

        opts = ConsoleOptions(cookie_secure=self.console_cookie_secure, session_minutes=self.console_session_minutes)
        if self.console_session_secret is not None:
            opts.session_secret = self.console_session_secret.get_secret_value()
        return opts
