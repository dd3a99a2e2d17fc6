"""Audit's stage wiring in memory (FastStream's TestKafkaBroker, no Kafka broker): every event of
a case, on whichever catalogue topic it travels, lands in the ledger once. The
real-broker path is test_audit_kafka.py."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest
from faststream.kafka import TestKafkaBroker
from lanthanide.kafka import key_of, make_broker
from lanthanide.serde import encode
from lanthanide_audit.bootstrap import build
from lanthanide_audit.settings import AuditSettings

from .conftest import LEDGER_KEY, case_story


async def test_every_event_of_a_case_lands_in_the_ledger_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANTHANIDE_AUDIT_LEDGER_KEY", LEDGER_KEY)
    monkeypatch.delenv("LANTHANIDE_AUDIT_CHECKPOINT_SIGNING_KEY", raising=False)
    prefix = f"mem{uuid4().hex[:6]}."
    settings = AuditSettings(topic_prefix=prefix, db_url=f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}")
    app = build(settings, broker=make_broker(settings.kafka, "audit-test"))
    story = case_story()
    await app.start()
    try:
        async with TestKafkaBroker(app.broker) as test_broker:
            for topic, envelope in [*story, story[0]]:  # the first one twice: a redelivery
                await test_broker.publish(encode(envelope), f"{prefix}{topic}", key=key_of(envelope))
        case_id = next(envelope.case_id for _topic, envelope in story if envelope.case_id)
        entries = await app.store.case_entries(str(case_id))
        total = await app.store.count()
    finally:
        await app.stop()
    # The submission has no case id yet: the case's entries name it as the cause of the first.
    assert sorted(str(entry.event_id) for entry in entries) == sorted(str(env.event_id) for _topic, env in story)
    assert total == len(story)  # the redelivered one was not appended again
