"""The Kafka stages: application.accepted (and decisions) in, screening.completed out.

Three consumer groups, derived from the registry of service_layer/handlers.py (EVENT_HANDLERS):
the service group reads accepted applications and decisions (same key,
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

from lanthanide_screening.service_layer.handlers import DISPOSITIONS, MAIN, REFERENCE, Group, Screening, subscriptions
from lanthanide_screening.settings import ScreeningSettings

SERVICE = "screening"


def group_id(settings: ScreeningSettings, group: Group) -> str:
    """The consumer group id: the service's group for MAIN, one per instance for the others."""
    if group is MAIN:
        return settings.group_id
    return f"{settings.group_id}-{group.name}-{settings.instance}"


def register(broker: KafkaBroker, screening: Screening, settings: ScreeningSettings) -> None:
    """Subscribe one stage per consumer group of the registry (service_layer/handlers.py
    EVENT_HANDLERS), each on the catalogue topics its payload types arrive on."""
    handlers = {
        MAIN: screening.handle,
        REFERENCE: screening.handle_reference,
        DISPOSITIONS: screening.handle_disposition,
    }
    for group, topics in subscriptions().items():
        register_stage(
            broker,
            topics=[settings.topic(t) for t in topics],
            group_id=group_id(settings, group),
            service=SERVICE,
            handle=handlers[group],
            settings=settings.kafka,
            # The main group's store writes are made once per batch, before its outputs are published.
            batch_scope=screening.batch if group is MAIN else None,
        )
