"""Settings of the notification service (LANTHANIDE_NOTIFICATION_* environment variables)."""

from __future__ import annotations

from pathlib import Path

from lanthanide.settings import ServiceSettings
from lanthanide.topics import Topics
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from lanthanide_notification import SERVICE
from lanthanide_notification.domain.retry import RetryPolicy


class NotificationSettings(ServiceSettings):
    """Where to store deliveries, how to sign and retry webhooks, how to reach the SMTP server."""

    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_NOTIFICATION_", extra="ignore")

    group_id: str = "lanthanide-notification"
    #: Prepended to every topic name; tests use it to share one broker without crosstalk.
    topic_prefix: str = ""
    db_url: str | None = Field(default=None, description="SQLAlchemy async URL; default SQLite under data_dir")
    subscriptions_file: Path | None = None
    #: 127.0.0.1 by default; 0.0.0.0 in a container, so probes and scrapes reach it.
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(default=None, description="Port of /healthz, /readyz and /metrics; none = no HTTP")

    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key for X-Lanthanide-Signature; required to sign webhooks"
    )
    webhook_timeout_seconds: float = 10.0
    webhook_per_host_limit: int = Field(default=4, ge=1)
    retry_attempts: int = Field(default=5, ge=1)
    retry_base_delay_seconds: float = Field(default=0.5, ge=0)
    retry_max_delay_seconds: float = Field(default=30.0, ge=0)

    smtp_host: str | None = Field(default=None, description="SMTP server; none = e-mail disabled")
    smtp_port: int = 25
    smtp_sender: str = "Lanthanide <no-reply@lanthanide.local>"
    smtp_use_tls: bool = False
    smtp_start_tls: bool | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None

    def store_url(self) -> str:
        """The delivery log's database URL."""
        return self.db_url or self.sqlite_url(SERVICE)

    def topic(self, name: str) -> str:
        """A catalogue topic name with this deployment's prefix."""
        return f"{self.topic_prefix}{name}"

    def input_topics(self) -> list[str]:
        """The topics this service consumes."""
        return [
            self.topic(t)
            for t in (Topics.APPLICATIONS_ACCEPTED, Topics.APPLICATIONS_REJECTED,
                      Topics.CASE_EVENTS, Topics.DECISIONS)
        ]

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.retry_attempts,
            base_delay=self.retry_base_delay_seconds,
            max_delay=self.retry_max_delay_seconds,
        )
