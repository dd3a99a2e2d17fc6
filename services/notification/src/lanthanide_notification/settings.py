"""Settings of the notification service (LANTHANIDE_NOTIFICATION_* environment variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from lanthanide.auth import TokenSettings
from lanthanide.settings import ServiceSettings
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from lanthanide_notification import SERVICE
from lanthanide_notification.domain.retry import ATTEMPT_DEADLINE_SECONDS, RetryPolicy, claim_lease_seconds


class NotificationSettings(ServiceSettings, TokenSettings):
    """Where to store deliveries, how to sign and retry webhooks, how to reach the SMTP server."""

    model_config = SettingsConfigDict(env_prefix="LANTHANIDE_NOTIFICATION_", extra="ignore")

    store_name = SERVICE

    group_id: str = "lanthanide-notification"
    subscriptions_file: Path | None = None

    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key for X-Lanthanide-Signature; required to sign webhooks"
    )
    webhook_timeout_seconds: float = 10.0
    webhook_per_host_limit: int = Field(default=4, ge=1)
    #: Networks (CIDR) an applicant's webhook may resolve to although they are loopback, private
    #: or link-local: internal receivers an operator admits on purpose. Comma-separated or JSON.
    webhook_allow_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Total time one delivery attempt may take (resolve, connect, send, read the bounded answer).
    webhook_attempt_deadline_seconds: float = Field(default=ATTEMPT_DEADLINE_SECONDS, gt=0)
    #: At most this much of a receiver's answer is read (raw, never decompressed).
    webhook_max_response_bytes: int = Field(default=4096, ge=0)
    retry_attempts: int = Field(default=5, ge=1)
    retry_base_delay_seconds: float = Field(default=0.5, ge=0)
    retry_max_delay_seconds: float = Field(default=30.0, ge=0)
    #: Persisted retries after the quick ones (YAML: version, source, delays); default: the
    #: package's data/retry_schedule.yaml (30 s, 2 min, 10 min, 1 h, 4 h, 12 h, then failed).
    retry_schedule_file: Path | None = None
    #: How often the delivery worker looks for due deliveries in the store when nothing wakes
    #: it (a consumed batch, a replay and every delivery that ends do).
    retry_worker_interval_seconds: float = Field(default=5.0, gt=0)
    #: At most this many deliveries under way in one process (per host: webhook_per_host_limit).
    deliveries_in_flight: int = Field(default=100, ge=1)

    smtp_host: str | None = Field(default=None, description="SMTP server; none = e-mail disabled")
    smtp_port: int = 25
    smtp_sender: str = "Lanthanide <no-reply@lanthanide.local>"
    smtp_use_tls: bool = False
    smtp_start_tls: bool | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None

    @field_validator("webhook_allow_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import orjson

                return orjson.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("webhook_allow_networks")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not a network in CIDR form (e.g. 127.0.0.1/32)") from None
        return value

    def delivery_lease(self) -> float:
        """Seconds the delivery worker's claim on a delivery lasts (how long the delivery of a
        process that died waits for another instance): the longest round of attempts (the retry
        policy's attempts, each to the attempt deadline, and the waits between them) plus a margin
        (domain.retry.claim_lease_seconds)."""
        return claim_lease_seconds(self.retry_policy(), self.webhook_attempt_deadline_seconds)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.retry_attempts,
            base_delay=self.retry_base_delay_seconds,
            max_delay=self.retry_max_delay_seconds,
        )
