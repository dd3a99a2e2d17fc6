"""examples/subscriber.py against a real broker: prints each decision once, reports gaps."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from lanthanide.contracts import DecisionMade, DecisionOutcome
from lanthanide.events import EventFactory
from lanthanide.topics import Topics

pytestmark = [pytest.mark.kafka]

REPO_ROOT = Path(__file__).resolve().parents[3]
REVIEW = EventFactory("review", instance="t")


async def test_subscriber_dedupes_by_decision_id_and_reports_missing_cases(
    kafka_bootstrap: str, prefix: str, send: Callable[..., Any], tmp_path: Path,
) -> None:
    decisions = [
        REVIEW.new("decision.made", DecisionMade(
            decision_id=uuid4(), outcome=DecisionOutcome.DENIED, external_reference=f"PO-S-{i}",
            exporter_name="E", decided_by="auto", policy_version="p1", decided_at=datetime.now(UTC)),
            case_id=uuid4())
        for i in range(3)
    ]
    # The second decision arrives twice, as after a crash between produce and commit.
    await send(Topics.DECISIONS, *decisions, decisions[1])
    expect = tmp_path / "expected.txt"
    expect.write_text("PO-S-0\nPO-S-1\nPO-S-2\nPO-S-MISSING\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO_ROOT / "examples" / "subscriber.py"),
        "--bootstrap", kafka_bootstrap, "--topic", f"{prefix}{Topics.DECISIONS}",
        "--group", f"example-{uuid4().hex[:6]}", "--expect", str(expect), "--idle-exit", "3",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    printed = out.decode().splitlines()
    assert sorted(line.split("ref=")[1].split()[0] for line in printed) == ["PO-S-0", "PO-S-1", "PO-S-2"]
    report = err.decode()
    assert "3 decisions, 1 duplicates dropped" in report
    assert "MISSING PO-S-MISSING" in report
    assert proc.returncode == 1
