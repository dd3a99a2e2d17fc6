"""The core commands: submit applications, follow decisions and rejections, inspect a case,
report a shipment, list and replay dead letters, announce reference data, export schemas.

Each reads Kafka through the Python client (lanthanide.client) and knows no service.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import orjson
import typer
from lanthanide.client import LanthanideClient
from lanthanide.connection import KafkaSettings
from lanthanide.serde import to_jsonable
from lanthanide.topics import Topics, dlq

from lanthanide_cli.errors import InputFileError, RootGroup, bootstrap_in_use

app = typer.Typer(
    cls=RootGroup, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Lanthanide export-licence decisions: submit, follow, inspect.\n\n"
         "Example: lanthanide submit examples/applications.jsonl && lanthanide decisions -n 3 -t 60",
)
case_app = typer.Typer(help="Inspect cases.\n\nExample: lanthanide case show CASE_ID", no_args_is_help=True)
schema_app = typer.Typer(help="Event contracts as JSON Schema.\n\nExample: lanthanide schema export --out docs/schemas",
                         no_args_is_help=True)
reference_app = typer.Typer(help="Reference data: restricted-party lists and control measures.\n\n"
                                 "Example: lanthanide reference updated --kind measures --version 2026-12-01",
                            no_args_is_help=True)
shipment_app = typer.Typer(help="Exports made under a licence.\n\n"
                                "Example: lanthanide shipment report --licence L-2026-000123 --quantity 40 --unit kg "
                                "--end-user 'Example GmbH' --end-user-country DE --shipped-on 2026-12-01",
                           no_args_is_help=True)
dead_app = typer.Typer(help="Dead letters: records a service could not handle, with the reason.\n\n"
                            "Example: lanthanide dead-letters list",
                       no_args_is_help=True)
app.add_typer(case_app, name="case")
app.add_typer(schema_app, name="schema")
app.add_typer(reference_app, name="reference")
app.add_typer(shipment_app, name="shipment")
app.add_typer(dead_app, name="dead-letters")

Bootstrap = Annotated[
    str | None,
    typer.Option("--bootstrap-servers", "-b", envvar=["LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"],
                 help="Kafka bootstrap servers (default 127.0.0.1:9092)."),
]


def client(bootstrap_servers: str | None, submitter: str | None = None) -> LanthanideClient:
    """The client every command uses; remembers the servers for the 'cannot reach' message.
    `submitter` (else LANTHANIDE_KAFKA_SUBMITTER) names the upstream submitter it submits as."""
    settings = KafkaSettings()
    if submitter:
        settings = settings.model_copy(update={"submitter": submitter})
    c = LanthanideClient(bootstrap_servers, client_id="cli", settings=settings)
    bootstrap_in_use.set(c.settings.bootstrap_servers)
    return c


def _jsonl(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value).decode() + "\n")
    sys.stdout.flush()


# ------------------------------------------------------------------- input files

_FORMAT_REMEDY = "give a JSON object, a JSON array of objects, or JSON Lines (one object per line)"


def read_applications(path: Path) -> list[Any]:
    """A JSON object, a JSON array, or JSON Lines (one object per line). Errors name the file,
    the line and what is wrong, never the text (it may hold personal data)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(path, "no such file", "check the path (examples/applications.jsonl is a sample)") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a folder", "give a file") from None
    except UnicodeDecodeError:
        raise InputFileError(path, "not UTF-8 text", _FORMAT_REMEDY) from None
    except OSError as exc:
        raise InputFileError(path, exc.strerror or type(exc).__name__, "check the file's permissions") from None
    if not text.strip():
        raise InputFileError(path, "is empty", _FORMAT_REMEDY)
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputFileError(path, f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
                                 _FORMAT_REMEDY) from None
        items = list(data) if isinstance(data, list) else [data]
    else:
        try:
            items = [json.loads(text)]
        except json.JSONDecodeError:
            items = []
            for n, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InputFileError(path, f"line {n} is not JSON ({exc.msg} at column {exc.colno})",
                                         _FORMAT_REMEDY) from None
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise InputFileError(path, f"application {n} is a JSON {type(item).__name__}, not an object",
                                 _FORMAT_REMEDY)
    return items


# ------------------------------------------------------------------- commands


@app.command()
def submit(
    path: Annotated[Path, typer.Argument(dir_okay=False, help="Applications: JSON object, array or JSON Lines")],
    check: Annotated[bool, typer.Option("--check", help="Validate only: publish nothing, exit 2 if any is invalid.")]
    = False,
    bootstrap_servers: Bootstrap = None,
    submitter: Annotated[str | None, typer.Option(
        "--submitter",
        help="Publish as this upstream submitter, to its own topic lanthanide.applications.submitted.<name> "
             "(the only one its principal may write on a secured cluster). Default: the shared topic "
             "(the open local broker of `make run`).")] = None,
) -> None:
    """Publish applications; prints each external reference and its case id (tab-separated).

    An invalid application is still published (intake answers with a rejection naming the
    fields); its line says `invalid` and why. Use --check first to see the problems without Kafka.

    Example: lanthanide submit examples/applications.jsonl
    """
    from lanthanide.client import validate_application

    applications = read_applications(path)
    if check:
        bad = 0
        for n, raw in enumerate(applications, start=1):
            ref = raw.get("external_reference") or f"#{n}"
            problems = validate_application(raw)
            bad += bool(problems)
            typer.echo(f"{ref}\t{'invalid: ' + '; '.join(problems[:5]) if problems else 'valid'}")
        typer.echo(f"{len(applications)} checked, {bad} invalid", err=True)
        raise typer.Exit(2 if bad else 0)

    async def run() -> int:
        async with client(bootstrap_servers, submitter) as c:
            receipts = await c.submit_many(applications)
        invalid = 0
        for r in receipts:
            if r.valid:
                typer.echo(f"{r.external_reference}\t{r.case_id}")
            else:
                invalid += 1
                typer.echo(f"{r.external_reference or '-'}\tinvalid (intake will reject): {'; '.join(r.errors[:3])}")
        return invalid

    invalid = asyncio.run(run())
    note = f" ({invalid} invalid: intake will reject them with the reasons shown)" if invalid else ""
    typer.echo(f"submitted {len(applications)}{note}", err=True)


@app.command()
def decisions(
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep waiting for new decisions.")] = False,
    count: Annotated[int | None, typer.Option("--count", "-n", help="Stop after N decisions.")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", "-t", help="Stop after S seconds without one.")] = None,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Print decision events as JSON Lines (deduplicated by decision id).

    Example: lanthanide decisions --follow
    """

    async def run() -> int:
        n = 0
        async with client(bootstrap_servers) as c:
            async for env in c.decisions(follow=follow or count is not None, count=count, timeout=timeout):
                _jsonl(to_jsonable(env))
                n += 1
        return n

    n = asyncio.run(run())
    if count is not None and n < count:
        typer.echo(f"only {n} of {count} decisions before the timeout", err=True)
        raise typer.Exit(1)


@app.command()
def rejections(
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep waiting for new rejections.")] = False,
    count: Annotated[int | None, typer.Option("--count", "-n", help="Stop after N rejections.")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", "-t", help="Stop after S seconds without one.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Whole events as JSON Lines instead of one line each.")]
    = False,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Print applications intake rejected, with the fields that were wrong.

    One line each: external reference, case id, then `field: reason; ...`.

    Example: lanthanide rejections --follow
    """

    async def run() -> int:
        n = 0
        async with client(bootstrap_servers) as c:
            async for env in c.rejections(follow=follow or count is not None, count=count, timeout=timeout):
                n += 1
                if as_json:
                    _jsonl(to_jsonable(env))
                    continue
                p = env.payload
                errs = "; ".join(f"{e.loc}: {e.message}" for e in p.errors)
                typer.echo(f"{p.external_reference or '-'}\t{env.case_id or '-'}\t{errs}")
        return n

    n = asyncio.run(run())
    if count is not None and n < count:
        typer.echo(f"only {n} of {count} rejections before the timeout", err=True)
        raise typer.Exit(1)


@case_app.command("show")
def case_show(
    case_id: Annotated[UUID, typer.Argument(help="The case id (UUID) that submit printed")],
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Every event of a case, in order, as JSON Lines (read from Kafka).

    Example: lanthanide case show 1b4e28ba-2fa1-11d2-883f-0016d3cca427
    """

    async def run() -> int:
        async with client(bootstrap_servers) as c:
            events = await c.case_history(case_id)
        for env in events:
            _jsonl(to_jsonable(env))
        return len(events)

    if asyncio.run(run()) == 0:
        typer.echo(f"no events for case {case_id}", err=True)
        raise typer.Exit(1)


@shipment_app.command("report")
def shipment_report(
    licence: Annotated[str, typer.Option("--licence", help="Licence number the export was made under")],
    quantity: Annotated[str, typer.Option("--quantity", help="Quantity shipped (> 0), in --unit, e.g. 40.5")],
    unit: Annotated[str, typer.Option("--unit", help="Unit of the quantity, as on the licence (e.g. kg)")],
    end_user: Annotated[str, typer.Option("--end-user", help="End user the goods went to, as named on the licence")],
    end_user_country: Annotated[str, typer.Option("--end-user-country", help="End user's country (ISO 3166 alpha-2)")],
    shipped_on: Annotated[str, typer.Option("--shipped-on", help="PRC date of export, YYYY-MM-DD")],
    item_index: Annotated[int, typer.Option("--item", help="Which item of the licence (0-based)")] = 0,
    shipment_id: Annotated[str | None, typer.Option("--shipment-id", help="Your id for this shipment; reporting "
                                                    "the same id again changes nothing (default: a new one)")] = None,
    case_id: Annotated[UUID | None, typer.Option("--case", help="The licence's case id, to order it with the case")]
    = None,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Report an export made under a licence: review draws its quantity down.

    Prints the shipment id; review answers on the case's events (accepted, or refused with a rule id).

    Example: lanthanide shipment report --licence L-2026-000123 --quantity 40 --unit kg --end-user "Example GmbH"
    --end-user-country DE --shipped-on 2026-12-01
    """
    from uuid import uuid4

    from lanthanide.contracts import ShipmentReported
    from lanthanide.events import EventFactory

    try:
        on = date.fromisoformat(shipped_on)
    except ValueError:
        raise typer.BadParameter(f"{shipped_on!r} is not a date YYYY-MM-DD", param_hint="--shipped-on") from None
    try:
        amount = Decimal(quantity)
    except InvalidOperation:
        raise typer.BadParameter(f"{quantity!r} is not a number", param_hint="--quantity") from None
    payload = ShipmentReported(
        shipment_id=shipment_id or str(uuid4()), licence_number=licence, item_index=item_index,
        quantity=amount, unit=unit, end_user=end_user, end_user_country=end_user_country.upper(), shipped_on=on,
    )
    envelope = EventFactory("cli").new("shipment.reported", payload, case_id=case_id)

    async def run() -> None:
        async with client(bootstrap_servers) as c:
            await c.publish(Topics.SHIPMENTS_REPORTED, envelope)

    asyncio.run(run())
    typer.echo(payload.shipment_id)


def _dlq_topics(topics: list[str] | None) -> list[str]:
    chosen = topics or list(Topics.all())
    known = set(Topics.all())
    out = []
    for t in chosen:
        base = t[: -len(".dlq")] if t.endswith(".dlq") else t
        if base not in known:
            raise typer.BadParameter(f"{t!r} is not a catalogue topic (one of: {', '.join(sorted(known))})",
                                     param_hint="--topic")
        out.append(dlq(base))
    return out


TopicOpt = Annotated[
    list[str] | None,
    typer.Option("--topic", help="Topic (or its .dlq) to read; repeatable; default: every topic's dead letters"),
]


@dead_app.command("list")
def dead_letters_list(
    topic: TopicOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines with every field (never the original bytes)")]
    = False,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """List dead letters: where each came from, which service refused it and why.

    One line each: dlq topic:partition:offset, original topic:partition:offset, service, size, error.

    Example: lanthanide dead-letters list --topic lanthanide.applications.submitted
    """

    async def run() -> int:
        async with client(bootstrap_servers) as c:
            letters = await c.dead_letters(_dlq_topics(topic))
        for d in letters:
            if as_json:
                _jsonl(d.summary())
            else:
                typer.echo(f"{d.dlq_topic}:{d.partition}:{d.offset}\t{d.topic}:{d.original_partition}:"
                           f"{d.original_offset}\t{d.service or '-'}\t{d.original_bytes}B"
                           f"{' (truncated)' if d.truncated else ''}\t{d.error[:200]}")
        return len(letters)

    n = asyncio.run(run())
    typer.echo(f"{n} dead letter(s)", err=True)


@dead_app.command("replay")
def dead_letters_replay(
    topic: Annotated[str, typer.Argument(help="The topic (or its .dlq) whose dead letters to replay")],
    offset: Annotated[list[int] | None, typer.Option("--offset", help="Dead-letter offset to replay; repeatable")]
    = None,
    partition: Annotated[int | None, typer.Option("--partition", help="Only this partition of the .dlq topic")]
    = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead letter of the topic")] = False,
    bootstrap_servers: Bootstrap = None,
) -> None:
    """Publish dead letters' original records again to the topic they came from (after a fix).

    Event ids are unchanged, so anything already processed is deduplicated. Give --offset (one
    or more) or --all.

    Example: lanthanide dead-letters replay lanthanide.screening.completed --offset 3
    """
    if not offset and not replay_all:
        raise typer.BadParameter("give --offset N (repeatable) or --all", param_hint="--offset")
    (dlq_topic,) = _dlq_topics([topic])

    async def run() -> int:
        async with client(bootstrap_servers) as c:
            letters = [
                d for d in await c.dead_letters([dlq_topic])
                if (replay_all or d.offset in set(offset or ()))
                and (partition is None or d.partition == partition)
            ]
            if not letters:
                typer.echo(f"no matching dead letters on {dlq_topic}", err=True)
                raise typer.Exit(1)
            refused = [d for d in letters if d.original is None]
            if refused:
                where = ", ".join(f"{d.partition}:{d.offset}" for d in refused)
                typer.echo(f"error: {len(refused)} dead letter(s) kept only part of the original ({where}); "
                           "find the original by its sha256 (`dead-letters list --json`) and submit it again",
                           err=True)
                raise typer.Exit(2)
            return await c.replay(letters)

    n = asyncio.run(run())
    typer.echo(f"replayed {n} record(s) to {dlq_topic[: -len('.dlq')]}")


@schema_app.command("export")
def schema_export(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for <event_type>.schema.json")
    ] = Path("docs/schemas"),
) -> None:
    """Write a JSON Schema for every event (envelope with its payload).

    Example: lanthanide schema export --out docs/schemas
    """
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
    """Announce changed reference data: screening reloads it and re-screens open cases and live licences.

    Example: lanthanide reference updated --kind list --list-id prc-control --version 2026-11-29
    """
    from lanthanide.contracts import ReferenceUpdated
    from lanthanide.events import EventFactory

    if kind not in ("list", "measures"):
        raise typer.BadParameter("kind must be 'list' or 'measures'", param_hint="--kind")
    payload = ReferenceUpdated(kind=kind, list_id=list_id, version=version, path=path, description=description)  # type: ignore[arg-type]
    envelope = EventFactory("cli").new("reference.updated", payload)

    async def run() -> None:
        async with client(bootstrap_servers) as c:
            await c.publish(Topics.REFERENCE_UPDATES, envelope)

    asyncio.run(run())
    typer.echo(str(envelope.event_id))
