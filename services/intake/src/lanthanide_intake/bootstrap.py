"""Wires the intake service once: settings, broker, stage, HTTP app."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from lanthanide.events import EventFactory
from lanthanide.kafka import Publisher, make_broker

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
    app = http.create_app(settings, Publisher(broker), events)
    return Intake(settings, broker, app, inputs)
