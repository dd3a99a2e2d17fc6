"""The Kafka stages: application.accepted (and decisions) in, screening.completed out.

Two consumer groups: the service group reads accepted applications and decisions (same key,
same partition numbers, so with per-instance SQLite stores the instance that screened a case
also sees its decision); a per-instance group reads reference updates, so every instance
reloads its lists and re-screens the cases it holds.
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from lanthanide.kafka import register_stage
from lanthanide.topics import Topics

from lanthanide_screening.bootstrap import Screening
from lanthanide_screening.settings import ScreeningSettings


def register(broker: KafkaBroker, screening: Screening, settings: ScreeningSettings) -> None:
    """Subscribe both stages."""
    register_stage(
        broker,
        topics=[settings.topic(Topics.APPLICATIONS_ACCEPTED), settings.topic(Topics.DECISIONS)],
        group_id=settings.group_id,
        service="screening",
        handle=screening.handle,
        settings=settings.kafka,
    )
    register_stage(
        broker,
        topics=[settings.topic(Topics.REFERENCE_UPDATES)],
        group_id=f"{settings.group_id}-reference-{settings.instance}",
        service="screening",
        handle=screening.handle_reference,
        settings=settings.kafka,
    )
