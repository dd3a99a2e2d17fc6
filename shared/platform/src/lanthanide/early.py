"""Imported first by every service's `__main__`, before anything heavy.

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
