"""`python -m lanthanide_intake`: the intake service as its own process."""

from __future__ import annotations

from lanthanide.early import exit_cleanly_on_sigterm_until_running

exit_cleanly_on_sigterm_until_running()  # before the heavy imports below

import asyncio

from lanthanide.logging import configure_logging
from lanthanide.runtime import run_service

from lanthanide_intake.bootstrap import bootstrap
from lanthanide_intake.settings import IntakeSettings


def main() -> None:
    settings = IntakeSettings()
    configure_logging("intake", settings.logging)
    svc = bootstrap(settings)
    asyncio.run(run_service(
        name="intake", broker=svc.broker, kafka=settings.kafka, asgi_app=svc.http_app,
        http_host=settings.http_host, http_port=settings.http_port,
    ))


if __name__ == "__main__":
    main()
