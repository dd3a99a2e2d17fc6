"""A typed Python client for upstream publishers and downstream subscribers.

    async with LanthanideClient("127.0.0.1:9092") as client:
        receipt = await client.submit(application_dict)
        async for decision in client.decisions(count=1, timeout=30):
            print(decision.payload.outcome)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError
from lanthanide.cloudevents import json_record_headers
from lanthanide.connection import KafkaSettings, make_consumer, make_producer
from lanthanide.contracts import Application, ApplicationRejected, DecisionMade
from lanthanide.contracts.envelope import Envelope, Producer, envelope_json
from lanthanide.ids import case_id_for
from lanthanide.serde import DecodeError, decode, encode
from lanthanide.topics import Topics, dlq, submitter_topic
from pydantic import ValidationError

_log = logging.getLogger("lanthanide.client")

@dataclass(frozen=True, slots=True)
class Receipt:
    """What a submission got: its event id and, when the application is valid, its case id."""

    external_reference: str | None
    event_id: UUID
    case_id: UUID | None
    valid: bool
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of a `<topic>.dlq` topic: where it came from, why it was refused, its bytes.

    `original` is None when the dead-letter body kept only a prefix of a too-large record
    (`truncated`): such a record cannot be replayed, but its size and sha256 identify it."""

    dlq_topic: str
    partition: int
    offset: int
    topic: str
    original_partition: int | None
    original_offset: int | None
    key: str | None
    service: str | None
    error: str
    dead_lettered_at: str | None
    original_bytes: int
    original_sha256: str | None
    truncated: bool
    original: bytes | None

    def summary(self) -> dict[str, Any]:
        """Everything but the original bytes (which may hold personal data)."""
        return {
            "dlq_topic": self.dlq_topic, "partition": self.partition, "offset": self.offset,
            "topic": self.topic, "original_partition": self.original_partition,
            "original_offset": self.original_offset, "key": self.key, "service": self.service,
            "error": self.error, "dead_lettered_at": self.dead_lettered_at,
            "original_bytes": self.original_bytes, "original_sha256": self.original_sha256,
            "truncated": self.truncated,
        }


class LanthanideClient:
    """Publish applications and follow decisions and case histories over Kafka."""

    def __init__(
        self,
        bootstrap_servers: str | None = None,
        *,
        client_id: str = "client",
        send_attempts: int = 5,
        settings: KafkaSettings | None = None,
    ) -> None:
        """`settings` (LANTHANIDE_KAFKA_* by default, security included) says how to connect;
        `bootstrap_servers`, when given, overrides its bootstrap servers."""
        settings = settings or KafkaSettings()
        if bootstrap_servers:
            settings = settings.model_copy(update={"bootstrap_servers": bootstrap_servers})
        self.settings = settings
        #: Decisions seen twice with one decision_id and different content: (first, second).
        self.conflicts: list[tuple[Envelope[DecisionMade], Envelope[DecisionMade]]] = []
        self.client_id = client_id
        self.send_attempts = send_attempts
        #: Where submissions go: the submitter's own topic when settings name one (the only topic
        #: its principal may write on a secured cluster), else the shared one (open broker).
        self.submit_topic = submitter_topic(settings.submitter) if settings.submitter else Topics.APPLICATIONS_SUBMITTED
        self._producer: AIOKafkaProducer | None = None  # made on first use: readers never need one
        self._origin = Producer(service=f"client:{client_id}", version="1")

    async def _start_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = make_producer(self.settings, self.client_id)
            try:
                await producer.start()
            except BaseException:
                await producer.stop()  # e.g. no broker: release its connections and tasks
                raise
            self._producer = producer
        return self._producer

    async def __aenter__(self) -> LanthanideClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    # ------------------------------------------------------------ publishing

    async def submit(self, application: Application | dict[str, Any]) -> Receipt:
        """Publish one application as an application.submitted event (even an invalid one:
        intake is the judge, and answers with a rejection that names the fields)."""
        return (await self.submit_many([application]))[0]

    async def submit_many(self, applications: Iterable[Application | dict[str, Any]]) -> list[Receipt]:
        """Publish many applications, waiting for the broker to acknowledge every one.

        A send that times out or fails with a retriable Kafka error (a broker down, a leader
        moving) is sent again, with the same bytes and so the same event id, up to
        `send_attempts` times: a copy that did land after all is the same event, and the
        pipeline deduplicates it."""
        producer = await self._start_producer()
        receipts: list[Receipt] = []
        pending: list[tuple[bytes | None, bytes]] = []
        for app in applications:
            raw = app.model_dump(mode="json") if isinstance(app, Application) else app
            receipt = _receipt(raw)
            envelope = envelope_json("application.submitted", raw, event_id=receipt.event_id,
                                     case_id=receipt.case_id, producer=self._origin.model_dump())
            pending.append((str(receipt.case_id).encode() if receipt.case_id else None, orjson.dumps(envelope)))
            receipts.append(receipt)
        for attempt in range(1, self.send_attempts + 1):
            pending = await self._send_all(producer, pending)
            if not pending:
                break
            if attempt == self.send_attempts:
                raise KafkaTimeoutError(f"{len(pending)} submissions not acknowledged after {attempt} attempts")
            await asyncio.sleep(min(2.0 * attempt, 10.0))
        return receipts

    async def _send_all(
        self, producer: AIOKafkaProducer, records: Sequence[tuple[bytes | None, bytes]]
    ) -> list[tuple[bytes | None, bytes]]:
        """Send in order and wait for every ack; returns the records to send again."""
        futures: list[asyncio.Future[Any]] = []
        try:
            for key, value in records:
                futures.append(await producer.send(self.submit_topic, value, key=key,
                                                   headers=_headers(orjson.loads(value))))
        except KafkaError as exc:
            if not (isinstance(exc, KafkaTimeoutError) or exc.retriable):
                raise
        results = await asyncio.gather(*futures, return_exceptions=True)
        again = []
        for record, result in zip(records, results, strict=False):
            if isinstance(result, KafkaError) and (isinstance(result, KafkaTimeoutError) or result.retriable):
                again.append(record)
            elif isinstance(result, BaseException):
                raise result
        return again + list(records[len(futures):])  # and whatever was not sent at all

    async def publish(self, topic: str, envelope: Envelope[Any]) -> None:
        """Publish one envelope (e.g. a reference update or a shipment report), key = case_id."""
        producer = await self._start_producer()
        key = str(envelope.case_id).encode() if envelope.case_id else None
        await producer.send_and_wait(
            topic, encode(envelope), key=key, headers=_headers(envelope.model_dump(mode="json")),
        )

    async def replay(self, letters: Iterable[DeadLetter]) -> int:
        """Publish dead letters' original bytes again to the topics they came from, with their
        keys (so each lands on its case's partition). Event ids are unchanged, so a record that
        had been processed after all is deduplicated downstream. Truncated ones are refused."""
        letters = list(letters)
        if any(letter.original is None for letter in letters):
            raise ValueError(
                "a dead letter without its full original bytes (truncated, or not a dead-letter body) "
                "cannot be replayed"
            )
        producer = await self._start_producer()
        futures = [
            await producer.send(
                letter.topic, letter.original, key=letter.key.encode() if letter.key is not None else None,
                headers=[("content-type", b"application/json"), ("replayed_from", letter.dlq_topic.encode())],
            )
            for letter in letters
        ]
        await asyncio.gather(*futures)
        return len(futures)

    # ------------------------------------------------------------ subscribing

    async def decisions(
        self,
        *,
        follow: bool = False,
        count: int | None = None,
        timeout: float | None = None,
        from_beginning: bool = True,
    ) -> AsyncIterator[Envelope[DecisionMade]]:
        """Decision events, deduplicated by decision_id, read_committed.

        The same decision again (same decision_id, same content) is skipped. The same
        decision_id with different content is a conflict (a forged or buggy decision): it is
        logged at ERROR, counted, added to `self.conflicts` and yielded as well, so the caller
        sees both and never just the one that came first.

        Stops after `count` decisions, or after `timeout` seconds without a new one, or (without
        `follow`) at the end of the topic as it was when reading started.
        """
        seen: dict[UUID, dict[str, Envelope[DecisionMade]]] = {}  # decision id -> content -> first copy
        async for env in self.read_topics(
            [Topics.DECISIONS], follow=follow, idle_timeout=timeout, from_beginning=from_beginning
        ):
            payload = env.payload
            if not isinstance(payload, DecisionMade):
                continue
            fingerprint = hashlib.sha256(payload.model_dump_json().encode()).hexdigest()
            versions = seen.get(payload.decision_id)
            if versions is not None:
                if fingerprint in versions:
                    continue
                first_fp, first = next(iter(versions.items()))
                # A library logs through the standard library (the services' lanthanide.conflicts
                # also counts it on a metric; the client has no metrics of its own).
                _log.error("conflicting_duplicate consumer=client id_kind=decision_id id=%s topic=%s "
                           "case_id=%s first_fingerprint=%s second_fingerprint=%s", payload.decision_id,
                           Topics.DECISIONS, env.case_id, first_fp, fingerprint)
                versions[fingerprint] = env
                self.conflicts.append((first, env))
                yield env
                continue
            seen[payload.decision_id] = {fingerprint: env}
            yield env
            if count is not None and len(seen) >= count:
                return

    async def rejections(
        self,
        *,
        follow: bool = False,
        count: int | None = None,
        timeout: float | None = None,
        from_beginning: bool = True,
    ) -> AsyncIterator[Envelope[ApplicationRejected]]:
        """application.rejected events (deduplicated by event id): which fields, and why.

        Stops like `decisions`: after `count`, after `timeout` idle seconds, or at the end."""
        seen: set[UUID] = set()
        async for env in self.read_topics(
            [Topics.APPLICATIONS_REJECTED], follow=follow, idle_timeout=timeout, from_beginning=from_beginning
        ):
            if not isinstance(env.payload, ApplicationRejected) or env.event_id in seen:
                continue
            seen.add(env.event_id)
            yield env
            if count is not None and len(seen) >= count:
                return

    async def dead_letters(self, topics: Sequence[str] | None = None) -> list[DeadLetter]:
        """Every record now on the dead-letter topics (default: the whole catalogue's)."""
        letters = []
        async for record in self.read_records(list(topics or [dlq(t) for t in Topics.all()])):
            letters.append(_dead_letter(record))
        return letters

    async def case_history(self, case_id: UUID, topics: Sequence[str] | None = None) -> list[Envelope[Any]]:
        """Every event of one case across the catalogue, in time order (read from Kafka)."""
        events = [
            env async for env in self.read_topics(list(topics or Topics.all()), key=str(case_id).encode())
        ]
        unique = {e.event_id: e for e in events}
        return sorted(unique.values(), key=lambda e: e.occurred_at)

    async def read_topics(
        self,
        topics: list[str],
        *,
        follow: bool = False,
        idle_timeout: float | None = None,
        from_beginning: bool = True,
        key: bytes | None = None,
    ) -> AsyncIterator[Envelope[Any]]:
        """Read envelopes without a consumer group (nothing committed, nothing disturbed)."""
        async for record in self.read_records(
            topics, follow=follow, idle_timeout=idle_timeout, from_beginning=from_beginning, key=key
        ):
            try:
                yield decode(record.value or b"")
            except DecodeError:
                continue

    async def read_records(
        self,
        topics: list[str],
        *,
        follow: bool = False,
        idle_timeout: float | None = None,
        from_beginning: bool = True,
        key: bytes | None = None,
    ) -> AsyncIterator[Any]:
        """Read raw aiokafka records without a consumer group (nothing committed)."""
        # No group: every partition of the topics is assigned to us; nothing is committed.
        consumer = make_consumer(
            self.settings, *topics, client_id=f"{self.client_id}-{uuid4().hex[:6]}",
            group_id=None, enable_auto_commit=False, isolation_level="read_committed",
            auto_offset_reset="earliest" if from_beginning else "latest",
        )
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()  # e.g. no broker: release its connections and tasks
            raise
        try:
            deadline = time.monotonic() + 10
            while not consumer.assignment() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            partitions = list(consumer.assignment())
            if not partitions:
                return
            if from_beginning:
                await consumer.seek_to_beginning(*partitions)
            else:
                await consumer.seek_to_end(*partitions)
            end = await consumer.end_offsets(partitions)
            last_seen = time.monotonic()
            while True:
                batch = await consumer.getmany(timeout_ms=200, max_records=1000)
                for records in batch.values():
                    for record in records:
                        if key is not None and record.key != key:
                            continue
                        yield record
                if batch:
                    last_seen = time.monotonic()
                if not follow and await _caught_up(consumer, end):
                    return
                if idle_timeout is not None and time.monotonic() - last_seen > idle_timeout:
                    return
        finally:
            await consumer.stop()


async def _caught_up(consumer: AIOKafkaConsumer, end: dict[Any, int]) -> bool:
    for tp, offset in end.items():
        if await consumer.position(tp) < offset:
            return False
    return True


def _dead_letter(record: Any) -> DeadLetter:
    """A dead-letter record as written by the services' lanthanide.kafka.dead_letter_body; a body that is not
    one (written by hand, or by an older version) is shown with its error and never replayed."""
    try:
        body = orjson.loads(record.value or b"")
        if not isinstance(body, dict):
            raise TypeError("not an object")
    except (orjson.JSONDecodeError, TypeError):
        body = {}
    truncated = bool(body.get("original_truncated", False))
    raw_b64 = body.get("original_b64")
    original = base64.b64decode(raw_b64) if isinstance(raw_b64, str) and not truncated else None
    key = record.key.decode("utf-8", "replace") if isinstance(record.key, bytes) else None
    origin = record.topic[: -len(".dlq")] if record.topic.endswith(".dlq") else record.topic
    return DeadLetter(
        dlq_topic=record.topic, partition=record.partition, offset=record.offset,
        topic=str(body.get("topic") or origin),
        original_partition=body.get("partition"), original_offset=body.get("offset"),
        key=body.get("key", key), service=body.get("service"),
        error=str(body.get("error") or "not a dead-letter body"),
        dead_lettered_at=body.get("dead_lettered_at"),
        original_bytes=int(body.get("original_bytes") or 0),
        original_sha256=body.get("original_sha256"), truncated=truncated, original=original,
    )


def validate_application(raw: Any) -> list[str]:
    """The problems intake would reject `raw` for, as `field: reason` (never the input values);
    empty when it is a valid application."""
    try:
        Application.model_validate(raw)
    except ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)]
    return []


def _receipt(raw: Any) -> Receipt:
    ref = raw.get("external_reference") if isinstance(raw, dict) else None
    try:
        app = Application.model_validate(raw)
    except ValidationError as exc:
        errors = tuple(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
        return Receipt(ref if isinstance(ref, str) else None, uuid4(), None, False, errors)
    return Receipt(
        app.external_reference, uuid4(), case_id_for(app.exporter_key, app.external_reference), True
    )


def _headers(envelope: dict[str, Any]) -> list[tuple[str, bytes]]:
    """CloudEvents binary-mode headers of an envelope, as every service writes them."""
    return [(k, v.encode()) for k, v in json_record_headers(envelope).items()]
