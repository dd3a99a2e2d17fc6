"""`lanthanide audit ...`: commands over the audit ledger, registered through the `lanthanide.cli`
entry point (`commands` below).

    lanthanide audit CASE_ID              -> audit_case (short for `audit show CASE_ID`)
    lanthanide audit verify               -> audit_verify   (exit code 1 if the chain is broken)
    lanthanide audit export CASE_ID ...   -> audit_export

They read the ledger directly: the database URL comes from --db-url or the audit service's
settings (LANTHANIDE_AUDIT_DB_URL, else the SQLite file under LANTHANIDE_DATA_DIR).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from uuid import UUID

import click
import orjson
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from lanthanide_audit.domain.ledger import VerifyReport
from lanthanide_audit.domain.timeline import Timeline
from lanthanide_audit.settings import AuditSettings
from lanthanide_audit.views import case_timeline, export_csv, export_json, verify

if TYPE_CHECKING:
    from lanthanide_audit.adapters.store import LedgerStore

T = TypeVar("T")

DbUrl = Annotated[
    str | None,
    typer.Option("--db-url", help="Ledger database URL (default: the audit service's settings)"),
]


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


def _run(db_url: str | None, query: Callable[[LedgerStore], Awaitable[T]]) -> T:
    # Imported here so other `lanthanide` commands do not pay for SQLAlchemy at start-up.
    from lanthanide_audit.adapters.store import LedgerStore

    async def go() -> T:
        store = LedgerStore.from_url(db_url or AuditSettings().store_url())
        try:
            await store.create_schema()  # an empty ledger reads as empty, not as an error
            return await query(store)
        finally:
            await store.close()

    return asyncio.run(go())


def _case_id(value: str) -> str:
    try:
        return str(UUID(value))
    except ValueError:
        raise typer.BadParameter(f"case id {value!r} is not a UUID") from None


def _facts_text(facts: dict[str, object]) -> str:
    return "; ".join(f"{k}={orjson.dumps(v).decode() if not isinstance(v, str) else v}" for k, v in facts.items())


def render_timeline(timeline: Timeline, console: Console) -> None:
    """Print a timeline as a table, then the causation verdict."""
    table = Table(title=f"Case {timeline.case_id}", show_lines=False)
    for col in ("seq", "occurred at", "event", "producer", "causation", "facts"):
        table.add_column(col, overflow="fold")
    for s in timeline.steps:
        causation = "root" if s.causation == "root" else (
            f"<- {(s.causation_id or '')[:8]}" if s.causation == "ok" else f"MISSING {s.causation_id}"
        )
        table.add_row(str(s.seq), s.occurred_at or "", s.event_type, s.producer or "", causation,
                      _facts_text(s.facts))
    console.print(table)
    verdict = "every causation link holds" if timeline.causation_ok else "BROKEN causation links"
    console.print(f"{len(timeline.steps)} events; {verdict}")


def audit_case(
    case_id: Annotated[str, typer.Argument(help="The case id (UUID)")],
    db_url: DbUrl = None,
) -> None:
    """Show a case's timeline: every event in causal order with producer, rule ids and versions.

    Example: lanthanide audit show 1b4e28ba-2fa1-11d2-883f-0016d3cca427
    """
    cid = _case_id(case_id)
    timeline = _run(db_url, lambda store: case_timeline(store, cid))
    console = Console()
    if not timeline.steps:
        console.print(f"no events recorded for case {cid}")
        raise typer.Exit(1)
    render_timeline(timeline, console)
    if not timeline.causation_ok:
        raise typer.Exit(1)


class CheckpointSource(StrEnum):
    TOPIC = "topic"
    STORED = "stored"


def audit_verify(
    db_url: DbUrl = None,
    checkpoints: Annotated[CheckpointSource, typer.Option(
        "--checkpoints",
        help="topic: compare with the checkpoints on audit.checkpoints and the stored ones; "
             "stored: the stored ones only (no Kafka)")] = CheckpointSource.TOPIC,
) -> None:
    """Walk the MAC chain with the ledger keys (LANTHANIDE_AUDIT_LEDGER_KEY, _PREVIOUS_KEYS) and
    compare it with the signed checkpoints; report the first broken record (truncated, rewound,
    altered or re-hashed) and exit 1 if there is one.

    Example: lanthanide audit verify
    """
    settings = AuditSettings()
    try:
        keys = settings.ledger_keys()
        public = settings.public_keys()
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    published: list[Any] = []
    if checkpoints is CheckpointSource.TOPIC:
        from lanthanide_audit.adapters.checkpoint_topic import read_checkpoints

        try:
            published = asyncio.run(read_checkpoints(settings.kafka, settings.checkpoint_topic()))
        except Exception as exc:
            raise click.ClickException(
                f"cannot read the checkpoints on {settings.checkpoint_topic()}: {exc!r}"[:300]
                + " (--checkpoints stored compares with the stored ones only)") from None
    report: VerifyReport = _run(db_url, lambda store: verify(store, keys, published, public))
    console = Console()
    where = (f"; {report.checkpoints} signed checkpoints agree (latest at position {report.checkpoint_position})"
             if report.checkpoints else "; no signed checkpoint to compare with")
    if report.ok:
        console.print(f"ledger OK: {report.checked} records, head {report.head_hash}{where}", soft_wrap=True)
        return
    if report.broken is not None:
        console.print(
            f"ledger BROKEN at seq {report.broken.seq} (event {report.broken.event_id or '-'}): "
            f"{report.broken.reason}; {report.checked} records before it verified", soft_wrap=True,
        )
    if report.conflicts:
        console.print(
            f"ledger CONFLICTS: {len(report.conflicts)} event ids were seen with two different payloads "
            f"(forged or buggy events; both copies are kept): {', '.join(report.conflicts[:50])}",
            soft_wrap=True,
        )
    raise typer.Exit(1)


def audit_export(
    case_id: Annotated[str, typer.Argument(help="The case id (UUID)")],
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="json or csv")] = ExportFormat.JSON,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout)")] = None,
    db_url: DbUrl = None,
) -> None:
    """Export a case's timeline for an auditor, as JSON or CSV.

    Example: lanthanide audit export 1b4e28ba-2fa1-11d2-883f-0016d3cca427 --format csv -o case.csv
    """
    cid = _case_id(case_id)
    timeline = _run(db_url, lambda store: case_timeline(store, cid))
    text = export_json(timeline) if format is ExportFormat.JSON else export_csv(timeline)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {len(timeline.steps)} events to {output}", err=True)


class _AuditGroup(TyperGroup):
    """`lanthanide audit CASE_ID` is short for `lanthanide audit show CASE_ID`."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        if args and args[0] not in self.commands:
            try:
                UUID(args[0])
            except ValueError:
                pass
            else:
                args.insert(0, "show")
        return super().resolve_command(ctx, args)


#: `lanthanide audit ...` as a typer sub-app (also runnable alone: `python -m lanthanide_audit.cli`).
app = typer.Typer(
    name="audit", cls=_AuditGroup, no_args_is_help=True,
    help="The audit ledger: `audit CASE_ID` (timeline), `audit verify`, `audit export CASE_ID`.\n\n"
         "Example: lanthanide audit verify",
)
app.command("show")(audit_case)
app.command("case", hidden=True)(audit_case)
app.command("verify")(audit_verify)
app.command("export")(audit_export)

#: Merged into the root `lanthanide` command (the `lanthanide.cli` entry point).
commands = typer.Typer()
commands.add_typer(app, name="audit")
