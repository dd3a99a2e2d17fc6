"""`python -m lanthanide_screening`: run the screening service as its own process."""

from __future__ import annotations

from lanthanide.early import exit_cleanly_on_sigterm_until_running

exit_cleanly_on_sigterm_until_running()  # before the heavy imports below

import asyncio

from lanthanide.kafka import ensure_topics, make_broker
from lanthanide.logging import configure_logging
from lanthanide.runtime import run_service
from lanthanide.topics import Topics, dlq

from lanthanide_screening.bootstrap import bootstrap
from lanthanide_screening.entrypoints.http import make_app
from lanthanide_screening.entrypoints.stage import register
from lanthanide_screening.settings import ScreeningSettings


def main() -> None:
    """Load reference data, subscribe, serve until SIGTERM."""
    settings = ScreeningSettings()
    configure_logging("screening", settings.logging)
    screening = bootstrap(settings)
    broker = make_broker(settings.kafka, "screening")
    register(broker, screening, settings)
    topics = [settings.topic(t) for t in Topics.all()]

    async def create_prefixed_topics() -> None:
        if settings.topic_prefix:
            await ensure_topics(settings.kafka, [*topics, *(dlq(t) for t in topics)])

    asyncio.run(
        run_service(
            name="screening",
            broker=broker,
            kafka=settings.kafka,
            asgi_app=make_app(screening, settings.authenticator()) if settings.http_port else None,
            http_host=settings.http_host,
            http_port=settings.http_port,
            on_startup=[create_prefixed_topics, screening.store.start],
            on_shutdown=[screening.store.close],
        )
    )


if __name__ == "__main__":
    main()
