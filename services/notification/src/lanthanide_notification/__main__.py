"""`python -m lanthanide_notification`: run the notification service as its own process."""

from __future__ import annotations

from lanthanide.early import exit_cleanly_on_sigterm_until_running

exit_cleanly_on_sigterm_until_running()  # before the heavy imports below

from lanthanide.logging import configure_logging
from lanthanide.runtime import run

from lanthanide_notification import SERVICE
from lanthanide_notification.bootstrap import service_app
from lanthanide_notification.settings import NotificationSettings


def main() -> None:
    """Configure logging, wire the service once, run it until SIGTERM/SIGINT."""
    settings = NotificationSettings()
    configure_logging(SERVICE, settings.logging)
    run(service_app(settings))


if __name__ == "__main__":
    main()
