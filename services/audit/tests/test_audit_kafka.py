"""The audit service on a real Kafka broker: ledger, replay, timeline, tamper detection, CLI."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import Result
from lanthanide.topics import Topics
from lanthanide_audit.cli import app as cli
from lanthanide_audit.views import case_timeline, verify
from typer.testing import CliRunner

pytestmark = [pytest.mark.kafka]

GARBAGE = b"\xff\xfe this is not an application"


async def test_case_timeline_replay_and_tamper(
    start_audit: Callable[..., Any], send_raw: Callable[..., Any], tmp_path: Path,
    story: list[tuple[str, Any]], wait_until: Callable[..., Any],
) -> None:
    records = [(t, str(e.case_id).encode() if e.case_id else None, e) for t, e in story]
    await send_raw([*records, (Topics.APPLICATIONS_SUBMITTED, None, GARBAGE)])
    async with start_audit() as app:
        await wait_until(lambda: app.stats.appended == 7, what="7 ledger entries")
        assert app.stats.undecodable == 1
        case_id = str(story[1][1].case_id)
        timeline = await case_timeline(app.store, case_id)
        report = await verify(app.store)
    assert report.ok and report.checked == 7

    # Every step of the case, causes before effects, each linked to the one before it.
    assert [s.event_type for s in timeline.steps] == [
        "application.submitted", "application.accepted", "screening.completed", "case.event",
        "decision.made", "notification.outcome",
    ]
    assert timeline.causation_ok
    assert timeline.steps[0].causation == "root"
    for before, after in zip(timeline.steps, timeline.steps[1:], strict=False):
        assert after.causation_id == before.event_id
    screening = timeline.steps[2].facts
    assert screening["rule_ids"] == ["SCR-CLASS-1C905"]
    assert screening["list_versions"] == {"prc-control": "2026-11-01"}
    decision = timeline.steps[4]
    assert decision.producer is not None and decision.producer.startswith("review@")
    assert decision.facts["countersigned_by"] == "senior-2"
    assert decision.facts["policy_version"] == "policy-3"
    assert decision.facts["licence_number"] == "LIC-AUD-1"
    assert timeline.steps[3].facts["actor"] == "reviewer-7"

    # Replaying every topic from the start (a new consumer group) appends nothing new.
    async with start_audit(group_id="audit-replay") as replay:
        await wait_until(lambda: replay.stats.received == 7, what="the replay to be read")
        assert replay.stats.appended == 0
        assert await replay.store.count() == 7

    # The CLI reads the same ledger: verify passes, the export holds every step.
    db = tmp_path / "audit.db"
    url = f"sqlite+aiosqlite:///{db}"
    runner = CliRunner()

    async def invoke(*args: str) -> Result:
        # The CLI runs its own event loop (asyncio.run), so it gets a thread of its own.
        return await asyncio.to_thread(runner.invoke, cli, [*args, "--db-url", url])

    ok = await invoke("verify")
    assert ok.exit_code == 0, ok.output
    assert "ledger OK: 7 records" in ok.output
    # Both runs signed a checkpoint at shutdown and published it; verify read them off the topic.
    assert "signed checkpoints agree (latest at position 7)" in ok.output
    exported = await invoke("export", case_id, "--format", "json")
    assert exported.exit_code == 0, exported.output
    assert len(orjson.loads(exported.stdout)["steps"]) == 6
    csv_out = await invoke("export", case_id, "-f", "csv")
    assert csv_out.stdout.count("\n") == 7  # header + 6 steps
    shown = await invoke("case", case_id)
    assert shown.exit_code == 0, shown.output
    assert "every causation link holds" in shown.output

    # A second copy of the intact ledger, for the tamper step below: the seven records arrive from
    # six topics, so which one is last (and cut next) is up to the broker.
    intact = tmp_path / "audit-intact.db"
    shutil.copyfile(db, intact)

    # A database writer cuts the last record, fixes the head and deletes the stored checkpoints:
    # the chain alone and the stored checkpoints pass, the published checkpoints do not.
    with sqlite3.connect(db) as conn:
        (prev,) = conn.execute("SELECT hash FROM ledger WHERE seq = 6").fetchone()
        conn.execute("DELETE FROM ledger WHERE seq = 7")
        conn.execute("UPDATE chain_head SET seq = 6, hash = ?", (prev,))
        conn.execute("DELETE FROM checkpoints")
    stored_only = await invoke("verify", "--checkpoints", "stored")
    assert stored_only.exit_code == 0, stored_only.output
    cut = await invoke("verify")
    assert cut.exit_code == 1, cut.output
    assert "ledger BROKEN at seq 7" in cut.output and "truncated" in cut.output

    # Tamper with the stored decision in the intact copy: verify names that record and exits 1.
    with sqlite3.connect(intact) as conn:
        seq, canonical = conn.execute(
            "SELECT seq, canonical FROM ledger WHERE event_type = 'decision.made'"
        ).fetchone()
        conn.execute("UPDATE ledger SET canonical = ? WHERE seq = ?",
                     (bytes(canonical).replace(b"approved", b"denied"), seq))
    broken = await asyncio.to_thread(
        runner.invoke, cli, ["verify", "--db-url", f"sqlite+aiosqlite:///{intact}"])
    assert broken.exit_code == 1
    assert f"ledger BROKEN at seq {seq}" in broken.output
    assert "altered" in broken.output
