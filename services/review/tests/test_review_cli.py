"""The typer commands the lead registers: `lanthanide policy replay` and `lanthanide sla report`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from lanthanide.contracts import Route
from lanthanide.events import EventFactory
from lanthanide_review.adapters.store import Store
from lanthanide_review.cli import app
from lanthanide_review.domain.policy import load_policy
from lanthanide_review.domain.roles import ConflictRegister
from lanthanide_review.domain.sla import PrcCalendar
from lanthanide_review.service_layer.handlers import ReviewService, TopicNames
from typer.testing import CliRunner


@pytest.fixture
def populated(tmp_path: Path, screening: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    url = f"sqlite+aiosqlite:///{tmp_path / 'review.db'}"

    async def fill() -> None:
        store = Store(url)
        await store.migrate()
        service = ReviewService(
            store=store,
            policy=load_policy(),
            calendar=PrcCalendar(),
            conflicts=ConflictRegister(),
            factory=EventFactory("review"),
            topics=TopicNames.with_prefix(""),
        )
        for route in (Route.DENY, Route.STANDARD):
            await service.handle(screening(route), "lanthanide.screening.completed")
        await store.dispose()

    asyncio.run(fill())
    monkeypatch.setenv("LANTHANIDE_REVIEW_DB_URL", url)
    return tmp_path


def test_policy_replay_prints_what_would_change(populated: Path) -> None:
    doc = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "src/lanthanide_review/data/routing_policy.yaml").read_text()
    )
    doc.update(version="2027.1", hard_denials="reviewer_confirmed")
    new = populated / "policy.yaml"
    new.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(app, ["policy-replay", str(new), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["policy_version"] == "2027.1"
    assert [c["route"] for c in out["changes"]] == ["deny"]


def test_policy_replay_refuses_an_invalid_file(populated: Path) -> None:
    bad = populated / "bad.yaml"
    bad.write_text("version: x\nrules: []\n")
    result = CliRunner().invoke(app, ["policy-replay", str(bad)])
    assert result.exit_code == 2 and "effective_from: Field required" in result.output


def test_sla_report_lists_queues(populated: Path) -> None:
    result = CliRunner().invoke(app, ["sla-report", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["queue"]: r for r in json.loads(result.output)}
    assert rows["standard"]["open"] == 1 and rows["(auto)"]["decided"] == 1
