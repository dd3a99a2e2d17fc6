"""Wires the intake service once: settings, broker, stage, HTTP app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

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


def build(settings: IntakeSettings | None = None, *, broker: KafkaBroker | None = None) -> Intake:
    """Wire the intake service once: the stage on `broker` (made from settings unless given) and
    the HTTP submit API."""
    settings = settings or IntakeSettings()
    broker = broker or make_broker(settings.kafka, f"intake-{settings.instance}")
    events = EventFactory("intake", instance=settings.instance)
    inputs = stage.register(broker, settings, events)
    app = http.create_app(settings, publisher_for(broker, settings.kafka, "intake-publisher"), events)
    return Intake(settings, broker, app, inputs)


def bootstrap(
    settings: IntakeSettings | None = None,
    *,
    broker: KafkaBroker | None = None,
    store: object | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ServiceApp:
    """The intake process as lanthanide.runtime runs it: stage and HTTP submit. Every service's
    bootstrap takes the same arguments; intake keeps no store, and its one time (the envelope's,
    which dates an application) is the wall clock's and not injectable, so those two must stay None."""
    if store is not None or clock is not None:
        raise TypeError("intake keeps no store and its clock is not injectable: pass only settings and broker")
    svc = build(settings, broker=broker)

    async def submitter_topics() -> None:
        # The catalogue's topics are ensured by run_service; the Kafka submitters' own topics
        # are this deployment's data (on a secured cluster the administrator creates them).
        await ensure_topics(svc.settings.kafka, [*svc.inputs, *(dlq(t) for t in svc.inputs)])

    return ServiceApp(
        name="intake", broker=svc.broker, kafka=svc.settings.kafka, http_app=svc.http_app,
        http_host=svc.settings.http_host, http_port=svc.settings.http_port, on_startup=[submitter_topics],
    )


#: The name `__main__` and the tooling use (the same function).
service_app = bootstrap
