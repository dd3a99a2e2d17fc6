"""The Kafka stage: application.accepted in, screening.completed out (commit after produce)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from lanthanide.kafka import register_stage
from lanthanide.topics import Topics

from lanthanide_screening.bootstrap import Screening
from lanthanide_screening.settings import ScreeningSettings


def register(broker: KafkaBroker, screening: Screening, settings: ScreeningSettings) -> None:
    """Subscribe the screening handler as consumer group `settings.group_id`."""
    register_stage(
        broker,
        topics=[settings.topic(Topics.APPLICATIONS_ACCEPTED), settings.topic(Topics.REFERENCE_UPDATES),
                settings.topic(Topics.DECISIONS)],
        group_id=settings.group_id,
        service="screening",
        handle=screening.handle,
        settings=settings.kafka,
    )
