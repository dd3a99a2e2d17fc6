"""Wires the intake service once: settings, broker, stage, HTTP app."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from lanthanide.events import EventFactory
from lanthanide.kafka import ensure_topics, make_broker, publisher_for
from lanthanide.runtime import ServiceApp
from lanthanide.topics import dlq

from lanthanide_intake.entrypoints import http, stage
from lanthanide_intake.settings import IntakeSettings


@dataclass
class Intake:
    settings: IntakeSettings
    broker: KafkaBroker
    http_app: FastAPI
    #: The topics it consumes: the shared one and each Kafka submitter's own.
    inputs: list[str] = field(default_factory=list)


def bootstrap(settings: IntakeSettings | None = None) -> Intake:
    settings = settings or IntakeSettings()
    broker = make_broker(settings.kafka, f"intake-{settings.instance}")
    events = EventFactory("intake", instance=settings.instance)
    inputs = stage.register(broker, settings, events)
    app = http.create_app(settings, publisher_for(broker, settings.kafka, "intake-publisher"), events)
    return Intake(settings, broker, app, inputs)


def service_app(settings: IntakeSettings | None = None) -> ServiceApp:
    """The intake process as lanthanide.runtime runs it: stage and HTTP submit."""
    svc = bootstrap(settings)

    async def submitter_topics() -> None:
        # The catalogue's topics are ensured by run_service; the Kafka submitters' own topics
        # are this deployment's data (on a secured cluster the administrator creates them).
        await ensure_topics(svc.settings.kafka, [*svc.inputs, *(dlq(t) for t in svc.inputs)])

    return ServiceApp(
        name="intake", broker=svc.broker, kafka=svc.settings.kafka, http_app=svc.http_app,
        http_host=svc.settings.http_host, http_port=svc.settings.http_port, on_startup=[submitter_topics],
    )
