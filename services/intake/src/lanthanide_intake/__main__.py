"""`python -m lanthanide_intake`: the intake service as its own process."""

from __future__ import annotations

from lanthanide.early import exit_cleanly_on_sigterm_until_running

exit_cleanly_on_sigterm_until_running()  # before the heavy imports below

import asyncio

from lanthanide.kafka import ensure_topics
from lanthanide.logging import configure_logging
from lanthanide.runtime import run_service
from lanthanide.topics import dlq

from lanthanide_intake.bootstrap import bootstrap
from lanthanide_intake.settings import IntakeSettings


def main() -> None:
    settings = IntakeSettings()
    configure_logging("intake", settings.logging)
    svc = bootstrap(settings)

    async def submitter_topics() -> None:
        # The catalogue's topics are ensured by run_service; the Kafka submitters' own topics
        # are this deployment's data (on a secured cluster the administrator creates them).
        await ensure_topics(settings.kafka, [*svc.inputs, *(dlq(t) for t in svc.inputs)])

    asyncio.run(run_service(
        name="intake", broker=svc.broker, kafka=settings.kafka, asgi_app=svc.http_app,
        http_host=settings.http_host, http_port=settings.http_port, on_startup=[submitter_topics],
    ))


if __name__ == "__main__":
    main()
