"""Fixtures of the audit tests: the audit service on a real broker, a whole case's events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from lanthanide.contracts import (
    Application,
    ApplicationAccepted,
    CaseEvent,
    CaseEventKind,
    DecisionMade,
    DecisionOutcome,
    EndUseAssessment,
    Envelope,
    Licence,
    LicenceItem,
    LicenceType,
    NotificationOutcome,
    Route,
    ScreeningCompleted,
)
from lanthanide.events import EventFactory
from lanthanide.kafka import ensure_topics, make_producer
from lanthanide.serde import encode
from lanthanide.settings import KafkaSettings
from lanthanide.testing.factories import civilian_application
from lanthanide.topics import Topics
from lanthanide_audit.bootstrap import AuditApp, build
from lanthanide_audit.settings import AuditSettings


@pytest.fixture
def prefix() -> str:
    """A topic prefix of this test's own, so tests sharing one broker never see each other."""
    return f"t{uuid4().hex[:10]}."


#: The keys of the audit stage under test (the CLI reads the same from the environment).
LEDGER_KEY = "test-ledger-key-" + "k" * 24
SIGNING_KEY = "11" * 32


@pytest.fixture
def start_audit(
    kafka_bootstrap: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Any]:
    """`async with start_audit(group_id=...) as app:` runs the audit stage on this test's topics,
    with a ledger key and a checkpoint signing key (also set in the environment, with this test's
    broker and topic prefix, for `lanthanide audit verify`)."""
    for name, value in (("LANTHANIDE_AUDIT_LEDGER_KEY", LEDGER_KEY),
                        ("LANTHANIDE_AUDIT_CHECKPOINT_SIGNING_KEY", SIGNING_KEY),
                        ("LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap),
                        ("LANTHANIDE_AUDIT_TOPIC_PREFIX", prefix)):
        monkeypatch.setenv(name, value)

    @asynccontextmanager
    async def start(group_id: str | None = None) -> AsyncIterator[AuditApp]:
        kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, partitions=3)
        await ensure_topics(kafka, [f"{prefix}{t}" for t in Topics.all()])
        settings = AuditSettings(  # keys from the environment set above
            kafka=kafka, topic_prefix=prefix, db_url=f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}",
            group_id=group_id or f"audit-{uuid4().hex[:8]}",
        )
        app = build(settings)
        await app.start()
        await app.broker.start()
        try:
            yield app
        finally:
            await app.broker.stop()
            await app.stop()

    return start


@pytest.fixture
def send_raw(kafka_bootstrap: str, prefix: str) -> Callable[..., Any]:
    """`await send_raw([(topic, key, bytes), ...])` publishes to this test's prefixed topics."""

    async def _send(records: list[tuple[str, bytes | None, bytes | Envelope[Any]]]) -> None:
        kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, partitions=3)
        await ensure_topics(kafka, [f"{prefix}{t}" for t in Topics.all()])
        producer = make_producer(kafka, "audit-test")
        await producer.start()
        try:
            for topic, key, value in records:
                body = value if isinstance(value, bytes) else encode(value)
                await producer.send_and_wait(f"{prefix}{topic}", body, key=key)
        finally:
            await producer.stop()

    return _send


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    """`await wait_until(lambda: ..., what="...")` polls a condition with a deadline."""

    async def _wait(condition: Callable[[], bool], seconds: float = 60, what: str = "") -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"timed out after {seconds}s waiting for {what}")

    return _wait


@pytest.fixture
def story() -> list[tuple[str, Envelope[Any]]]:
    """One approved case's events, in the order the services publish them."""
    return case_story()


def case_story() -> list[tuple[str, Envelope[Any]]]:
    """One approved case from submission to notification, each event derived from the last."""
    upstream, intake = EventFactory("erp", instance="t"), EventFactory("intake", instance="t")
    screening, review = EventFactory("screening", instance="t"), EventFactory("review", instance="t")
    notification = EventFactory("notification", instance="t")
    app = Application.model_validate(civilian_application(f"PO-AUD-{uuid4().hex[:6]}"))
    case_id = uuid4()
    submitted = upstream.new("application.submitted", app)
    accepted = intake.derive(submitted, "application.accepted", ApplicationAccepted(
        external_reference=app.external_reference, application=app,
        received_at=datetime.now(UTC), complete=True), case_id=case_id)
    screened = screening.derive(accepted, "screening.completed", ScreeningCompleted(
        external_reference=app.external_reference, application=app, complete=True,
        classifications=[], licence_required=True,
        end_use=EndUseAssessment(category="automotive", rule_ids=["SCR-ENDUSE-CIVILIAN"]),
        route=Route.STANDARD, route_reasons=["licence required"], rule_ids=["SCR-CLASS-1C905"],
        list_versions={"prc-control": "2026-11-01"}, reference_data_version="ref-7",
        algorithm_version="match-2", screened_on=date.today()))
    assigned = review.derive(screened, "case.event", CaseEvent(
        kind=CaseEventKind.ASSIGNED, actor="reviewer-7", from_state="queued", to_state="in_review"))
    decided = review.derive(assigned, "decision.made", DecisionMade(
        decision_id=uuid4(), outcome=DecisionOutcome.APPROVED, external_reference=app.external_reference,
        exporter_name=app.exporter.name, route=Route.STANDARD, decided_by="reviewer-7",
        countersigned_by="senior-2", rule_ids=["REV-APPROVE-CIVILIAN"], policy_version="policy-3",
        decided_at=datetime.now(UTC),
        licence=Licence(number="LIC-AUD-1", type=LicenceType.SINGLE, holder=app.exporter.name,
                        items=[LicenceItem(description="magnets", quantity_cap=Decimal(500), unit="kg")],
                        end_users=["Antriebstechnik Nord GmbH"], valid_from=date.today(),
                        valid_until=date.today())))
    told = notification.derive(decided, "notification.outcome", NotificationOutcome(
        about_event_id=decided.event_id, about_event_type="decision.made", channel="webhook",
        target="http://example.invalid/hook", status="delivered", attempts=1, response_status=200))
    return [
        (Topics.APPLICATIONS_SUBMITTED, submitted), (Topics.APPLICATIONS_ACCEPTED, accepted),
        (Topics.SCREENING_COMPLETED, screened), (Topics.CASE_EVENTS, assigned),
        (Topics.DECISIONS, decided), (Topics.NOTIFICATIONS, told),
    ]


