"""Imported first by every service's `__main__` (its `main` is the whole of it), before anything heavy.

Between the process starting and `lanthanide.runtime.run_service` installing its own signal
handling, a service imports FastStream, SQLAlchemy and its domain, and screening loads its
reference lists (seconds). A SIGTERM in that window used to kill the process with the default
action (exit -15). Nothing has been consumed yet, so the right answer is a clean exit 0.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType
from typing import Any


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    sys.stderr.write('{"event": "service_stopped", "during": "startup", "level": "info"}\n')
    sys.stderr.flush()
    # Not SystemExit: raised in the middle of an import, a library's `except BaseException`
    # can swallow it (seen once in a full test run: the service went on starting). Nothing
    # has been consumed or written yet, so there is nothing to flush or release.
    os._exit(0)


def exit_cleanly_on_sigterm_until_running() -> None:
    """SIGTERM/SIGINT exit 0 until run_service replaces this with its graceful stop."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)


def _resolve(spec: str) -> Any:
    """`package.module:attribute` -> the attribute (imported here, after the handler is in)."""
    from importlib import import_module

    module, _, attribute = spec.partition(":")
    return getattr(import_module(module), attribute)


def main(service: str, *, settings: str, app: str, preflight: str | None = None) -> None:
    """The whole of a service's `python -m lanthanide_<service>`, so each `__main__.py` is one call.

    Exits cleanly on SIGTERM until running; then imports the service (the heavy part), reads its
    settings (`settings`, a "module:Class"), configures logging, runs `preflight(settings)` when
    given (a RuntimeError or ValueError from it refuses the start: exit status 1 with its message,
    no traceback; audit without its ledger keys), wires the service once
    (`app`, its bootstrap's service_app) and runs it until SIGTERM/SIGINT (lanthanide.runtime.run).
    """
    exit_cleanly_on_sigterm_until_running()
    from lanthanide.logging import configure_logging
    from lanthanide.runtime import run

    chosen = _resolve(settings)()
    configure_logging(service, chosen.logging)
    if preflight is not None:
        try:
            _resolve(preflight)(chosen)
        except (RuntimeError, ValueError) as exc:
            raise SystemExit(str(exc)) from None
    run(_resolve(app)(chosen))
