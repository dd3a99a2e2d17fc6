"""The ledger on a real PostgreSQL: concurrent appenders extend one chain; replays add nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lanthanide.serde import encode
from lanthanide_audit.adapters.store import LedgerStore
from lanthanide_audit.domain.records import entry_from_record
from lanthanide_audit.views import case_timeline, verify

pytestmark = [pytest.mark.postgres]


async def test_concurrent_appenders_keep_one_unbroken_chain(postgres_url: str, story: list[tuple[str, Any]]) -> None:
    entries = [entry_from_record(encode(e), t, 0, i) for i, (t, e) in enumerate(story)]
    a, b = LedgerStore.from_url(postgres_url), LedgerStore.from_url(postgres_url)
    await a.create_schema()
    await b.create_schema()
    try:
        # Two audit processes racing over overlapping batches, as after a rebalance.
        counts = await asyncio.gather(a.append(entries[:4]), b.append(entries[2:]), a.append(entries))
        assert sum(counts) == len(entries)
        assert await a.count() == len(entries)
        report = await verify(b)
        assert report.ok and report.checked == len(entries)
        timeline = await case_timeline(a, str(story[1][1].case_id))
        assert len(timeline.steps) == len(story) and timeline.causation_ok
    finally:
        await a.close()
        await b.close()
