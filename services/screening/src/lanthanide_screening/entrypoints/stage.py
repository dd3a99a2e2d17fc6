"""The Kafka stages: application.accepted (and decisions) in, screening.completed out.

Two consumer groups: the service group reads accepted applications and decisions (same key,
same partition numbers, so with per-instance SQLite stores the instance that screened a case
also sees its decision); a per-instance group reads reference updates, so every instance
reloads its lists and re-screens the cases it holds; another per-instance group reads review's
dispositions (issue 14.1), so every instance suppresses the same hits.

The service group is a lanthanide.kafka.register_stage (records handled one after another,
undecodable records and data errors dead-lettered, outputs published with acks=all, offsets
committed only after that) whose batches run inside `Screening.batch()`: the store writes of
the whole batch are made in one transaction before the outputs are published, instead of a
committed transaction (or two) per record. A crash before that transaction commits redelivers
the batch, and the writes are made again.
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from lanthanide.kafka import register_stage
from lanthanide.topics import Topics

from lanthanide_screening.bootstrap import Screening
from lanthanide_screening.settings import ScreeningSettings

SERVICE = "screening"


def register(broker: KafkaBroker, screening: Screening, settings: ScreeningSettings) -> None:
    """Subscribe both stages."""
    register_stage(
        broker,
        topics=[settings.topic(Topics.APPLICATIONS_ACCEPTED), settings.topic(Topics.DECISIONS)],
        group_id=settings.group_id,
        service=SERVICE,
        handle=screening.handle,
        settings=settings.kafka,
        batch_scope=screening.batch,  # the store is written once per batch, before publishing
    )
    register_stage(
        broker,
        topics=[settings.topic(Topics.REFERENCE_UPDATES)],
        group_id=f"{settings.group_id}-reference-{settings.instance}",
        service=SERVICE,
        handle=screening.handle_reference,
        settings=settings.kafka,
    )
    # Review's dispositions: per instance too, so every instance's cache (and store) has them.
    register_stage(
        broker,
        topics=[settings.topic(Topics.DISPOSITIONS)],
        group_id=f"{settings.group_id}-dispositions-{settings.instance}",
        service=SERVICE,
        handle=screening.handle_disposition,
        settings=settings.kafka,
    )
