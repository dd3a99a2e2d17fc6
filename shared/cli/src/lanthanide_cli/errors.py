"""One-line errors with a remedy, instead of tracebacks (which printed application text).

Exit codes: 1 a command failed (e.g. not found), 2 bad input (usage, file, application),
3 Kafka cannot be reached or refused the request, 130 interrupted. LANTHANIDE_DEBUG=1 shows the
traceback instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from typer.core import TyperGroup

EXIT_FAILED, EXIT_INPUT, EXIT_KAFKA, EXIT_INTERRUPTED = 1, 2, 3, 130



class _InUse:
    """The bootstrap servers the running command used, for the "cannot reach Kafka" message (a
    plain holder: commands set it inside asyncio.run, whose context copy a ContextVar would not leave)."""

    servers: str | None = None

    def set(self, servers: str) -> None:
        self.servers = servers

    def get(self) -> str | None:
        return self.servers


bootstrap_in_use = _InUse()


class InputFileError(Exception):
    """A file given on the command line cannot be used; the message says where and why."""

    def __init__(self, path: Path, problem: str, remedy: str) -> None:
        super().__init__(f"{path}: {problem}; {remedy}")


def validation_summary(exc: ValidationError, limit: int = 5) -> str:
    """`loc: message; loc: message (and N more)`, never the input values."""
    errors = exc.errors(include_input=False, include_url=False)
    parts = [f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}" for e in errors[:limit]]
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(parts) + more


def debug() -> bool:
    return os.environ.get("LANTHANIDE_DEBUG", "") not in ("", "0", "false")


def explain(exc: BaseException) -> tuple[int, str] | None:
    """(exit code, one line) for an error a user can fix; None = not a known kind."""
    from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

    servers = bootstrap_in_use.get()
    if servers is None:
        from lanthanide.connection import KafkaSettings

        servers = KafkaSettings().bootstrap_servers
    reach = (f"cannot reach Kafka at {servers} ({type(exc).__name__}). Is the stack running (`make run`)? "
             "Otherwise pass --bootstrap-servers HOST:PORT or set LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS.")
    if isinstance(exc, KafkaConnectionError | KafkaTimeoutError | ConnectionError):
        return EXIT_KAFKA, reach
    if isinstance(exc, KafkaError):
        return EXIT_KAFKA, (f"Kafka at {servers} refused the request: {type(exc).__name__}: {str(exc)[:200]}. "
                            "Check the broker's security settings and this client's credentials.")
    if isinstance(exc, InputFileError):
        return EXIT_INPUT, str(exc)
    if isinstance(exc, ValidationError):
        return EXIT_INPUT, (f"invalid {exc.title}: {validation_summary(exc)}. "
                            "Fix the fields named; the README's 'Application fields' section lists the usual traps.")
    if isinstance(exc, json.JSONDecodeError):
        return EXIT_INPUT, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, OSError) and exc.filename:
        return EXIT_INPUT, f"{exc.filename}: {exc.strerror or type(exc).__name__}"
    return None


def unexpected(exc: BaseException) -> str:
    """The last resort: the kind of error and its first line, cut short (it may quote input)."""
    first = (str(exc).splitlines() or [""])[0][:200]
    return (f"unexpected {type(exc).__name__}: {first} "
            "(set LANTHANIDE_DEBUG=1 for the traceback, and please report it)")


def describe(exc: Any) -> str:
    """For tests and logs: the one line explain() or unexpected() gives."""
    known = explain(exc)
    return known[1] if known else unexpected(exc)


class RootGroup(TyperGroup):
    """The root group: turns the errors a user can fix into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as exc:
            if debug():
                raise
            known = explain(exc)
            code, line = known if known else (EXIT_FAILED, unexpected(exc))
            click.echo(f"error: {line}", err=True)
            ctx.exit(code)
