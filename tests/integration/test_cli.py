"""The `lanthanide` CLI against a real broker: submit, reference updates, input formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lanthanide_cli.main import read_applications
from lanthanide.testing.collector import TopicCollector
from lanthanide.testing.factories import civilian_application
from lanthanide.topics import Topics

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, bootstrap: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    return subprocess.run([sys.executable, "-m", "lanthanide_cli", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_object_array_and_json_lines_are_read(tmp_path: Path) -> None:
    a, b = civilian_application("A-1"), civilian_application("B-2")
    (tmp_path / "one.json").write_text(json.dumps(a, indent=2))
    (tmp_path / "many.json").write_text(json.dumps([a, b]))
    (tmp_path / "lines.jsonl").write_text(json.dumps(a) + "\n\n" + json.dumps(b) + "\n")
    assert [x["external_reference"] for x in read_applications(tmp_path / "one.json")] == ["A-1"]
    assert [x["external_reference"] for x in read_applications(tmp_path / "many.json")] == ["A-1", "B-2"]
    assert [x["external_reference"] for x in read_applications(tmp_path / "lines.jsonl")] == ["A-1", "B-2"]


@pytest.mark.kafka
async def test_submit_prints_reference_and_case_id_and_publishes(kafka_bootstrap: str) -> None:
    async with TopicCollector(kafka_bootstrap, [Topics.APPLICATIONS_SUBMITTED]) as seen:
        out = _cli("submit", str(REPO / "examples" / "applications.jsonl"), bootstrap=kafka_bootstrap)
        assert out.returncode == 0, out.stderr
        lines = [line.split("\t") for line in out.stdout.splitlines()]
        refs = [json.loads(x)["external_reference"] for x in (REPO / "examples" / "applications.jsonl").open()]
        assert [line[0] for line in lines] == refs
        invalid = [line for line in lines if line[1].startswith("invalid")]
        assert len(invalid) == 1 and "items.0.unit" in invalid[0][1]
        case_ids = {line[1] for line in lines if not line[1].startswith("invalid")}
        await seen.wait_for(
            lambda c: case_ids <= {str(e.case_id) for e in c.envelopes(Topics.APPLICATIONS_SUBMITTED)},
            60, "the submitted events",
        )


@pytest.mark.kafka
async def test_reference_update_is_announced(kafka_bootstrap: str) -> None:
    async with TopicCollector(kafka_bootstrap, [Topics.REFERENCE_UPDATES]) as seen:
        out = _cli("reference", "updated", "--kind", "list", "--list-id", "prc-control",
                   "--version", "2026-11-29", bootstrap=kafka_bootstrap)
        assert out.returncode == 0, out.stderr
        event_id = out.stdout.strip()
        await seen.wait_for(lambda c: any(str(e.event_id) == event_id for e in c.envelopes()), 60, "the update")
        (update,) = [e for e in seen.envelopes() if str(e.event_id) == event_id]
        assert update.payload.kind == "list" and update.payload.list_id == "prc-control"
    bad = _cli("reference", "updated", "--kind", "nonsense", "--version", "1", bootstrap=kafka_bootstrap)
    assert bad.returncode == 2 and "kind must be" in bad.stderr
