"""Wires the intake service once: settings, broker, stage, HTTP app."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from lanthanide.events import EventFactory
from lanthanide.kafka import make_broker, publisher_for
from lanthanide.runtime import ServiceApp

from lanthanide_intake.entrypoints import http, stage
from lanthanide_intake.settings import IntakeSettings


@dataclass
class Intake:
    settings: IntakeSettings
    broker: KafkaBroker
    http_app: FastAPI


def bootstrap(settings: IntakeSettings | None = None) -> Intake:
    settings = settings or IntakeSettings()
    broker = make_broker(settings.kafka, f"intake-{settings.instance}")
    events = EventFactory("intake", instance=settings.instance)
    stage.register(broker, settings, events)
    app = http.create_app(settings, publisher_for(broker, settings.kafka, "intake-publisher"), events)
    return Intake(settings, broker, app)


def service_app(settings: IntakeSettings | None = None) -> ServiceApp:
    """The intake process as lanthanide.runtime runs it: stage and HTTP submit."""
    svc = bootstrap(settings)
    return ServiceApp(
        name="intake", broker=svc.broker, kafka=svc.settings.kafka, http_app=svc.http_app,
        http_host=svc.settings.http_host, http_port=svc.settings.http_port,
    )
