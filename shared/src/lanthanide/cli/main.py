"""`lanthanide`: the command line for operators, analysts and upstream integrators.

Service-specific commands (screen, policy, sla, audit) live with their services and are
registered here when the service package is installed (they are, in the workspace).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import click
import orjson
import typer
from typer.core import TyperGroup

from lanthanide.client import LanthanideClient
from lanthanide.serde import to_jsonable

app = typer.Typer(help="Lanthanide export-licence decisions: submit, follow, inspect.", no_args_is_help=True)
case_app = typer.Typer(help="Inspect cases.", no_args_is_help=True)
schema_app = typer.Typer(help="Event contracts as JSON Schema.", no_args_is_help=True)
app.add_typer(case_app, name="case")
app.add_typer(schema_app, name="schema")
reference_app = typer.Typer(help="Reference data: restricted-party lists and control measures.", no_args_is_help=True)
app.add_typer(reference_app, name="reference")

Bootstrap = Annotated[
    str | None,
    typer.Option("--bootstrap-servers", "-b", envvar=["LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"],
                 help="Kafka bootstrap servers (default 127.0.0.1:9092)."),
]


def read_applications(path: Path) -> list[Any]:
    """A JSON object, a JSON array, or JSON Lines (one object per line)."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        data = json.loads(text)
        return list(data)
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@app.command()
def submit(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON object, array or JSON Lines")],
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Publish applications; prints each external reference and its case id."""

    async def run() -> int:
        async with LanthanideClient(bootstrap_servers, client_id="cli") as client:
            receipts = await client.submit_many(read_applications(path))
        invalid = 0
        for r in receipts:
            if r.valid:
                typer.echo(f"{r.external_reference}\t{r.case_id}")
            else:
                invalid += 1
                typer.echo(f"{r.external_reference or '-'}\tinvalid (intake will reject): {'; '.join(r.errors[:3])}")
        return invalid

    invalid = asyncio.run(run())
    typer.echo(f"submitted {(invalid and f'(of which {invalid} invalid) ') or ''}".strip(), err=True)


@app.command()
def decisions(
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep waiting for new decisions.")] = False,
    count: Annotated[int | None, typer.Option("--count", "-n", help="Stop after N decisions.")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", "-t", help="Stop after S seconds without one.")] = None,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Print decision events as JSON Lines (deduplicated by decision id)."""

    async def run() -> int:
        n = 0
        async with LanthanideClient(bootstrap_servers, client_id="cli") as client:
            async for env in client.decisions(
                follow=follow or count is not None, count=count, timeout=timeout
            ):
                sys.stdout.write(orjson.dumps(to_jsonable(env)).decode() + "\n")
                sys.stdout.flush()
                n += 1
        return n

    n = asyncio.run(run())
    if count is not None and n < count:
        typer.echo(f"only {n} of {count} decisions before the timeout", err=True)
        raise typer.Exit(1)


@case_app.command("show")
def case_show(case_id: UUID, bootstrap_servers: Bootstrap = None) -> None:
    """Every event of a case, in order, as JSON Lines (read from Kafka)."""

    async def run() -> int:
        async with LanthanideClient(bootstrap_servers, client_id="cli") as client:
            events = await client.case_history(case_id)
        for env in events:
            sys.stdout.write(orjson.dumps(to_jsonable(env)).decode() + "\n")
        return len(events)

    if asyncio.run(run()) == 0:
        typer.echo(f"no events for case {case_id}", err=True)
        raise typer.Exit(1)


@schema_app.command("export")
def schema_export(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for <event_type>.schema.json")
    ] = Path("docs/schemas"),
) -> None:
    """Write a JSON Schema for every event (envelope with its payload)."""
    from lanthanide.schema import export_schemas

    for path in export_schemas(out):
        typer.echo(str(path))


@reference_app.command("updated")
def reference_updated(
    kind: Annotated[str, typer.Option(help="'list' or 'measures'")],
    version: Annotated[str, typer.Option(help="Version of the new data (e.g. a date or content hash)")],
    list_id: Annotated[str | None, typer.Option(help="Which list changed (for kind=list)")] = None,
    path: Annotated[str | None, typer.Option(help="Where the new file is, as the services see it")] = None,
    description: Annotated[str, typer.Option(help="What changed, for the audit trail")] = "",
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Announce changed reference data: screening reloads it and re-screens open cases and live licences."""
    from lanthanide.contracts import ReferenceUpdated
    from lanthanide.events import EventFactory
    from lanthanide.topics import Topics

    if kind not in ("list", "measures"):
        raise typer.BadParameter("kind must be 'list' or 'measures'", param_hint="--kind")
    payload = ReferenceUpdated(kind=kind, list_id=list_id, version=version, path=path, description=description)  # type: ignore[arg-type]
    envelope = EventFactory("cli").new("reference.updated", payload)

    async def run() -> None:
        async with LanthanideClient(bootstrap_servers, client_id="cli") as client:
            await client.publish(Topics.REFERENCE_UPDATES, envelope)

    asyncio.run(run())
    typer.echo(str(envelope.event_id))


def _register_service_commands() -> None:
    """Commands that belong to a service's domain; absent services simply add nothing."""
    try:
        from lanthanide_screening import cli as screening_cli
    except ImportError:
        pass
    else:
        app.command("screen", help="Screen names in bulk against restricted-party lists (no Kafka).")(
            screening_cli.screen
        )
        app.command("classify", help="What-if: classification, measures and route on a date (no case).")(
            screening_cli.classify
        )
        reference_app.command("list")(screening_cli.reference_list)
        reference_app.command("load")(screening_cli.reference_load)
        reference_app.command("fetch")(screening_cli.reference_fetch)
    try:
        from lanthanide_review import cli as review_cli
    except ImportError:
        pass
    else:
        policy_app = typer.Typer(help="Routing policy.", no_args_is_help=True)
        sla_app = typer.Typer(help="Review-time SLA.", no_args_is_help=True)
        if hasattr(review_cli, "policy_replay"):
            policy_app.command("replay")(review_cli.policy_replay)
            app.add_typer(policy_app, name="policy")
        if hasattr(review_cli, "sla_report"):
            sla_app.command("report")(review_cli.sla_report)
            app.add_typer(sla_app, name="sla")
    try:
        from lanthanide_audit import cli as audit_cli
    except ImportError:
        pass
    else:
        audit_app = typer.Typer(
            cls=_AuditGroup, no_args_is_help=True,
            help="The audit ledger: `audit CASE_ID` (timeline), `audit verify`, `audit export CASE_ID`.",
        )
        audit_app.command("show")(audit_cli.audit_case)
        audit_app.command("verify")(audit_cli.audit_verify)
        audit_app.command("export")(audit_cli.audit_export)
        app.add_typer(audit_app, name="audit")


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


_register_service_commands()

if __name__ == "__main__":
    app()
