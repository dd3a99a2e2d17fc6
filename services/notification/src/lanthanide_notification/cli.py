"""`lanthanide deliveries ...`: operators list failed webhook/e-mail deliveries and replay them,
registered through the `lanthanide.cli` entry point (`commands` below).

    lanthanide deliveries list --failed      -> deliveries_list (or --pending)
    lanthanide deliveries replay ID          -> deliveries_replay

They work on the notification store directly (the database URL comes from --db-url or the
notification service's settings); a replayed delivery is sent by the running service's retry
worker at its next look (LANTHANIDE_NOTIFICATION_RETRY_WORKER_INTERVAL_SECONDS), with the same
webhook-id as before.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import orjson
import typer
from rich.console import Console
from rich.table import Table

from lanthanide_notification.service_layer.operations import replay_failed
from lanthanide_notification.settings import NotificationSettings
from lanthanide_notification.views import list_deliveries

if TYPE_CHECKING:
    from lanthanide_notification.adapters.store import SqlDeliveryLog

T = TypeVar("T")

DbUrl = Annotated[
    str | None,
    typer.Option("--db-url", help="Notification database URL (default: the notification service's settings)"),
]


def _run(db_url: str | None, query: Callable[[SqlDeliveryLog], Awaitable[T]]) -> T:
    # Imported here so other `lanthanide` commands do not pay for SQLAlchemy at start-up.
    from lanthanide_notification.adapters.store import SqlDeliveryLog

    async def go() -> T:
        store = SqlDeliveryLog.from_url(db_url or NotificationSettings().store_url())
        try:
            await store.create_schema()  # an empty store lists nothing, not an error
            return await query(store)
        finally:
            await store.close()

    return asyncio.run(go())


def deliveries_list(
    failed: Annotated[bool, typer.Option("--failed", help="Deliveries that failed for good (the default)")] = False,
    pending: Annotated[bool, typer.Option("--pending", help="Deliveries queued: first round, retry or replay")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document instead of a table")] = False,
    db_url: DbUrl = None,
) -> None:
    """List failed deliveries (newest first) or pending ones; replay a failed one by its id.

    Example: lanthanide deliveries list --failed
    """
    if failed and pending:
        raise typer.BadParameter("give --failed or --pending, not both")
    status = "pending" if pending else "failed"
    items = _run(db_url, lambda store: list_deliveries(store, status, limit))
    if as_json:
        typer.echo(orjson.dumps({"status": status, "deliveries": items}).decode())
        return
    console = Console()
    if not items:
        console.print(f"no {status} deliveries")
        return
    table = Table(title=f"{status} deliveries")
    when = "failed_at" if status == "failed" else "next_attempt_at"
    for col in ("id", "event_id (webhook-id)", "channel", "target", "attempts", when, "error"):
        table.add_column(col, overflow="fold")
    for d in items:
        table.add_row(str(d["id"]), d["event_id"], d["channel"], d["target"], str(d["attempts"]),
                      d[when], str(d.get("error") or ""))
    console.print(table)


def deliveries_replay(
    failed_id: Annotated[int, typer.Argument(help="The failed delivery's id (from `deliveries list --failed`)")],
    db_url: DbUrl = None,
) -> None:
    """Queue a failed delivery to be sent again, with the same webhook-id.

    Example: lanthanide deliveries replay 12
    """
    queued = _run(db_url, lambda store: replay_failed(store, failed_id, by=f"cli:{getpass.getuser()}"))
    if queued is None:
        typer.echo(f"error: no failed delivery {failed_id} (see `lanthanide deliveries list --failed`)", err=True)
        raise typer.Exit(1)
    typer.echo(f"delivery {failed_id} queued for replay as pending {queued['id']} "
               f"(webhook-id {queued['webhook_id']}); the notification service sends it at its next look")


#: `lanthanide deliveries ...` as a typer sub-app.
app = typer.Typer(
    name="deliveries", no_args_is_help=True,
    help="Notification deliveries: `deliveries list --failed`, `deliveries replay ID`.\n\n"
         "Example: lanthanide deliveries list --failed",
)
app.command("list")(deliveries_list)
app.command("replay")(deliveries_replay)

#: Merged into the root `lanthanide` command (the `lanthanide.cli` entry point).
commands = typer.Typer()
commands.add_typer(app, name="deliveries")
