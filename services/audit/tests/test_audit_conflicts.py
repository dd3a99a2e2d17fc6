"""A forged decision published with the real decision's ids before the real one: the ledger keeps
both and verification fails naming the id; the client's decision reader reports the conflict and
yields both. The same bytes again stays a quiet duplicate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from lanthanide.client import LanthanideClient
from lanthanide.contracts import DecisionOutcome, Envelope
from lanthanide.kafka import make_producer
from lanthanide.serde import encode
from lanthanide.settings import KafkaSettings
from lanthanide.topics import Topics
from lanthanide_audit.views import verify

pytestmark = [pytest.mark.kafka]


def _real_and_forged(story: list[tuple[str, Envelope[Any]]]) -> tuple[Envelope[Any], Envelope[Any]]:
    decided = dict(story)[Topics.DECISIONS]
    real = decided.model_copy(update={"payload": decided.payload.model_copy(
        update={"outcome": DecisionOutcome.DENIED, "licence": None, "rule_ids": ["REV-DENY"]})})
    return real, decided  # the forgery: same event id and decision id, "approved" + licence


async def test_a_forged_decision_before_the_real_one_fails_audit_verify(
    start_audit: Callable[..., Any], send_raw: Callable[..., Any], wait_until: Callable[..., Any],
    story: list[tuple[str, Envelope[Any]]],
) -> None:
    real, forged = _real_and_forged(story)
    assert forged.event_id == real.event_id and forged.payload.decision_id == real.payload.decision_id
    async with start_audit() as app:
        before = [(t, e) for t, e in story if t != Topics.DECISIONS]
        await send_raw([(t, str(e.case_id).encode(), e) for t, e in before])
        key = str(real.case_id).encode()
        await send_raw([(Topics.DECISIONS, key, forged), (Topics.DECISIONS, key, real),
                        (Topics.DECISIONS, key, real), (Topics.DECISIONS, key, forged)])
        await wait_until(lambda: app.stats.received >= len(before) + 4, 90, "audit to read the decisions")
        report = await verify(app.store)
        assert not report.ok
        assert report.broken is None  # the chain itself holds ...
        assert report.conflicts == (str(real.event_id),)  # ... but the conflict is named
        # Both copies are kept: the first in the chain, the second beside it, once each.
        assert await app.store.conflict_ids() == [str(real.event_id)]
        assert app.stats.conflicts >= 1


async def test_a_forged_decision_under_a_new_event_id_but_the_real_decision_id_is_a_conflict(
    start_audit: Callable[..., Any], send_raw: Callable[..., Any], wait_until: Callable[..., Any],
    story: list[tuple[str, Envelope[Any]]],
) -> None:
    real, forged = _real_and_forged(story)
    forged = forged.model_copy(update={"event_id": uuid4()})
    async with start_audit() as app:
        key = str(real.case_id).encode()
        await send_raw([(Topics.DECISIONS, key, forged), (Topics.DECISIONS, key, real)])
        await wait_until(lambda: app.stats.received >= 2, 90, "audit to read both decisions")
        report = await verify(app.store)
        assert not report.ok and report.broken is None
        assert report.conflicts == (f"decision:{real.payload.decision_id}",)


async def test_the_same_bytes_again_is_a_quiet_duplicate(
    start_audit: Callable[..., Any], send_raw: Callable[..., Any], wait_until: Callable[..., Any],
    story: list[tuple[str, Envelope[Any]]],
) -> None:
    async with start_audit() as app:
        records = [(t, str(e.case_id).encode(), e) for t, e in story]
        await send_raw(records + records)
        await wait_until(lambda: app.stats.received >= 2 * len(story), 90, "audit to read everything twice")
        report = await verify(app.store)
        assert report.ok and report.checked == len(story) and report.conflicts == ()


async def test_the_client_decision_reader_reports_and_yields_both(
    kafka_bootstrap: str, story: list[tuple[str, Envelope[Any]]]
) -> None:
    real, forged = _real_and_forged(story)
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    producer = make_producer(settings, "conflict-test")
    await producer.start()
    try:
        for env in (forged, real, real):
            await producer.send_and_wait(Topics.DECISIONS, encode(env), key=str(env.case_id).encode())
    finally:
        await producer.stop()
    async with LanthanideClient(settings=settings) as client:
        mine = [d async for d in client.decisions(timeout=10) if d.payload.decision_id == real.payload.decision_id]
        assert [d.payload.outcome for d in mine] == [DecisionOutcome.APPROVED, DecisionOutcome.DENIED]
        clashes = [(a, b) for a, b in client.conflicts if a.payload.decision_id == real.payload.decision_id]
        assert len(clashes) == 1
        assert clashes[0][0].payload.outcome is DecisionOutcome.APPROVED
        assert clashes[0][1].payload.outcome is DecisionOutcome.DENIED
