"""`python -m lanthanide_notification`: run the notification service as its own process."""

from __future__ import annotations

from lanthanide.early import exit_cleanly_on_sigterm_until_running

exit_cleanly_on_sigterm_until_running()  # before the heavy imports below

import asyncio

from lanthanide.logging import configure_logging
from lanthanide.runtime import run_service

from lanthanide_notification import SERVICE
from lanthanide_notification.bootstrap import build
from lanthanide_notification.entrypoints.http import make_http_app
from lanthanide_notification.settings import NotificationSettings


def main() -> None:
    """Configure logging, wire the service, run until SIGTERM/SIGINT."""
    settings = NotificationSettings()
    configure_logging(SERVICE, settings.logging)
    app = build(settings)
    asyncio.run(run_service(
        name=SERVICE,
        broker=app.broker,
        kafka=settings.kafka,
        asgi_app=make_http_app(app) if settings.http_port else None,
        http_host=settings.http_host,
        http_port=settings.http_port,
        on_startup=[app.start],
        on_shutdown=[app.stop],
    ))


if __name__ == "__main__":
    main()
