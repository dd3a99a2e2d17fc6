"""The batch `screen` CLI function, through typer's CliRunner on a tiny app."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import typer
from lanthanide_screening.cli import RESULT_HEADER, screen
from typer.testing import CliRunner

from .conftest import shared_data_dir

LISTS = shared_data_dir() / "lists"
# These tests read the raw public sources (LANTHANIDE_SHARED_DATA); the product does not need them.
pytestmark = pytest.mark.skipif(not LISTS.is_dir(), reason=f"raw list sources not found at {LISTS}")


def _plain(output: str) -> str:
    """Typer's error box without its frame and line breaks."""
    return " ".join(output.replace("│", " ").split())


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("screen")(screen)

    @app.command("noop")
    def noop() -> None:  # a second command so typer keeps "screen" as a subcommand name
        """Nothing."""

    return app


def test_screen_writes_ranked_matches_from_several_list_formats(app: typer.Typer, tmp_path: Path) -> None:
    queries = tmp_path / "queries.csv"
    queries.write_text(
        "query_id,name,entity_type,country\n"
        "q1,LOCKHEED MARTIN CORP,organization,US\n"
        "q2,Antriebstechnik Nord GmbH,organization,DE\n"
        "q3,Banco Nacional de Cuba,,\n"
    )
    out = tmp_path / "results.csv"
    result = CliRunner().invoke(
        app,
        [
            "screen",
            "--list",
            str(LISTS / "prc"),
            "--list",
            str(LISTS / "ofac_sdn_2021-07"),
            "--input",
            str(queries),
            "--output",
            str(out),
            "--top",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.open()))
    assert tuple(rows[0]) == RESULT_HEADER
    by_query: dict[str, list[list[str]]] = {}
    for r in rows[1:]:
        by_query.setdefault(r[0], []).append(r)
    assert [r[1] for r in by_query["q1"]] == ["1", "2"]
    assert float(by_query["q1"][0][2]) == 1.0 and by_query["q1"][0][3].startswith("cn-")
    assert "q2" not in by_query
    assert by_query["q3"][0][3] == "ofac-sdn" and by_query["q3"][0][5] == "BANCO NACIONAL DE CUBA"


def test_screen_threshold_and_field_level_errors(app: typer.Typer, tmp_path: Path) -> None:
    queries = tmp_path / "q.csv"
    queries.write_text("query_id,name\nq1,Lockhead Martin\n")
    out = tmp_path / "r.csv"
    loose = CliRunner().invoke(
        app,
        ["screen", "--list", str(LISTS / "prc"), "--input", str(queries), "--output", str(out), "--threshold", "0.5"],
    )
    assert loose.exit_code == 0 and len(list(csv.reader(out.open()))) > 1
    strict = CliRunner().invoke(
        app,
        ["screen", "--list", str(LISTS / "prc"), "--input", str(queries), "--output", str(out), "--threshold", "0.99"],
    )
    assert strict.exit_code == 0 and len(list(csv.reader(out.open()))) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("id,full_name\n1,x\n")
    result = CliRunner().invoke(
        app, ["screen", "--list", str(LISTS / "prc"), "--input", str(bad), "--output", str(out)]
    )
    assert result.exit_code == 2 and "missing column(s) ['query_id', 'name']" in _plain(result.output)
    missing = CliRunner().invoke(
        app, ["screen", "--list", str(tmp_path / "nope"), "--input", str(queries), "--output", str(out)]
    )
    assert missing.exit_code == 2 and "no such file or folder" in _plain(missing.output)
