"""Review command-line tools: `lanthanide policy replay` and `lanthanide sla report`, registered
through the `lanthanide.cli` entry point (`commands` below); `python -m lanthanide_review.cli
--help` runs them standalone.

Both read the store configured by LANTHANIDE_REVIEW_DB_URL (or the default SQLite file) and
write nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from lanthanide_review.domain.policy import PolicyError, load_policy
from lanthanide_review.settings import ReviewSettings

if TYPE_CHECKING:
    from lanthanide_review.service_layer.handlers import ReviewService

T = TypeVar("T")
app = typer.Typer(help="Review tools: routing-policy replay and the SLA report.", no_args_is_help=True)
console = Console()


def _with_service(job: Callable[[ReviewService], Awaitable[T]]) -> T:
    # Imported here: the store pulls in SQLAlchemy and the service wiring, which every other
    # `lanthanide` command would otherwise pay for at start-up.
    from lanthanide_review.adapters.store import Store
    from lanthanide_review.bootstrap import build_service

    async def main() -> T:
        settings = ReviewSettings()
        store = Store(settings.store_url())
        try:
            return await job(build_service(settings, store))
        finally:
            await store.dispose()

    return asyncio.run(main())


@app.command("policy-replay")
def policy_replay(
    policy_file: Annotated[Path, typer.Argument(help="The routing policy YAML to try")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Re-run a routing policy over the stored cases and print what would change (no side effects).

    Example: lanthanide policy replay my-policy.yaml --json
    """
    try:
        new_policy = load_policy(policy_file)
    except (PolicyError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    from lanthanide_review import views

    changes = _with_service(lambda svc: views.policy_replay(svc, new_policy))
    if as_json:
        typer.echo(json.dumps({"policy_version": new_policy.version, "changes": changes}, indent=2))
        return
    table = Table(title=f"Policy {new_policy.version}: {len(changes)} case(s) would be routed differently")
    for col in ("case", "reference", "state", "route", "change"):
        table.add_column(col)
    for c in changes:
        change = "; ".join(f"{k}: {v['from']} -> {v['to']}" for k, v in c["changes"].items())
        table.add_row(
            c["case_id"][:8],
            c["external_reference"],
            c["state"],
            c["route"],
            change + (" (already decided)" if c["decided"] else ""),
        )
    console.print(table)


@app.command("sla-report")
def sla_report(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Per queue: open cases, due soon, breached, and median PRC working days to decision.

    Example: lanthanide sla report --json
    """
    from lanthanide_review import views

    rows: list[dict[str, Any]] = _with_service(views.sla_report)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Review SLA (45 PRC working days)")
    cols = (
        "queue",
        "open",
        "due_soon",
        "breached",
        "paused",
        "clock_off",
        "decided",
        "median_working_days_to_decision",
    )
    for col in cols:
        table.add_column(col)
    for r in rows:
        table.add_row(*("-" if r[c] is None else str(r[c]) for c in cols))
    console.print(table)


def _lookup(job: Callable[[ReviewService], Awaitable[T]]) -> T:
    from lanthanide_review.service_layer.handlers import LicenceNotFound

    try:
        return _with_service(job)
    except LicenceNotFound as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command("licence-usage")
def licence_usage(
    number: Annotated[
        str | None, typer.Argument(help="A general licence number; omit for per end user/country")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """A general licence's usage (drawn and remaining per item, the exports under it), or without a
    number the cumulative quantities per end user and per country across all licences.

    Example: lanthanide licence usage LNT-2026-000001 --json
    """
    if number is None:
        from lanthanide_review import views

        totals: dict[str, Any] = _with_service(views.usage)
        if as_json:
            typer.echo(json.dumps(totals, indent=2))
            return
        for key, cols in (("by_end_user", ("end_user", "country", "unit", "quantity")),
                          ("by_country", ("country", "unit", "quantity"))):
            table = Table(title=f"Cumulative quantities {key.replace('_', ' ')}")
            for col in cols:
                table.add_column(col)
            for r in totals[key]:
                table.add_row(*(str(r[c]) for c in cols))
            console.print(table)
        return
    from lanthanide_review import views

    report: dict[str, Any] = _lookup(lambda svc: views.general_licence_usage(svc, number))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(title=f"General licence {report['number']} ({report['status']}, valid "
                        f"{report['valid_from']}..{report['valid_until']}), holder {report['holder']}")
    for col in ("item", "control codes", "unit", "cap", "drawn", "remaining"):
        table.add_column(col)
    for it in report["items"]:
        table.add_row(str(it["item_index"]), ", ".join(it["control_codes"]), it["unit"], it["quantity_cap"],
                      it["drawn"], it["remaining"])
    console.print(table)
    exports = Table(title=f"{len(report['exports'])} green-channel export(s) under it")
    for col in ("reference", "export licence", "quantities", "at"):
        exports.add_column(col)
    for e in report["exports"]:
        qty = "; ".join(f"item {i['item_index']}: {i['quantity']} {i['unit']}" for i in e["items"])
        exports.add_row(e["external_reference"], e["export_licence"], qty, e["at"])
    console.print(exports)


#: `lanthanide policy replay`, `lanthanide sla report`, `lanthanide licence usage` (the
#: `lanthanide.cli` entry point).
commands = typer.Typer()
_policy = typer.Typer(help="Routing policy.\n\nExample: lanthanide policy replay my-policy.yaml", no_args_is_help=True)
_sla = typer.Typer(help="Review-time SLA.\n\nExample: lanthanide sla report", no_args_is_help=True)
_policy.command("replay")(policy_replay)
_sla.command("report")(sla_report)
_licence = typer.Typer(help="Licences.\n\nExample: lanthanide licence usage LNT-2026-000001", no_args_is_help=True)
_licence.command("usage")(licence_usage)
commands.add_typer(_policy, name="policy")
commands.add_typer(_licence, name="licence")
commands.add_typer(_sla, name="sla")


if __name__ == "__main__":
    app()
