"""`lanthanide`: the command line for operators, analysts and upstream integrators.

The core commands (submit, decisions, rejections, case, shipment, dead-letters, reference updated,
schema) are in lanthanide_cli.commands; every installed service adds its own through the
`lanthanide.cli` entry-point group (lanthanide_cli.discovery). Errors a user can fix end in one
line with the remedy (lanthanide_cli.errors), never in a traceback.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence

import click
from typer.main import get_group

from lanthanide_cli import discovery, errors
from lanthanide_cli.commands import app, read_applications

__all__ = ["build", "main", "read_applications"]




def build() -> click.Group:
    """The whole command tree: the core commands, then every service's (entry points)."""
    apps, registrars = discovery.load(discovery.service_entry_points())
    for register in registrars:
        register(app)
    root = get_group(app)
    for extra in apps:
        discovery.merge(root, get_group(extra))
    return root


def _log_to_stderr() -> None:
    """Service code a command runs (screening's engine for `classify`, notification's store for
    `deliveries`) logs through structlog, whose default prints to stdout: send it to stderr, so
    stdout holds only the command's output (`lanthanide classify ... | jq` parses)."""
    try:
        import structlog
    except ImportError:  # the client alone: no service code, nothing logs through structlog
        return
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))


def main(argv: Sequence[str] | None = None) -> None:
    """The `lanthanide` console script."""
    if not errors.debug():
        # aiokafka logs each failed connection attempt at ERROR; the one-line error says it better.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    _log_to_stderr()
    try:
        cli = build()
    except Exception:  # a bug in wiring the tree: show it, it is not the user's fault
        traceback.print_exc()
        sys.exit(errors.EXIT_FAILED)
    cli.main(args=list(argv) if argv is not None else None, prog_name="lanthanide")


if __name__ == "__main__":
    main()
