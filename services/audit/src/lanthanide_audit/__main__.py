"""`python -m lanthanide_audit`: run the audit service as its own process."""

from __future__ import annotations

from lanthanide.early import exit_cleanly_on_sigterm_until_running

exit_cleanly_on_sigterm_until_running()  # before the heavy imports below

from lanthanide.logging import configure_logging
from lanthanide.runtime import run

from lanthanide_audit import SERVICE
from lanthanide_audit.bootstrap import MissingKeyError, require_keys, service_app
from lanthanide_audit.settings import AuditSettings


def main() -> None:
    """Configure logging, refuse to start without the ledger keys, run until SIGTERM/SIGINT."""
    settings = AuditSettings()
    configure_logging(SERVICE, settings.logging)
    try:
        require_keys(settings)
    except (MissingKeyError, ValueError) as exc:
        raise SystemExit(str(exc)) from None
    run(service_app(settings))


if __name__ == "__main__":
    main()
