"""Dispositions in the audit timeline (issue 14 part 1): every disposition recorded (proposed, and
approved by a senior reviewer for a certain match) or revoked on lanthanide.dispositions, and
every hit a disposition suppressed in screening.completed, is a step of the case's timeline, with
who did it, over HTTP for auditors and in `lanthanide audit show`; `lanthanide case show` reads
the same events off the topics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from lanthanide.auth import TokenGrant
from lanthanide.client import LanthanideClient
from lanthanide.contracts import (
    DispositionRecorded,
    DispositionRevoked,
    EndUseAssessment,
    Envelope,
    PartyHit,
    Route,
    ScreeningCompleted,
)
from lanthanide.events import EventFactory
from lanthanide.settings import KafkaSettings
from lanthanide.topics import Topics
from lanthanide_audit.cli import app as cli
from lanthanide_audit.entrypoints.http import make_http_app
from typer.testing import CliRunner

pytestmark = [pytest.mark.kafka]

REVIEW = EventFactory("review", instance="t")
SCREENING = EventFactory("screening", instance="t")


def disposition_story(story: list[tuple[str, Envelope[Any]]]) -> list[tuple[str, Envelope[Any]]]:
    """The approved case's story with a certain control-list hit judged a false positive by two
    reviewers, a re-screen that keeps the hit as suppressed, and the disposition revoked."""
    accepted, screened = story[1][1], story[2][1]
    case_id = accepted.case_id
    recorded = REVIEW.new("disposition.recorded", DispositionRecorded(
        disposition_id="disp-0001", party_name="Antriebstechnik Nord GmbH", party_role="end_user",
        party_index=0, list_id="prc-control", entry_id="PRC-CTRL-0042", list_version="2026-11-01",
        certain=True, reason="different registration number and address", proposed_by="reviewer-7",
        approved_by=["reviewer-7", "senior-2"], expires_on=date.today() + timedelta(days=90),
    ), case_id=case_id, correlation_id=accepted.correlation_id)
    hit = PartyHit(
        party_role="end_user", party_index=0, list_id="prc-control", list_kind="control",
        list_version="2026-11-01", entry_id="PRC-CTRL-0042", matched_name="Antriebstechnik Nord GmbH",
        score=0.99, algorithm_version="match-2", certain=True, suppressed=True, disposition_id="disp-0001",
        approved_by=["reviewer-7", "senior-2"],
    )
    rescreened = SCREENING.derive(recorded, "screening.completed", ScreeningCompleted(
        external_reference=screened.payload.external_reference, application=screened.payload.application,
        complete=True, classifications=[], licence_required=True, hits=[hit],
        end_use=EndUseAssessment(category="automotive", rule_ids=["SCR-ENDUSE-CIVILIAN"]),
        route=Route.STANDARD, rule_ids=["SCR-CLASS-1C905"], list_versions={"prc-control": "2026-11-01"},
        reference_data_version="ref-7", algorithm_version="match-2", screened_on=date.today(),
        is_rescreen=True))
    revoked = REVIEW.new("disposition.revoked", DispositionRevoked(
        disposition_id="disp-0001", revoked_by="senior-3", reason="new evidence from the end user's registry"),
        case_id=case_id, correlation_id=accepted.correlation_id)
    return [*story, (Topics.DISPOSITIONS, recorded), (Topics.SCREENING_COMPLETED, rescreened),
            (Topics.DISPOSITIONS, revoked)]


async def test_dispositions_and_suppressed_hits_are_in_the_case_timeline(
    start_audit: Callable[..., Any], send_raw: Callable[..., Any], story: list[tuple[str, Any]],
    wait_until: Callable[..., Any], kafka_bootstrap: str, prefix: str, tmp_path: Any,
) -> None:
    events = disposition_story(story)
    case_id = str(story[1][1].case_id)
    await send_raw([(t, str(e.case_id).encode() if e.case_id else None, e) for t, e in events])
    async with start_audit() as app:
        await wait_until(lambda: app.stats.appended == len(events), what=f"{len(events)} ledger entries")
        app.settings.tokens = {"tok-aud": TokenGrant(user="aud", roles=["auditor"]),
                               "tok-rev": TokenGrant(user="rev", roles=["reviewer"])}
        transport = httpx.ASGITransport(app=make_http_app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://audit") as http:
            path = f"/cases/{case_id}/timeline"
            assert (await http.get(path)).status_code == 401
            assert (await http.get(path, headers={"Authorization": "Bearer tok-rev"})).status_code == 403
            answer = await http.get(path, headers={"Authorization": "Bearer tok-aud"})
    assert answer.status_code == 200, answer.text
    steps = answer.json()["steps"]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for step in steps:
        by_type.setdefault(step["event_type"], []).append(step)

    (recorded,) = by_type["disposition.recorded"]
    assert recorded["facts"] | {"expires_on": None} == {
        "disposition_id": "disp-0001", "party_role": "end_user", "party_index": 0, "list_id": "prc-control",
        "entry_id": "PRC-CTRL-0042", "list_version": "2026-11-01", "verdict": "false_positive",
        "certain": True, "reason": "different registration number and address", "proposed_by": "reviewer-7",
        "approved_by": ["reviewer-7", "senior-2"], "expires_on": None,
    }
    assert "party_name" not in recorded["facts"]  # a screened name stays out, as matched names do
    (revoked,) = by_type["disposition.revoked"]
    assert revoked["facts"] == {"disposition_id": "disp-0001", "revoked_by": "senior-3",
                                "reason": "new evidence from the end user's registry"}
    first, rescreen = by_type["screening.completed"]
    assert "suppressed_hits" not in first["facts"]
    assert rescreen["facts"]["suppressed_hits"] == [{
        "list_id": "prc-control", "entry_id": "PRC-CTRL-0042", "party_role": "end_user", "party_index": 0,
        "disposition_id": "disp-0001", "approved_by": ["reviewer-7", "senior-2"]}]
    (hit,) = rescreen["facts"]["hits"]
    assert hit["suppressed"] is True and hit["disposition_id"] == "disp-0001"
    # Recorded, then the re-screen it caused, then revoked; each disposition is an expected root.
    order = [s["event_id"] for s in steps]
    assert order.index(recorded["event_id"]) < order.index(rescreen["event_id"]) < order.index(revoked["event_id"])
    assert rescreen["causation_id"] == recorded["event_id"] and rescreen["causation"] == "ok"
    assert answer.json()["causation_ok"] is True

    # `lanthanide audit show` prints the same steps.
    url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    # Wide enough that the table folds no cell.
    shown = await asyncio.to_thread(CliRunner().invoke, cli, ["show", case_id, "--db-url", url],
                                    env={"COLUMNS": "600"})
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("disposition.recorded") == 1 and "disposition.revoked" in shown.output
    assert "disp-0001" in shown.output and "senior-2" in shown.output and "senior-3" in shown.output

    # `lanthanide case show` reads the case's events off every catalogue topic: dispositions too.
    async with LanthanideClient(settings=KafkaSettings(bootstrap_servers=kafka_bootstrap), client_id="t") as c:
        history = await c.case_history(story[1][1].case_id, topics=[f"{prefix}{t}" for t in Topics.all()])
    types = [e.event_type for e in history]
    assert types.count("disposition.recorded") == 1 and types.count("disposition.revoked") == 1
    assert any(h.suppressed and h.disposition_id == "disp-0001"
               for e in history if e.event_type == "screening.completed" for h in e.payload.hits)
