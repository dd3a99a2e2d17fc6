"""Screening's `lanthanide` commands, registered through the `lanthanide.cli` entry point
(services/screening/pyproject.toml names `commands` below): add a command here with
`@commands.command(...)`, or a group with `commands.add_typer(...)`, and `lanthanide` has it.

Batch name screening: `lanthanide screen --list PATH [--list PATH ...] --input Q.csv --output R.csv`.
QUERIES.csv: header `query_id,name` plus optional `entity_type,country`.
RESULTS.csv: header `query_id,rank,score,list_id,entry_id,matched_name`; up to --top rows per
query with score >= --threshold (default: the policy's alert threshold); no row = no match.
"""

from __future__ import annotations

import csv
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress

from lanthanide_screening.domain.reference import load_policy
from lanthanide_screening.matching.index import build_index
from lanthanide_screening.matching.loaders import ListFormatError, load_lists

#: Merged into the root `lanthanide` command (groups of the same name, e.g. `reference`, are merged).
commands = typer.Typer()

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
