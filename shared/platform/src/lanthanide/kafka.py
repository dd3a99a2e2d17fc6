"""The services' Kafka edge: their FastStream broker, the Publisher, and the
consume-transform-produce stage every service runs. The plain aiokafka clients (producer,
consumer, admin) come from the one client factory of the contracts library, lanthanide.connection.

One consumer shape: a batch stage (`register_batch_stage`) gets a batch of decoded `Input`s
(envelope plus topic, partition, offset) and returns a `BatchResult` (its outputs and its
failures); the shared runner (`run_batch`) decodes, dead-letters, publishes, runs the stage's
`after_batch` (review: the outbox flush) and then lets the batch's offsets be committed.
`register_stage` is that shape for a per-record handler (intake, screening).

Delivery: each stage reads a batch, turns every record into output envelopes, publishes them
all with acks=all, waits for the broker's acknowledgement, and only then commits the batch's
offsets (FastStream AckPolicy.NACK_ON_ERROR on a batch subscriber: a failed publish rewinds the
batch). A crash anywhere re-delivers the batch; outputs have deterministic event ids, so
consumers downstream dedupe by event_id. Undecodable records go to `<topic>.dlq` with the error
and the original bytes and the stage moves on; so do the events a stage fails on with one of
`lanthanide.events.BAD_EVENT_ERRORS` (a TypeError, a code bug, logged and counted apart).
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import hashlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from lanthanide import metrics, observe, tracing
from lanthanide.cloudevents import json_record_headers, record_headers
from lanthanide.connection import (
    KafkaSettings,
    client_options,
    make_admin,
    ssl_context_of,
)
from lanthanide.connection import make_consumer as make_consumer  # the client factory, for the services too
from lanthanide.connection import make_producer as make_producer
from lanthanide.contracts.envelope import Envelope
from lanthanide.events import BAD_EVENT_ERRORS, CODE_BUG_ERRORS, Outgoing
from lanthanide.logging import get_logger
from lanthanide.serde import DecodeError, decode, encode
from lanthanide.topics import all_topics_with_dlq, dlq

if TYPE_CHECKING:
    # FastStream is imported where it is used (make_broker, the subscribers): the light callers
    # (lanthanide.kafka_secure's ACL commands, ensure_topics) do not need it.
    from faststream.kafka import KafkaBroker
    from faststream.message import StreamMessage
    from faststream.security import BaseSecurity


log = get_logger(__name__)

Handler = Callable[[Envelope[Any]], Awaitable[Sequence[Outgoing]]]

#: The record whose envelope a register_stage handler is handling (set around each call).
_handled_record: contextvars.ContextVar[ConsumerRecord[Any, Any] | None] = contextvars.ContextVar(
    "lanthanide_handled_record", default=None
)


def handled_header(name: str) -> str | None:
    """A record header of the record a register_stage handler is handling (UTF-8), or None
    when it has none or no record is being handled. Handlers keep their envelope-only shape;
    the few that need a header (intake: who submitted) read it here."""
    record = _handled_record.get()
    for key, value in (getattr(record, "headers", None) or ()) if record is not None else ():
        if key == name and isinstance(value, bytes):
            return value.decode("utf-8", "replace")
    return None


# --------------------------------------------------------------------------- the services' broker
#
# The services' broker takes its servers and security from the same client factory
# (lanthanide.connection) as every other Kafka client of the project.

#: The Kafka client library's own errors (connection refused, authentication failed, record too
#: large) must reach the service log: WARNING and up, whatever the service's log level.
logging.getLogger("aiokafka").setLevel(logging.WARNING)


def security_of(settings: KafkaSettings) -> BaseSecurity | None:
    """FastStream's security object for the settings (None = PLAINTEXT)."""
    from faststream.security import BaseSecurity, SASLPlaintext, SASLScram512  # services' runtime only

    context = ssl_context_of(settings)
    if settings.security_protocol.startswith("SASL_"):
        user, password = settings.sasl_username or "", settings.password() or ""
        cls = SASLScram512 if settings.sasl_mechanism == "SCRAM-SHA-512" else SASLPlaintext
        return cls(user, password, ssl_context=context, use_ssl=context is not None)
    if context is not None:
        return BaseSecurity(ssl_context=context, use_ssl=True)
    return None


def make_broker(settings: KafkaSettings, client_id: str) -> KafkaBroker:
    """A FastStream Kafka broker with durable, idempotent production (acks=all, enable_idempotence)."""
    from faststream.kafka import KafkaBroker

    return KafkaBroker(
        client_options(settings)["bootstrap_servers"],
        security=security_of(settings),
        client_id=f"{settings.client_id_prefix}-{client_id}",
        acks="all" if settings.acks == "all" else 1,
        enable_idempotence=settings.acks == "all",
        linger_ms=settings.linger_ms,
        request_timeout_ms=30_000,
        logger=None,
        # Metrics and traces of every consumer and of the broker's own publishes (lanthanide.metrics,
        # lanthanide.tracing); the direct publish path below counts and propagates itself.
        middlewares=(metrics.prometheus_middleware(client_id), tracing.telemetry_middleware()),
    )


async def ensure_topics(settings: KafkaSettings, topics: Sequence[str] | None = None) -> None:
    """Create the catalogue's topics (and their DLQs) with the configured partitions; idempotent."""
    admin = make_admin(settings, "ensure-topics")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in (topics or all_topics_with_dlq()) if t not in existing]
        if wanted:
            try:
                response = await admin.create_topics([
                    NewTopic(t, num_partitions=settings.partitions,
                             replication_factor=settings.replication_factor,
                             topic_configs={"retention.ms": str(settings.dlq_retention_ms)}
                             if t.endswith(".dlq") else {})
                    for t in wanted
                ])
            except TopicAlreadyExistsError:
                return  # another service won the race: fine
            refused = [t[0] for t in getattr(response, "topic_errors", ()) if t[1] == _TOPIC_AUTHORIZATION_FAILED]
            if refused:
                # On a secured cluster services have no Create right: an administrator creates
                # the topics (`python -m lanthanide.kafka_acls apply`); a missing one shows up
                # as the consumer's or producer's own error.
                log.warning("topics_not_created_no_permission", topics=refused[:20])
    finally:
        await admin.close()


_TOPIC_AUTHORIZATION_FAILED = 29


def key_of(envelope: Envelope[Any]) -> bytes | None:
    """Key = case_id, so one case stays ordered on one partition."""
    return str(envelope.case_id).encode() if envelope.case_id else None


#: (topic, value, key, headers) of one record to publish.
OutRecord = tuple[str, bytes, bytes | None, dict[str, str]]


def record_of(outgoing: Outgoing) -> OutRecord:
    """The Kafka record of an outgoing envelope."""
    env = outgoing.envelope
    headers = headers_of(env)
    headers.update(outgoing.headers)
    return (outgoing.topic, encode(env), key_of(env), headers)


def record_size(record: OutRecord) -> int:
    """Bytes the record takes against the broker's limit (value, key, headers; framing aside)."""
    _topic, value, key, headers = record
    return len(value) + len(key or b"") + sum(len(k) + len(v) for k, v in headers.items())


def headers_of(envelope: Envelope[Any]) -> dict[str, str]:
    """The record headers of an envelope: CloudEvents binary mode (lanthanide.cloudevents) and
    the W3C trace context (lanthanide.observe.trace_headers)."""
    headers = record_headers(event_id=str(envelope.event_id), event_type=envelope.event_type,
                             schema_version=envelope.schema_version, occurred_at=envelope.occurred_at.isoformat(),
                             service=envelope.producer.service,
                             case_id=str(envelope.case_id) if envelope.case_id else None)
    return _traced(headers, envelope.correlation_id, str(envelope.event_id), envelope.causation_id)


def encoded_headers_of(data: dict[str, Any]) -> dict[str, str]:
    """`headers_of` an envelope in its JSON form (an outbox row), without validating it again."""
    return _traced(json_record_headers(data), data.get("correlation_id"), str(data["event_id"]),
                   data.get("causation_id"))


def _traced(headers: dict[str, str], correlation_id: Any, event_id: str, causation_id: Any) -> dict[str, str]:
    headers.update(observe.trace_headers(correlation_id, event_id, causation_id))
    return headers


#: Keep at most this many original bytes in a dead-letter record. Why: a record refused for
#: exceeding serde.MAX_MESSAGE_BYTES is ~1 MB; base64 makes it ~1.33 MB, over Kafka's message
#: limit, so the DLQ publish failed, the batch was redelivered and the partition stalled forever.
DLQ_MAX_ORIGINAL_BYTES = 256_000


def dead_letter_body(record: ConsumerRecord[Any, Any], error: str, service: str) -> bytes:
    """A dead-letter record: the error, where it came from, and the original bytes (base64;
    cut to DLQ_MAX_ORIGINAL_BYTES, with the full size and sha256 so the original can be found)."""
    return dead_letter_record(error, service, record.value or b"", {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key.decode("utf-8", "replace") if isinstance(record.key, bytes) else None,
        "timestamp": record.timestamp,
    })


def dead_letter_record(error: str, service: str, original: bytes, origin: dict[str, Any]) -> bytes:
    """The body of a dead-letter record: the error, the service, where the original came from
    (`origin`: topic and offset, or an outbox row), and its bytes (base64, cut to
    DLQ_MAX_ORIGINAL_BYTES, with the full size and sha256 so the original can be found)."""
    return orjson.dumps({
        "error": error,
        "service": service,
        **origin,
        "dead_lettered_at": datetime.now(UTC).isoformat(),
        "original_b64": base64.b64encode(original[:DLQ_MAX_ORIGINAL_BYTES]).decode(),
        "original_bytes": len(original),
        "original_sha256": hashlib.sha256(original).hexdigest(),
        "original_truncated": len(original) > DLQ_MAX_ORIGINAL_BYTES,
    })


async def records_of(msg: StreamMessage[Any]) -> list[ConsumerRecord[Any, Any]]:
    """FastStream decoder: a batch message as the list of its aiokafka ConsumerRecords."""
    raw = msg.raw_message
    # A tuple from aiokafka's getmany; a list under FastStream's TestKafkaBroker.
    return list(raw) if isinstance(raw, tuple | list) else [raw]


class Publisher:
    """Publishes envelopes and waits for every acknowledgement.

    Made with the service's KafkaSettings, it sends through its own aiokafka producer, made by
    `make_producer` (the one client factory: security, acks and idempotence as the broker's own),
    started on first use and closed by `stop` (run_service stops the publisher of the broker it
    stops, after the broker; see `publisher_for`). Why its own: FastStream's per-message publish (command object,
    middleware chain, codec) cost about as much as encoding the envelope itself (bench/relay.py),
    and its batch publish takes no per-record key. Made without settings, it publishes through the
    broker's public `publish`, which is what FastStream's TestKafkaBroker sees."""

    def __init__(self, broker: KafkaBroker, settings: KafkaSettings | None = None, *,
                 client_id: str = "publisher") -> None:
        self.broker = broker
        self.settings = settings
        self.client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    async def _own_producer(self) -> AIOKafkaProducer | None:
        if self.settings is None:
            return None
        if self._producer is None:
            async with self._starting:
                if self._producer is None:
                    durable = self.settings.acks == "all"
                    producer = make_producer(self.settings, self.client_id, acks="all" if durable else 1,
                                             enable_idempotence=durable, request_timeout_ms=30_000)
                    await producer.start()
                    self._producer = producer
        return self._producer

    async def stop(self) -> None:
        """Flush and close the producer (a no-op if it never started); a later publish reopens it."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def publish(self, outgoing: Sequence[Outgoing]) -> None:
        """Send every envelope (acks as configured on the broker: all) and wait for every ack."""
        await self._send_all([record_of(o) for o in outgoing])

    async def publish_records(self, records: Sequence[OutRecord]) -> None:
        """Send records made by `record_of` (already sized) and wait for every ack."""
        await self._send_all(records)

    async def publish_encoded(self, records: Sequence[tuple[str, bytes]]) -> None:
        """Send (topic, envelope bytes made by `encode`) pairs, e.g. from an outbox, and wait for
        every ack; key and headers are read from the JSON without validating the envelope again."""
        items = []
        for topic, body in records:
            data = orjson.loads(body)
            case_id = data.get("case_id")
            items.append((topic, body, str(case_id).encode() if case_id else None, encoded_headers_of(data)))
        await self._send_all(items)

    async def _send_all(self, items: Sequence[tuple[str, bytes, bytes | None, dict[str, str]]]) -> None:
        if not items:
            return
        producer = await self._own_producer()
        if producer is None:
            # TestKafkaBroker's producer delivers at once and returns no future to wait for.
            sent = [
                await self.broker.publish(body, topic, key=key, headers=headers, no_confirm=True)
                for topic, body, key, headers in items
            ]
            futures = [f for f in sent if f is not None]
        else:
            futures = [
                await producer.send(topic, body, key=key, headers=[(k, v.encode()) for k, v in headers.items()])
                for topic, body, key, headers in items
            ]
        await asyncio.gather(*futures)
        for topic, _body, _key, headers in items:
            metrics.produced(headers.get("ce_source", "").rsplit("/", 1)[-1], topic)

    async def publish_raw(self, topic: str, body: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        """Send one record as it is (a dead letter) through the broker, and wait for its ack."""
        await self.broker.publish(body, topic, key=key, headers=headers)


#: The publisher of each broker (`publisher_for`): one producer per service process.
_PUBLISHERS: weakref.WeakKeyDictionary[Any, Publisher] = weakref.WeakKeyDictionary()


def publisher_for(broker: KafkaBroker, settings: KafkaSettings, client_id: str) -> Publisher:
    """The Publisher of `broker`'s service, with its own producer: made on the first call, the
    same one after (every stage, outbox relay and HTTP route of a process shares one producer)."""
    publisher = _PUBLISHERS.get(broker)
    if publisher is None:
        publisher = _PUBLISHERS[broker] = Publisher(broker, settings, client_id=client_id)
    return publisher


def publish_through_broker(broker: KafkaBroker) -> Publisher:
    """Make `broker`'s publisher one that sends through the broker's public publish, before the
    service is wired: FastStream's in-memory TestKafkaBroker then sees every output (tests of a
    stage's wiring without a Kafka broker)."""
    publisher = _PUBLISHERS[broker] = Publisher(broker)
    return publisher


async def stop_publishers(broker: KafkaBroker) -> None:
    """Close the producer of `broker`'s publisher, if it has one (after the broker stopped)."""
    publisher = _PUBLISHERS.get(broker)
    if publisher is not None:
        await publisher.stop()


def batch_subscriber(
    broker: KafkaBroker,
    topics: Sequence[str],
    *,
    group_id: str,
    service: str,
    settings: KafkaSettings,
    isolation_level: Literal["read_uncommitted", "read_committed"] = "read_uncommitted",
    title: str | None = None,
) -> Any:
    """The subscription under every Lanthanide stage (`register_batch_stage`): a batch subscriber
    in consumer group `group_id` whose handler receives the batch's ConsumerRecords and whose
    offsets are committed only after the handler returns (AckPolicy.NACK_ON_ERROR: an exception
    means redelivery). The handler must therefore make its outputs durable (publish, or commit
    an outbox) before it returns. Use as a decorator: `@batch_subscriber(broker, topics, ...)`."""
    from faststream import AckPolicy

    return broker.subscriber(
        *topics,
        group_id=group_id,
        batch=True,
        max_records=settings.max_batch_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=records_of,
        isolation_level=isolation_level,
        title=title or f"{service}:{','.join(topics)}",
    )


@dataclass(frozen=True, slots=True)
class Input:
    """One record of a batch as a batch stage sees it: its decoded envelope (None in a raw
    stage, which reads the bytes itself), where it came from, and the ConsumerRecord."""

    envelope: Envelope[Any] | None
    topic: str
    partition: int
    offset: int
    record: Any  # an aiokafka ConsumerRecord (or anything with its attributes: benchmarks, tests)


@dataclass(slots=True)
class BatchResult:
    """What a batch stage made of its inputs: the envelopes to publish, and the inputs that
    failed on bad data (index into the inputs, error), which the runner dead-letters.

    `origins`, when given, is the index of the input each outgoing envelope came from (parallel
    to `outgoing`); without it the runner takes the input whose event id is the output's
    causation id. Either way an input whose outputs are too large to publish is dead-lettered
    and its outputs dropped."""

    outgoing: list[Outgoing] = field(default_factory=list)
    failures: list[tuple[int, Exception]] = field(default_factory=list)
    origins: list[int] | None = None


#: A batch stage: the batch's decoded inputs in, its outputs and failures out. Errors it raises
#: (database, Kafka) fail the batch, which is redelivered.
BatchHandler = Callable[[Sequence[Input]], Awaitable[BatchResult]]

#: A stage's own use of a record that does not decode (intake: a rejection), or None (the DLQ).
Undecodable = Callable[[ConsumerRecord[Any, Any], DecodeError], Awaitable[Sequence[Outgoing] | None]]


async def run_batch(
    records: Sequence[Any],
    *,
    service: str,
    publisher: Publisher,
    handle_batch: BatchHandler,
    max_message_bytes: int = KafkaSettings.model_fields["max_message_bytes"].default,
    after_batch: Callable[[], Awaitable[object]] | None = None,
    on_undecodable: Undecodable | None = None,
    raw: bool = False,
    join_batch_scope: bool = True,
) -> None:
    """One Kafka batch through a batch stage; the body of every subscriber `register_batch_stage`
    makes, a plain function so benchmarks and tests run the same code path.

    Decodes each record (a raw stage gets every record undecoded); a record that does not decode
    goes to `on_undecodable` or, when it is absent or returns None, to the DLQ. The decoded
    inputs join the batch's observe scope (unless `join_batch_scope` is False: the stage opens
    a scope per record itself) and go to `handle_batch` at once. Its failures are dead-lettered
    (`handler_failed`; a TypeError, a code bug, as `handler_bug`, also counted on
    lanthanide_handler_bugs_total), its outputs size-checked and published with every ack
    awaited, then `after_batch` runs (review: the outbox flush), all inside the batch's observe
    scope. Anything raised propagates: the subscriber commits nothing and the batch is redelivered.
    """
    # One trace scope for the batch: its outputs' traceparent names the span that made them.
    with observe.handling_batch(service, ()):
        inputs: list[Input] = []
        salvaged: list[tuple[Any, Sequence[Outgoing]]] = []
        for record in records:
            if raw:
                inputs.append(Input(None, record.topic, record.partition, record.offset, record))
                continue
            try:
                envelope = decode(record.value or b"")
            except DecodeError as exc:
                made = await on_undecodable(record, exc) if on_undecodable else None
                if made is None:
                    await dead_letter(publisher, record, exc.reason, service)
                else:
                    salvaged.append((record, made))
                continue
            inputs.append(Input(envelope, record.topic, record.partition, record.offset, record))
            if join_batch_scope:
                observe.add_to_batch(service, record, envelope)
        result = await handle_batch(inputs) if inputs else BatchResult()
        for index, error in result.failures:
            await _dead_letter_failure(publisher, inputs[index], error, service)
        outgoing: list[OutRecord] = []
        for record, made in salvaged:
            outgoing.extend(await _sized(publisher, record, made, service, max_message_bytes))
        for origin, made in _by_origin(inputs, result):
            source = inputs[origin].record if origin is not None else None
            outgoing.extend(await _sized(publisher, source, made, service, max_message_bytes))
        if outgoing:
            await publisher.publish_records(outgoing)
        if after_batch is not None:
            await after_batch()


def _by_origin(inputs: Sequence[Input], result: BatchResult) -> list[tuple[int | None, list[Outgoing]]]:
    """The outputs grouped by the input they came from (in the order of their first output);
    None for those no input made (no origin given and no input with their causation id)."""
    if not result.outgoing:
        return []
    origins: Sequence[int | None]
    if result.origins is not None:
        origins = result.origins
    else:
        by_event = {str(i.envelope.event_id): n for n, i in enumerate(inputs) if i.envelope is not None}
        origins = [by_event.get(str(o.envelope.causation_id)) for o in result.outgoing]
    groups: dict[int | None, list[Outgoing]] = {}
    for origin, outgoing in zip(origins, result.outgoing, strict=True):
        groups.setdefault(origin, []).append(outgoing)
    return list(groups.items())


async def _sized(
    publisher: Publisher, record: Any, produced: Sequence[Outgoing], service: str, limit: int
) -> list[OutRecord]:
    """The records of one input's outputs, or none (and the input dead-lettered) if any is
    over the message limit: publishing it would fail, rewind the batch and stall the
    partition forever. Bounded inputs make this rare; it must still never stall. Outputs
    of no known input (`record` None) that are too large are dropped, each logged."""
    out = [record_of(o) for o in produced]
    too_big = [(o[0], record_size(o)) for o in out if record_size(o) > limit]
    if not too_big:
        return out
    topic, size = too_big[0]
    if record is None:
        for topic, size in too_big:
            log.error("output_too_large", output_topic=topic, output_bytes=size, limit=limit)
        return [o for o in out if record_size(o) <= limit]
    log.error("output_too_large", topic=record.topic, partition=record.partition, offset=record.offset,
              output_topic=topic, output_bytes=size, limit=limit)
    await dead_letter(publisher, record, f"output to {topic} of {size} bytes exceeds the limit of {limit}",
                      service, reason="output_too_large")
    return []


async def _dead_letter_failure(publisher: Publisher, item: Input, error: Exception, service: str) -> None:
    """Dead-letter an input its stage failed on: bad data (`handler_failed`) or, for a
    TypeError, a bug in the code (`handler_bug`, counted apart: a person must fix the code,
    not the event). Either way the partition goes on."""
    event_id = str(item.envelope.event_id) if item.envelope is not None else None
    if isinstance(error, CODE_BUG_ERRORS):
        metrics.handler_bug(service, item.topic)
        log.error("handler_bug", event_id=event_id, topic=item.topic, partition=item.partition,
                  offset=item.offset, error=repr(error)[:300])
    else:
        log.error("handler_failed", event_id=event_id, error=repr(error)[:300])
    await dead_letter(publisher, item.record, f"handler error: {error!r}"[:2000], service, reason="handler_error")


def register_batch_stage(
    broker: KafkaBroker,
    *,
    topics: Sequence[str],
    group_id: str,
    service: str,
    settings: KafkaSettings,
    handle_batch: BatchHandler,
    after_batch: Callable[[], Awaitable[object]] | None = None,
    on_undecodable: Undecodable | None = None,
    isolation_level: Literal["read_uncommitted", "read_committed"] = "read_uncommitted",
    raw: bool = False,
    title: str | None = None,
) -> Any:
    """Subscribe the batch stage `handle_batch` to `topics` as consumer group `group_id`, with
    commit-after-produce semantics (`batch_subscriber`): each batch runs through `run_batch`
    (decode, dead-letter, handle, publish, `after_batch`) and its offsets are committed only
    after that returns. `raw` stages get every record undecoded (audit records them all)."""
    return _subscribe(broker, topics=topics, group_id=group_id, service=service, settings=settings,
                      handle_batch=handle_batch, after_batch=after_batch, on_undecodable=on_undecodable,
                      isolation_level=isolation_level, raw=raw, title=title, join_batch_scope=True)


def _subscribe(
    broker: KafkaBroker, *, topics: Sequence[str], group_id: str, service: str, settings: KafkaSettings,
    handle_batch: BatchHandler, after_batch: Callable[[], Awaitable[object]] | None,
    on_undecodable: Undecodable | None, isolation_level: Literal["read_uncommitted", "read_committed"],
    raw: bool, title: str | None, join_batch_scope: bool,
) -> Any:
    publisher = publisher_for(broker, settings, f"{service}-publisher")

    @batch_subscriber(broker, topics, group_id=group_id, service=service, settings=settings,
                      isolation_level=isolation_level, title=title)
    async def on_batch(records: Any) -> None:
        await run_batch(records, service=service, publisher=publisher, handle_batch=handle_batch,
                        max_message_bytes=settings.max_message_bytes, after_batch=after_batch,
                        on_undecodable=on_undecodable, raw=raw, join_batch_scope=join_batch_scope)

    return on_batch


def register_stage(
    broker: KafkaBroker,
    *,
    topics: Sequence[str],
    group_id: str,
    service: str,
    handle: Handler,
    settings: KafkaSettings,
    on_undecodable: Undecodable | None = None,
    isolation_level: Literal["read_uncommitted", "read_committed"] = "read_uncommitted",
    batch_scope: Callable[[], AbstractAsyncContextManager[Any]] | None = None,
) -> Any:
    """Subscribe the per-record handler `handle` to `topics` as one consumer group: a batch
    stage (`register_batch_stage`) that hands the batch's envelopes to `handle` one after another.

    `on_undecodable` lets a stage turn bad input into a business event (intake rejects an
    application with field-level reasons); when it is absent or returns None, the record
    goes to the DLQ. `batch_scope`, when given, is entered around the handling of each batch
    and exited before its outputs are published (screening writes its store once per batch
    there); if it raises, nothing is published and the batch is redelivered. An envelope
    `handle` fails on with a BAD_EVENT_ERRORS error is dead-lettered and the batch goes on.
    """
    return _subscribe(broker, topics=topics, group_id=group_id, service=service, settings=settings,
                      handle_batch=per_record(handle, service, batch_scope), after_batch=None,
                      on_undecodable=on_undecodable, isolation_level=isolation_level, raw=False, title=None,
                      join_batch_scope=False)


def per_record(
    handle: Handler, service: str, batch_scope: Callable[[], AbstractAsyncContextManager[Any]] | None = None
) -> BatchHandler:
    """A per-record handler as a batch stage: each envelope handled in turn, in its own observe
    scope (`handled_header` reads its record), inside `batch_scope` if given."""

    async def handle_batch(inputs: Sequence[Input]) -> BatchResult:
        result = BatchResult(origins=[])
        assert result.origins is not None
        async with batch_scope() if batch_scope is not None else nullcontext():
            for index, item in enumerate(inputs):
                assert item.envelope is not None
                token = _handled_record.set(item.record)
                try:
                    with observe.handling(service, item.record, item.envelope):
                        produced = await handle(item.envelope)
                except BAD_EVENT_ERRORS as exc:
                    # A bug or bad data in one event must not stall the partition: dead-letter it.
                    result.failures.append((index, exc))
                    continue
                finally:
                    _handled_record.reset(token)
                result.outgoing.extend(produced)
                result.origins.extend([index] * len(produced))
        return result

    return handle_batch


async def dead_letter(
    publisher: Publisher, record: ConsumerRecord[Any, Any], error: str, service: str,
    *, reason: str = "undecodable",
) -> None:
    """Send a record that cannot be handled to `<topic>.dlq` with the error; count it (metric
    lanthanide_dead_letters_total) and log it at ERROR: a dead letter needs a person.
    The log line and the header carry the reason code and coordinates, never input text."""
    metrics.dead_lettered(service, record.topic)
    log.error("dead_lettered", topic=record.topic, partition=record.partition,
              offset=record.offset, reason=reason, error=error[:200])
    await publisher.publish_raw(
        dlq(record.topic),
        dead_letter_body(record, error, service),
        key=record.key if isinstance(record.key, bytes) else None,
        headers={"content-type": "application/json", "dlq_reason": reason},
    )
