"""The `lanthanide` command line without Kafka: every command's help shows every argument and an
example; errors a user can fix end in one line with the remedy (no traceback, no input text)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer
from click.testing import CliRunner
from lanthanide.testing.factories import civilian_application
from lanthanide_cli import discovery
from lanthanide_cli.main import build

REPO = Path(__file__).resolve().parents[3]


def _walk(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in group.commands.items():
        if command.hidden:
            continue
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _walk(command, (*path, name))


def _flat(text: str) -> str:
    """Help text without rich's box drawing and line breaks."""
    return re.sub(r"\s+", " ", re.sub(r"[│╭╮╰╯─]", " ", text))


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer.rich_utils

    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 2000)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns: nothing listens there


def test_service_commands_are_found_through_entry_points() -> None:
    root = build()
    names = {" ".join(p) for p, _ in _walk(root)}
    # The core commands, and those the services register (screening, review, audit).
    for expected in ("submit", "decisions", "rejections", "case show", "shipment report", "dead-letters list",
                     "dead-letters replay", "reference updated", "schema export",
                     "screen", "policy replay", "sla report", "audit show", "audit verify", "audit export"):
        assert expected in names, f"`lanthanide {expected}` is missing"
    eps = {ep.name: ep.value for ep in discovery.service_entry_points()}
    assert eps["screening"] == "lanthanide_screening.cli:commands"


def test_every_command_help_shows_every_argument_and_an_example(wide: None) -> None:
    root = build()
    runner = CliRunner()
    checked = 0
    for path, command in _walk(root):
        result = runner.invoke(root, [*path, "--help"], prog_name="lanthanide")
        assert result.exit_code == 0, (path, result.output)
        text = _flat(result.output)
        assert "Example: lanthanide" in text, f"`lanthanide {' '.join(path)} --help` has no example"
        for param in command.params:
            if param.name == "help":
                continue
            if isinstance(param, click.Option):
                assert param.opts[0] in text, (path, param.opts[0])
            shown = getattr(param, "help", None)
            if shown:
                assert _flat(shown).strip() in text, f"{' '.join(path)}: help of {param.name!r} not shown"
            checked += 1
    assert checked > 30  # the walk really reached the commands' parameters


def test_argument_help_is_shown(wide: None) -> None:
    # The bug of the locked typer with click 8.5: argument help silently vanished.
    result = CliRunner().invoke(build(), ["submit", "--help"], prog_name="lanthanide")
    assert "Applications: JSON object, array or JSON Lines" in _flat(result.output)


def test_a_group_of_the_same_name_is_merged_command_by_command() -> None:
    extra = typer.Typer()
    reference = typer.Typer()
    extra.add_typer(reference, name="reference")

    @reference.command("list")
    def list_() -> None:
        """What is loaded."""

    @extra.command("submit")
    def not_the_real_submit() -> None:
        """Must not replace the core command."""

    root = build()
    discovery.merge(root, typer.main.get_group(extra))
    ref = root.commands["reference"]
    assert isinstance(ref, click.Group) and {"updated", "list"} <= set(ref.commands)
    assert root.commands["submit"].callback.__name__ != "not_the_real_submit"  # type: ignore[union-attr]


def _one_line_error(result: click.testing.Result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("args", [
    ["submit", "{file}"],
    ["decisions", "-n", "1"],
    ["rejections"],
    ["case", "show", "1b4e28ba-2fa1-11d2-883f-0016d3cca427"],
    ["dead-letters", "list"],
    ["reference", "updated", "--kind", "list", "--version", "1"],
])
def test_unreachable_broker_is_one_line_with_the_remedy(args: list[str], tmp_path: Path) -> None:
    app = civilian_application("PRIVATE-REF-1")
    (tmp_path / "a.json").write_text(json.dumps(app))
    port = _closed_port()
    args = [a.replace("{file}", str(tmp_path / "a.json")) for a in args]
    result = CliRunner().invoke(build(), [*args, "-b", f"127.0.0.1:{port}"], prog_name="lanthanide")
    line = _one_line_error(result, 3)
    assert f"cannot reach Kafka at 127.0.0.1:{port}" in line
    assert "--bootstrap-servers" in line and "make run" in line
    assert app["exporter"]["name"] not in result.output + result.stderr


@pytest.mark.parametrize(("content", "expected"), [
    (None, "no such file"),
    ("", "is empty"),
    ('{"external_reference": "X", ', "not JSON"),
    ('{"a": 1}\n[1, 2\n', "line 2 is not JSON"),
    ('["a string"]', "application 1 is a JSON str, not an object"),
])
def test_a_bad_file_is_one_line_naming_the_problem(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "apps.json"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(build(), ["submit", str(path), "-b", "127.0.0.1:1"], prog_name="lanthanide")
    line = _one_line_error(result, 2)
    assert str(path) in line and expected in line
    assert "JSON Lines" in line or "check the path" in line  # the remedy


def test_invalid_application_is_named_by_field_without_its_text(tmp_path: Path) -> None:
    bad = civilian_application("BAD-1")
    bad["items"][0]["unit"] = "bushel"
    good = civilian_application("GOOD-1")
    path = tmp_path / "apps.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    result = CliRunner().invoke(build(), ["submit", "--check", str(path)], prog_name="lanthanide")
    assert result.exit_code == 2
    lines = dict(line.split("\t") for line in result.stdout.splitlines())
    assert lines["GOOD-1"] == "valid"
    assert lines["BAD-1"].startswith("invalid: items.0.unit:")
    assert bad["exporter"]["name"] not in result.output + result.stderr
    assert "1 invalid" in result.stderr


def test_an_invalid_event_payload_is_one_line_before_any_kafka_call() -> None:
    result = CliRunner().invoke(build(), [
        "shipment", "report", "--licence", "L-1", "--quantity", "-3", "--unit", "kg", "--end-user", "E",
        "--end-user-country", "DE", "--shipped-on", "2026-12-01", "-b", "127.0.0.1:1",
    ], prog_name="lanthanide")
    line = _one_line_error(result, 2)
    assert "quantity" in line and "greater than 0" in line and "Kafka" not in line


def test_the_console_script_runs_and_fails_in_one_line() -> None:
    # The real entry point in a real process (what a user types), not the in-process runner.
    out = subprocess.run([sys.executable, "-m", "lanthanide_cli", "submit", "no-such-file.json"],
                         capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: no-such-file.json: no such file; check the path (examples/applications.jsonl is a sample)"
    ]


def test_classify_prints_only_its_json_on_stdout(tmp_path: Path) -> None:
    # The engine logs the lists it loads; those lines go to stderr, so the output pipes into jq.
    path = tmp_path / "app.json"
    path.write_text(json.dumps(civilian_application()), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "lanthanide_cli", "classify", str(path), "--on", "2026-12-01"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
        env={**os.environ, "LANTHANIDE_DATA_DIR": str(tmp_path / "data")},
    )
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["as_of"] == "2026-12-01" and answer["route"]
    assert "list_loaded" in out.stderr
