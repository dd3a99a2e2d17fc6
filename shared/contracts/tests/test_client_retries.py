"""LanthanideClient.submit_many sends again, with the same bytes, what a broker outage refused."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError, NotLeaderForPartitionError, TopicAuthorizationFailedError
from lanthanide.client import LanthanideClient
from lanthanide.testing.factories import civilian_application


class FlakyProducer:
    """Refuses the 3rd send of the first round outright and fails the 2nd ack with a retriable
    error; accepts everything afterwards. Records every accepted value."""

    def __init__(self, fatal: bool = False) -> None:
        self.calls = 0
        self.accepted: list[bytes] = []
        self.fatal = fatal

    async def send(self, _topic: str, value: bytes, *, key: bytes | None, headers: Any) -> asyncio.Future[None]:
        self.calls += 1
        if self.calls == 3:
            raise KafkaTimeoutError()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.calls == 2:
            fut.set_exception(TopicAuthorizationFailedError() if self.fatal else NotLeaderForPartitionError())
        else:
            self.accepted.append(value)
            fut.set_result(None)
        return fut

    async def stop(self) -> None:
        pass


def _client(producer: FlakyProducer) -> LanthanideClient:
    client = LanthanideClient("127.0.0.1:1", send_attempts=3)
    client._producer = producer  # type: ignore[assignment]
    return client


async def test_refused_and_failed_sends_are_sent_again_with_the_same_event_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asyncio, "sleep", _no_sleep)
    producer = FlakyProducer()
    apps = [civilian_application(f"RETRY-{i}") for i in range(5)]
    receipts = await _client(producer).submit_many(apps)
    sent_ids = [orjson.loads(v)["event_id"] for v in producer.accepted]
    assert sorted(sent_ids) == sorted(str(r.event_id) for r in receipts)  # each exactly once
    assert len(sent_ids) == 5


async def test_a_non_retriable_error_is_raised() -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await _client(FlakyProducer(fatal=True)).submit_many([civilian_application(f"FATAL-{i}") for i in range(2)])


_real_sleep = asyncio.sleep


async def _no_sleep(_seconds: float, *args: Any) -> None:
    await _real_sleep(0)
