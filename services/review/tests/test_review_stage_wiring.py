"""Review's stage wiring in memory (FastStream's TestKafkaBroker, no Kafka broker): a
screening.completed in gives its decision.made out through the outbox, flushed before the batch
is committed; a screening result review cannot apply and an unreadable record go to the
dead-letter topic. The real-broker path is test_review_kafka_flow.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
from faststream.kafka import TestKafkaBroker
from lanthanide.contracts import Envelope, Route
from lanthanide.kafka import key_of, make_broker, publish_through_broker, records_of
from lanthanide.serde import decode, encode
from lanthanide.topics import Topics, dlq
from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.bootstrap import build_service
from lanthanide_review.entrypoints.consumer import register_consumer
from lanthanide_review.settings import ReviewSettings


async def test_screening_in_decision_out_through_the_outbox_and_garbage_dead_lettered(
    tmp_path: Path, screening: Callable[..., Envelope[Any]]
) -> None:
    settings = ReviewSettings(topic_prefix=f"mem{uuid4().hex[:6]}.", data_dir=tmp_path / "data")
    service = build_service(settings)
    await service.store.migrate()
    broker = make_broker(settings.kafka, "review-test")
    relay = OutboxRelay(service.store, publish_through_broker(broker))
    register_consumer(broker, settings, service, relay)
    screened = settings.topic(Topics.SCREENING_COMPLETED)
    seen: dict[str, list[Any]] = {"decisions": [], "dlq": []}
    for name, topic in [("decisions", settings.topic(Topics.DECISIONS)), ("dlq", dlq(screened))]:
        @broker.subscriber(topic, decoder=records_of)
        async def sink(record: Any, name: str = name) -> None:  # one ConsumerRecord
            seen[name].append(record)

    good = screening(Route.NO_LICENCE_REQUIRED)
    bad = screening(Route.DENY).model_copy(update={"case_id": None})  # review raises ValueError on it
    try:
        async with TestKafkaBroker(broker) as test_broker:
            await test_broker.publish(encode(good), screened, key=key_of(good))
            await test_broker.publish(encode(bad), screened)
            await test_broker.publish(b"\xff not json", screened)
        unsent = await relay.flush()  # the stage flushed the outbox itself: nothing is left
        case, _history, _licence = await service.get_case(good.case_id)
    finally:
        await service.store.dispose()

    [decision] = [decode(r.value) for r in seen["decisions"]]
    assert decision.event_type == "decision.made" and decision.case_id == good.case_id
    assert decision.payload.outcome.value == "no_licence_required"
    assert unsent == 0 and case.outcome is not None
    letters = {dict(r.headers)["dlq_reason"].decode(): orjson.loads(r.value) for r in seen["dlq"]}
    assert set(letters) == {"handler_error", "undecodable"}
    assert letters["handler_error"]["topic"] == screened and letters["handler_error"]["service"] == "review"
    assert "case_id" in letters["handler_error"]["error"]


def test_the_consumer_reads_the_topics_of_the_registry() -> None:
    """Issue 11: the input topics derive from the use-case registry (payload type -> topic, use case)."""
    from lanthanide.contracts import ScreeningCompleted, ShipmentReported
    from lanthanide.topics import Topics
    from lanthanide_review.service_layer.handlers import EVENT_HANDLERS, input_topics
    from lanthanide_review.settings import ReviewSettings

    assert set(EVENT_HANDLERS) == {ScreeningCompleted, ShipmentReported}
    assert input_topics() == [Topics.SCREENING_COMPLETED, Topics.SHIPMENTS_REPORTED]
    assert ReviewSettings(topic_prefix="t1.").topics(input_topics()) == [f"t1.{t}" for t in input_topics()]
