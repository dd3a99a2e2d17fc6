"""The one consumer shape (lanthanide.kafka.register_batch_stage / run_batch), in memory with
FastStream's TestKafkaBroker: a batch stage's outputs are published and its after_batch runs;
garbage and the events it fails on are dead-lettered; a TypeError (a code bug) is dead-lettered
too, so the partition goes on, but logged as handler_bug and counted apart from bad data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import orjson
import structlog
from faststream.kafka import TestKafkaBroker
from lanthanide.contracts import Application, Envelope
from lanthanide.events import EventFactory, Outgoing
from lanthanide.kafka import (
    BatchResult,
    Input,
    key_of,
    make_broker,
    publish_through_broker,
    records_of,
    register_batch_stage,
    register_stage,
)
from lanthanide.serde import decode, encode
from lanthanide.settings import KafkaSettings
from lanthanide.testing.factories import civilian_application
from lanthanide.topics import dlq
from prometheus_client import REGISTRY

FACTORY = EventFactory("test")


def _submitted(reference: str) -> Envelope[Any]:
    return FACTORY.new("application.submitted", Application.model_validate(civilian_application(reference)))


def _bugs(service: str, topic: str) -> float:
    return REGISTRY.get_sample_value("lanthanide_handler_bugs_total", {"service": service, "topic": topic}) or 0.0


def _reason(record: Any) -> str:
    """The dlq_reason header of a dead letter."""
    value = dict(record.headers)["dlq_reason"]
    return value.decode() if isinstance(value, bytes) else str(value)


def _sinks(broker: Any, topics: dict[str, str]) -> dict[str, list[Any]]:
    seen: dict[str, list[Any]] = {name: [] for name in topics}
    for name, topic in topics.items():
        @broker.subscriber(topic, decoder=records_of)
        async def sink(record: Any, name: str = name) -> None:  # one ConsumerRecord
            seen[name].append(record)
    return seen


async def test_a_batch_stage_publishes_its_outputs_runs_after_batch_and_dead_letters_failures() -> None:
    topic, out_topic = f"mem{uuid4().hex[:6]}.in", f"mem{uuid4().hex[:6]}.out"
    broker = make_broker(KafkaSettings(), "batch-test")
    publish_through_broker(broker)
    seen_inputs: list[Input] = []
    flushed: list[int] = []

    async def handle_batch(inputs: Sequence[Input]) -> BatchResult:
        seen_inputs.extend(inputs)
        result = BatchResult()
        for index, item in enumerate(inputs):
            assert item.envelope is not None
            if item.envelope.payload.external_reference == "BAD":
                result.failures.append((index, ValueError("no such thing")))
            else:
                result.outgoing.append(Outgoing(out_topic, FACTORY.derive(item.envelope, "application.submitted",
                                                                          item.envelope.payload, purpose="copy")))
        return result

    async def after_batch() -> None:
        flushed.append(len(seen_inputs))

    register_batch_stage(broker, topics=[topic], group_id="g", service="batchtest", settings=KafkaSettings(),
                         handle_batch=handle_batch, after_batch=after_batch)
    seen = _sinks(broker, {"out": out_topic, "dlq": dlq(topic)})
    good, bad = _submitted("GOOD"), _submitted("BAD")
    with structlog.testing.capture_logs() as logs:
        async with TestKafkaBroker(broker) as test_broker:
            for body in (encode(good), encode(bad), b"\xff not json"):
                await test_broker.publish(body, topic, key=key_of(good))

    [copy] = [decode(r.value) for r in seen["out"]]
    assert copy.causation_id == good.event_id
    assert [(i.topic, i.envelope.event_id) for i in seen_inputs] == [(topic, good.event_id), (topic, bad.event_id)]
    assert all(i.record.topic == topic and i.offset == i.record.offset for i in seen_inputs)
    assert sorted(_reason(r) for r in seen["dlq"]) == ["handler_error", "undecodable"]
    [letter] = [orjson.loads(r.value) for r in seen["dlq"] if _reason(r) == "handler_error"]
    assert "no such thing" in letter["error"] and letter["offset"] == seen_inputs[1].offset
    assert flushed and flushed[-1] == 2  # after_batch ran once the batch was handled
    failed = [e for e in logs if e["event"] == "handler_failed"]
    assert [e["event_id"] for e in failed] == [str(bad.event_id)]
    assert not [e for e in logs if e["event"] == "handler_bug"]


async def test_a_type_error_is_dead_lettered_as_a_handler_bug_and_a_value_error_as_bad_data() -> None:
    topic = f"mem{uuid4().hex[:6]}.in"
    broker = make_broker(KafkaSettings(), "bug-test")
    publish_through_broker(broker)

    async def handle(envelope: Envelope[Any]) -> Sequence[Outgoing]:
        if envelope.payload.external_reference == "BUG":
            return len(None)  # type: ignore[arg-type, no-any-return]  # a TypeError: a bug in the code
        raise ValueError("bad data")

    register_stage(broker, topics=[topic], group_id="g", service="bugtest", handle=handle, settings=KafkaSettings())
    seen = _sinks(broker, {"dlq": dlq(topic)})
    bug, bad = _submitted("BUG"), _submitted("BAD")
    before = _bugs("bugtest", topic)
    with structlog.testing.capture_logs() as logs:
        async with TestKafkaBroker(broker) as test_broker:
            await test_broker.publish(encode(bug), topic, key=key_of(bug))
            await test_broker.publish(encode(bad), topic, key=key_of(bad))

    letters = [orjson.loads(r.value) for r in seen["dlq"]]
    assert len(letters) == 2  # both dead-lettered: the partition never stalls
    assert [_reason(r) for r in seen["dlq"]] == ["handler_error", "handler_error"]
    assert any("TypeError" in letter["error"] for letter in letters)
    [bug_line] = [e for e in logs if e["event"] == "handler_bug"]
    assert bug_line["log_level"] == "error" and bug_line["event_id"] == str(bug.event_id)
    [failed_line] = [e for e in logs if e["event"] == "handler_failed"]
    assert failed_line["log_level"] == "error" and failed_line["event_id"] == str(bad.event_id)
    assert _bugs("bugtest", topic) == before + 1  # the ValueError is not counted as a bug
