"""Intake settings (LANTHANIDE_INTAKE_*)."""

from __future__ import annotations

from lanthanide.settings import ServiceSettings
from lanthanide.topics import submitter_topic
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from lanthanide_intake.domain.submitters import SubmitterGrant

__all__ = ["IntakeSettings", "SubmitterGrant"]


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

    #: Upstream systems that submit over Kafka, each bound to the exporters it may submit for
    #: (exporter keys or names, ["*"] = every exporter): {"acme-erp": ["uscc:91360700MA35XXXX1A"]}.
    #: Intake reads each one's own topic lanthanide.applications.submitted.<name> (written only by
    #: the principal of that name, deploy/kafka/acls.yaml "submitters") and takes the submitter
    #: from the topic, never from the payload. Empty: only the shared topic is read.
    kafka_submitters: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("kafka_submitters")
    @classmethod
    def _submitter_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, exporters in value.items():
            submitter_topic(name)  # the name must make a topic name
            if not exporters:
                raise ValueError(f"Kafka submitter {name!r}: bind at least one exporter (or '*')")
        return value

    def kafka_grants(self) -> dict[str, SubmitterGrant]:
        """Each Kafka submitter's topic (with this deployment's prefix) and its grant."""
        return {
            self.topic(submitter_topic(name)): SubmitterGrant(submitter=name, exporters=exporters)
            for name, exporters in self.kafka_submitters.items()
        }

    max_body_bytes: int = 1_000_000
