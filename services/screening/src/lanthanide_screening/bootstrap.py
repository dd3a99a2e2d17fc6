"""Wires the screening service once: settings, engine, store and the use cases
(service_layer/handlers.py), the broker with the stages, the HTTP API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from faststream.kafka import KafkaBroker
from lanthanide.kafka import ensure_topics, make_broker
from lanthanide.runtime import ServiceApp
from lanthanide.topics import Topics, dlq

from lanthanide_screening.adapters.reference_loader import build_engine
from lanthanide_screening.adapters.store import ScreeningStore
from lanthanide_screening.service_layer.handlers import Screening
from lanthanide_screening.settings import ScreeningSettings

__all__ = ["Screening", "bootstrap", "build", "service_app"]


def build(settings: ScreeningSettings | None = None, *, store: ScreeningStore | None = None) -> Screening:
    """The use cases from settings (reads every list and the reference data), over `store`
    (made from settings unless given)."""
    settings = settings or ScreeningSettings()
    return Screening(settings, build_engine(settings), store or ScreeningStore(settings.store_url()))


def bootstrap(
    settings: ScreeningSettings | None = None,
    *,
    broker: KafkaBroker | None = None,
    store: ScreeningStore | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ServiceApp:
    """The screening process as lanthanide.runtime runs it: reference data loaded, the stages
    subscribed on `broker`, the HTTP API. Every service's bootstrap takes the same arguments;
    screening's dates are the application's own as-of date and, for a re-screen, the PRC date of
    the wall clock, which is not injectable, so `clock` must stay None."""
    from lanthanide_screening.entrypoints.http import make_app
    from lanthanide_screening.entrypoints.stage import register

    if clock is not None:
        raise TypeError("screening's clock is not injectable: pass settings, broker and store only")
    settings = settings or ScreeningSettings()
    screening = build(settings, store=store)
    broker = broker or make_broker(settings.kafka, "screening")
    register(broker, screening, settings)
    topics = [settings.topic(t) for t in Topics.all()]

    async def create_prefixed_topics() -> None:
        if settings.topic_prefix:
            await ensure_topics(settings.kafka, [*topics, *(dlq(t) for t in topics)])

    return ServiceApp(
        name="screening", broker=broker, kafka=settings.kafka,
        http_app=make_app(screening, settings.authenticator()) if settings.http_port else None,
        http_host=settings.http_host, http_port=settings.http_port,
        on_startup=[create_prefixed_topics, screening.store.start], on_shutdown=[screening.store.close],
    )


#: The name `__main__` and the tooling use (the same function).
service_app = bootstrap
