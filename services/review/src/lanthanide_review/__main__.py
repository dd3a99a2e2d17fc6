"""`python -m lanthanide_review`: the review consumer, outbox relay, SLA timer and HTTP API."""

from __future__ import annotations

from lanthanide.early import exit_cleanly_on_sigterm_until_running

exit_cleanly_on_sigterm_until_running()  # before the heavy imports below

import asyncio

from lanthanide.logging import configure_logging
from lanthanide.runtime import run_service

from lanthanide_review.bootstrap import build
from lanthanide_review.settings import ReviewSettings


def main() -> None:
    settings = ReviewSettings()
    configure_logging("review", settings.logging)
    app = build(settings)
    asyncio.run(
        run_service(
            name="review",
            broker=app.broker,
            kafka=settings.kafka,
            asgi_app=app.http_app,
            http_host=settings.http_host,
            http_port=settings.http_port,
            on_startup=[app.start],
            on_shutdown=[app.stop],
            background=[app.outbox_loop, app.sla_loop],
        )
    )


if __name__ == "__main__":
    main()
