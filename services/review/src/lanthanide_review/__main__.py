"""`python -m lanthanide_review`: the review consumer, outbox relay, SLA timer and HTTP API."""

from __future__ import annotations

from lanthanide.early import exit_cleanly_on_sigterm_until_running

exit_cleanly_on_sigterm_until_running()  # before the heavy imports below

from lanthanide.logging import configure_logging
from lanthanide.runtime import run

from lanthanide_review.bootstrap import service_app
from lanthanide_review.settings import ReviewSettings


def main() -> None:
    """Configure logging, wire the service once, run it until SIGTERM/SIGINT."""
    settings = ReviewSettings()
    configure_logging("review", settings.logging)
    run(service_app(settings))


if __name__ == "__main__":
    main()
