"""Screening commands: batch name screening, the what-if classification and reference data.

`lanthanide screen --list PATH [--list PATH ...] --input Q.csv --output R.csv`
`lanthanide classify APPLICATION.json [--on DATE]`: classification, measures and route on a date.
`lanthanide reference list|load|fetch`: what is loaded, and loading newer data (below).

The lead registers `screen` in the `lanthanide` CLI (`app.command("screen")(screen)`).
QUERIES.csv: header `query_id,name` plus optional `entity_type,country`.
RESULTS.csv: header `query_id,rank,score,list_id,entry_id,matched_name`; up to --top rows per
query with score >= --threshold (default: the policy's alert threshold); no row = no match.
"""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import Progress

from lanthanide_screening.domain.reference import load_policy
from lanthanide_screening.matching.index import build_index
from lanthanide_screening.matching.loaders import ListFormatError, load_lists

#: Merged into the root `lanthanide` command through the `lanthanide.cli` entry point
#: (services/screening/pyproject.toml); groups of the same name (e.g. `reference`) are merged.
commands = typer.Typer()
reference_commands = typer.Typer(help="Reference data: restricted-party lists and control measures.")
commands.add_typer(reference_commands, name="reference")

RESULT_HEADER = ("query_id", "rank", "score", "list_id", "entry_id", "matched_name")
_ENTITY_TYPES = ("organization", "person", "vessel", "aircraft")


def _read_queries(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("query_id", "name") if c not in (reader.fieldnames or [])]
        if missing:
            raise typer.BadParameter(
                f"{path.name}: missing column(s) {missing}; header must start with query_id,name", param_hint="--input"
            )
        rows = list(reader)
    for n, row in enumerate(rows, start=2):
        etype = (row.get("entity_type") or "").strip().lower()
        if etype and etype not in _ENTITY_TYPES:
            raise typer.BadParameter(
                f"{path.name}:{n}: entity_type {etype!r} is not one of {_ENTITY_TYPES}", param_hint="--input"
            )
    return rows


@commands.command("screen")
def screen(
    list: list[Path] = typer.Option(..., "--list", help="List file or folder (format auto-detected); repeatable."),  # noqa: B008
    input: Path = typer.Option(..., "--input", help="QUERIES.csv: query_id,name[,entity_type,country]"),  # noqa: B008
    output: Path = typer.Option(..., "--output", help="RESULTS.csv to write"),  # noqa: B008
    top: int = typer.Option(5, "--top", min=1, max=100, help="Matches per query"),
    threshold: float | None = typer.Option(None, "--threshold", min=0.0, max=1.0, help="Minimum score"),
) -> None:
    """Screen a CSV of names against restricted-party lists and write the best matches (no Kafka).

    Example: lanthanide screen --list reference/lists --input queries.csv --output results.csv
    """
    err = Console(stderr=True)
    try:
        lists = [lst for path in list for lst in load_lists(path)]
    except (ListFormatError, OSError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--list") from None
    queries = _read_queries(input)
    minimum = load_policy().thresholds.alert if threshold is None else threshold
    index = build_index(lists)
    matched = 0
    with (
        output.open("w", encoding="utf-8", newline="") as fh,
        Progress(console=err, disable=not err.is_terminal) as bar,
    ):
        writer = csv.writer(fh)
        writer.writerow(RESULT_HEADER)
        task = bar.add_task("screening", total=len(queries))
        for row in queries:
            etype = (row.get("entity_type") or "").strip().lower() or None
            found = index.search(row["name"], entity_type=etype, threshold=minimum, top=top)
            matched += bool(found)
            for rank, m in enumerate(found, start=1):
                writer.writerow([row["query_id"], rank, f"{m.score:.4f}", m.list_id, m.entry.entry_id, m.matched.name])
            bar.advance(task)
    err.print(
        f"screened {len(queries)} name(s) against {sum(len(x.entries) for x in lists)} entries in "
        f"{len(lists)} list(s): {matched} with a match >= {minimum:.2f}; results in {output}"
    )


@commands.command("classify")
def classify(
    application: Path = typer.Argument(..., help="APPLICATION.json: one application as submitted"),  # noqa: B008
    on: str | None = typer.Option(None, "--on", help="PRC date YYYY-MM-DD to evaluate on (default: today in PRC)"),
) -> None:
    """What-if: classification, the measures in force on a date and the route; creates no case.

    Example: lanthanide classify examples/application.json --on 2026-11-11
    """
    from lanthanide.contracts import Application
    from lanthanide.dates import prc_today
    from pydantic import ValidationError

    from lanthanide_screening.adapters.reference_loader import build_engine
    from lanthanide_screening.domain.whatif import what_if
    from lanthanide_screening.settings import ScreeningSettings

    try:
        day = date.fromisoformat(on) if on else prc_today()
    except ValueError:
        raise typer.BadParameter(f"{on!r} is not a date YYYY-MM-DD", param_hint="--on") from None
    try:
        data = json.loads(application.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"{application}: {exc}", param_hint="APPLICATION") from None
    if isinstance(data, dict) and "application" in data and "external_reference" not in data:
        data = data["application"]  # an accepted payload or an envelope's payload
    try:
        app = Application.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise typer.BadParameter(f"{application.name}: {loc}: {first['msg']}", param_hint="APPLICATION") from None
    engine = build_engine(ScreeningSettings())
    typer.echo(json.dumps(what_if(engine, app, day), indent=2, ensure_ascii=False))


# ---------------------------------------------------------------- reference data
# `lanthanide reference list | load FILE --kind DATASET | fetch URL --kind DATASET`. Files are
# validated as screening would load them, stored under the data dir with their version and
# sha256, and announced on reference.updates by dataset, version and checksum (never a path):
# each screening instance looks the version up in its own data dir and verifies the checksum.

_DATA_DIR_HELP = "Data directory (default: LANTHANIDE_DATA_DIR or .data), the one screening uses."
_KIND_HELP = (
    "Dataset: a shipped one (prc, un, watch, measures) to replace it, or a new name to add a list. "
    "Lists in any format screening reads (compact JSON, PRC JSON-LD, UN XML, OFAC CSV, flat CSV)."
)
#: The largest file `reference fetch` accepts: a full OpenSanctions export fits; a runaway does not.
FETCH_MAX_BYTES = 200 * 1024 * 1024


def _settings_data_dir(data_dir: Path | None) -> Path:
    from lanthanide_screening.settings import ScreeningSettings

    return data_dir or ScreeningSettings().data_dir


def _prc_today() -> date:
    # Reference data is dated on the PRC calendar.
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


@reference_commands.command("list")
def reference_list(
    data_dir: Path | None = typer.Option(None, "--data-dir", help=_DATA_DIR_HELP),  # noqa: B008
    as_json: bool = typer.Option(False, "--json", help="JSON Lines instead of a table"),
) -> None:
    """What screening loads: each dataset's kind, version, date and checksum (packaged or loaded).

    Example: lanthanide reference list --data-dir .data
    """
    from lanthanide_screening.views import reference_datasets

    rows = reference_datasets(_settings_data_dir(data_dir))
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    typer.echo("active\tdataset\tkind\tversion\tdate\tsha256\torigin")
    for r in rows:
        typer.echo(
            f"{'*' if r['active'] else ' '}\t{r['dataset']}\t{r['kind']}\t{r['version']}\t{r['date'] or '-'}"
            f"\t{r['sha256'][:16]}\t{r['origin']}"
        )


def _store_and_announce(
    path: Path, kind: str, version: str | None, origin: str, data_dir: Path | None,
    bootstrap_servers: str | None, topic_prefix: str, announce: bool,
) -> None:
    from lanthanide_screening.adapters.reference_store import MEASURES, ReferenceStore, ReferenceStoreError
    from lanthanide_screening.domain.reference import ReferenceDataError

    store = ReferenceStore(_settings_data_dir(data_dir))
    try:
        ds = store.store(path, kind, version=version, origin=origin, today=_prc_today())
    except (ReferenceStoreError, ReferenceDataError, ListFormatError, OSError) as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from None
    typer.echo(f"stored {ds.dataset} version {ds.version} sha256 {ds.sha256}")
    if not announce:
        return
    from lanthanide.client import LanthanideClient
    from lanthanide.contracts import ReferenceUpdated
    from lanthanide.events import EventFactory
    from lanthanide.topics import Topics

    payload = ReferenceUpdated(
        kind="measures" if ds.dataset == MEASURES else "list",
        list_id=None if ds.dataset == MEASURES else ds.dataset,
        version=ds.version,
        checksum=ds.sha256,
        description=f"{ds.dataset} loaded from {origin}",
    )
    envelope = EventFactory("cli").new("reference.updated", payload)

    async def run() -> None:
        async with LanthanideClient(bootstrap_servers, client_id="cli") as client:
            await client.publish(f"{topic_prefix}{Topics.REFERENCE_UPDATES}", envelope)

    asyncio.run(run())
    typer.echo(f"announced on {topic_prefix}{Topics.REFERENCE_UPDATES}: event {envelope.event_id}")


_BOOTSTRAP = typer.Option(
    None, "--bootstrap-servers", "-b", envvar=["LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"],
    help="Kafka bootstrap servers (default 127.0.0.1:9092).",
)
_PREFIX = typer.Option("", "--topic-prefix", envvar="LANTHANIDE_SCREENING_TOPIC_PREFIX", help="Topic prefix in use")


@reference_commands.command("load")
def reference_load(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The new list or measures file"),  # noqa: B008
    kind: str = typer.Option(..., "--kind", help=_KIND_HELP),
    version: str | None = typer.Option(None, "--version", help="Version name (default: PRC date + sha256)"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=_DATA_DIR_HELP),  # noqa: B008
    bootstrap_servers: str | None = _BOOTSTRAP,
    topic_prefix: str = _PREFIX,
    announce: bool = typer.Option(True, "--announce/--no-announce", help="Publish reference.updated"),
) -> None:
    """Validate a reference file, store it under the data dir with its version and checksum, announce it.

    Example: lanthanide reference load watch-2027-01.csv --kind watch
    """
    _store_and_announce(file, kind, version, file.name, data_dir, bootstrap_servers, topic_prefix, announce)


@reference_commands.command("fetch")
def reference_fetch(
    url: str = typer.Argument(..., help="http(s) URL of an official or OpenSanctions export"),
    kind: str = typer.Option(..., "--kind", help=_KIND_HELP),
    version: str | None = typer.Option(None, "--version", help="Version name (default: PRC date + sha256)"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=_DATA_DIR_HELP),  # noqa: B008
    bootstrap_servers: str | None = _BOOTSTRAP,
    topic_prefix: str = _PREFIX,
    announce: bool = typer.Option(True, "--announce/--no-announce", help="Publish reference.updated"),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the server"),
) -> None:
    """Download a list or measures file, then load it as `reference load` does.

    Example: lanthanide reference fetch --kind un
    https://data.opensanctions.org/datasets/latest/un_sc_sanctions/targets.simple.csv
    """
    import tempfile
    from urllib.parse import urlparse

    import httpx

    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise typer.BadParameter("only http and https URLs are fetched", param_hint="URL")
    name = Path(parsed.path).name or f"{kind}.dat"
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / name
        try:
            with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
                response.raise_for_status()
                size = 0
                with target.open("wb") as fh:
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > FETCH_MAX_BYTES:
                            raise typer.BadParameter(f"larger than {FETCH_MAX_BYTES} bytes", param_hint="URL")
                        fh.write(chunk)
        except httpx.HTTPError as exc:
            raise typer.BadParameter(f"could not fetch {url}: {exc}", param_hint="URL") from None
        _store_and_announce(target, kind, version, url, data_dir, bootstrap_servers, topic_prefix, announce)
