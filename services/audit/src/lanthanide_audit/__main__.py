"""`python -m lanthanide_audit`: run the audit service as its own process."""

from __future__ import annotations

from lanthanide.early import exit_cleanly_on_sigterm_until_running

exit_cleanly_on_sigterm_until_running()  # before the heavy imports below

import asyncio

from lanthanide.logging import configure_logging
from lanthanide.runtime import run_service

from lanthanide_audit import SERVICE
from lanthanide_audit.bootstrap import MissingKeyError, build, require_keys
from lanthanide_audit.entrypoints.http import make_http_app
from lanthanide_audit.settings import AuditSettings


def main() -> None:
    """Configure logging, wire the service, run until SIGTERM/SIGINT."""
    settings = AuditSettings()
    configure_logging(SERVICE, settings.logging)
    try:
        require_keys(settings)
    except (MissingKeyError, ValueError) as exc:
        raise SystemExit(str(exc)) from None
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
