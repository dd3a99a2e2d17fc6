"""The delivery queue: the consumer queues every delivery, the delivery worker makes its first
round and its persisted retries (the backoff schedule, kept in the store across restarts); and
what operators do with failed deliveries: list them and replay them, over HTTP and the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import orjson
import pytest
from click.testing import CliRunner
from lanthanide.auth import TokenGrant
from lanthanide.contracts import ContactPoint, DecisionMade, DecisionOutcome, Envelope
from lanthanide.events import EventFactory, Outgoing
from lanthanide.testing.collector import TopicCollector
from lanthanide.topics import Topics
from lanthanide_cli.main import build as build_cli
from lanthanide_notification.adapters.schedule import DEFAULT_SCHEDULE, load_schedule
from lanthanide_notification.adapters.store import SqlDeliveryLog
from lanthanide_notification.adapters.webhook import WebhookSender
from lanthanide_notification.bootstrap import build
from lanthanide_notification.delivery_worker import DeliveryWorker
from lanthanide_notification.domain.addresses import AddressPolicy
from lanthanide_notification.domain.retry import BackoffSchedule, RetryPolicy
from lanthanide_notification.entrypoints.http import make_http_app
from lanthanide_notification.service_layer.handlers import NotificationService
from lanthanide_notification.settings import NotificationSettings

REVIEW = EventFactory("review", instance="t")
SECRET = "test-only-webhook-secret"  # must match conftest.TEST_SECRET (dev-only)
LOOPBACK = AddressPolicy.from_strings(["127.0.0.1/32", "::1/128"])


def decision(url: str) -> Envelope[Any]:
    return REVIEW.new("decision.made", DecisionMade(
        decision_id=uuid4(), outcome=DecisionOutcome.APPROVED, external_reference="PO-R",
        exporter_name="Exporter R", decided_by="auto", policy_version="p1",
        decided_at=datetime.now(UTC), contact=ContactPoint(webhook_url=url)), case_id=uuid4())


def schedule_file(tmp_path: Path, *delays: str) -> Path:
    path = tmp_path / f"schedule-{len(delays)}.yaml"
    path.write_text(f"version: test\nsource: test\ndelays: [{', '.join(delays)}]\n", encoding="utf-8")
    return path


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


# ------------------------------------------------------------------ the schedule as policy data


def test_the_shipped_schedule_backs_off_over_hours_then_gives_up() -> None:
    schedule = load_schedule(DEFAULT_SCHEDULE)
    assert schedule.delays == (30.0, 120.0, 600.0, 3600.0, 4 * 3600.0, 12 * 3600.0)
    assert schedule.version and schedule.source
    assert schedule.delay_before(1) == 30.0 and schedule.delay_before(6) == 12 * 3600.0
    assert schedule.delay_before(7) is None


def test_a_bad_schedule_entry_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"delays\[1\]: 'soon' is not a duration"):
        load_schedule(schedule_file(tmp_path, "30s", "soon"))


# ------------------------------------------------------------------ the worker, on a real store


async def test_a_failed_first_round_waits_in_the_store_and_the_worker_finishes_it(
    receiver: Any, tmp_path: Path
) -> None:
    """The consumer only queues (nothing is sent from the batch); the worker's first round fails
    and the delivery waits in the store, with no outcome; a redelivered batch queues and sends
    nothing; the retry is not made before it is due; when due it is delivered with the same
    webhook-id, and the outcome counts every attempt."""
    receiver.fail_first["/later"] = 2  # the first round (2 quick attempts) fails, the retry succeeds
    event = decision(receiver.url("/later"))
    clock, published = Clock(), []

    async def publish(out: Sequence[Outgoing]) -> None:
        published.extend(out)

    store = SqlDeliveryLog.from_url(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    await store.create_schema()
    schedule = BackoffSchedule((60.0, 3600.0))
    async with httpx.AsyncClient() as client:
        sender = WebhookSender(client, secret=SECRET, addresses=LOOPBACK,
                               policy=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02))
        service = NotificationService(store=store, senders={"webhook": sender}, factory=EventFactory("notification"),
                                      outcome_topic="out", schedule=schedule, clock=clock)
        worker = DeliveryWorker(store=store, service=service, schedule=schedule, publish=publish, clock=clock)
        first, failed = await service.handle_batch([event])
        (queued,) = await store.pending()
        assert queued.rounds == 0 and queued.next_attempt_at == clock.now and receiver.requests == []
        assert await worker.run_once() == 1  # the first round: two quick attempts, both 503
        again, _ = await service.handle_batch([event])
        (waiting,) = await store.pending()
        assert waiting.rounds == 1 and waiting.next_attempt_at == clock.now + timedelta(seconds=60)
        assert await worker.run_once() == 0  # not due yet
        clock.now += timedelta(seconds=61)
        assert await worker.run_once() == 1
        assert await worker.run_once() == 0
    assert not failed and first == [] and again == []
    assert [r.status for r in receiver.requests] == [503, 503, 200]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert receiver.requests[0].headers["webhook-id"] == str(event.event_id)
    (outcome,) = published
    assert outcome.envelope.payload.status == "delivered" and outcome.envelope.payload.attempts == 3
    assert outcome.envelope.causation_id == event.event_id
    logged = await store.find_many([(event.event_id, "webhook", receiver.url("/later"))])
    assert [r.result.status for r in logged.values()] == ["delivered"]
    assert await store.pending() == [] and await store.dead_letter_count() == 0
    await store.close()


async def test_an_exhausted_schedule_fails_the_delivery_and_an_operator_replays_it(
    receiver: Any, tmp_path: Path
) -> None:
    """Each retry waits its turn in the schedule; after the last one the delivery is failed
    (outcome, dead letter); listed over HTTP for an operator only; a replay sends it again with
    the same webhook-id and publishes an outcome of its own."""
    receiver.fail_first["/down"] = 3  # the first round and both retries fail; the replay succeeds
    event = decision(receiver.url("/down"))
    db = tmp_path / "n.db"
    settings = NotificationSettings(
        db_url=f"sqlite+aiosqlite:///{db}", webhook_secret=SECRET, retry_attempts=1,
        webhook_allow_networks=["127.0.0.1/32"], retry_schedule_file=schedule_file(tmp_path, "10s", "1m"),
        retry_worker_interval_seconds=3600,
        tokens={"tok-op": TokenGrant(user="op", roles=["operator"]),
                "tok-rev": TokenGrant(user="rev", roles=["reviewer"])},
    )
    app = build(settings)
    clock, published = Clock(), []

    async def publish(out: Sequence[Outgoing]) -> None:
        published.extend(out)

    app.service.clock = app.worker.clock = clock
    app.worker.publish = publish
    # The test makes each round itself (run_once); only the replay below wakes the running worker.
    app.service.on_queued = lambda: None
    await app.start()
    try:
        await app.service.handle_batch([event])
        assert await app.worker.run_once() == 1  # the first round
        (waiting,) = await app.store.pending()
        assert waiting.rounds == 1 and waiting.next_attempt_at == clock.now + timedelta(seconds=10)
        clock.now += timedelta(seconds=11)
        assert await app.worker.run_once() == 1
        (waiting,) = await app.store.pending()
        assert waiting.rounds == 2 and waiting.next_attempt_at == clock.now + timedelta(seconds=60)
        clock.now += timedelta(seconds=59)
        assert await app.worker.run_once() == 0
        clock.now += timedelta(seconds=2)
        assert await app.worker.run_once() == 1
        assert await app.store.pending() == []
        (failed_outcome,) = published
        assert failed_outcome.envelope.payload.status == "failed"
        assert failed_outcome.envelope.payload.attempts == 3

        transport = httpx.ASGITransport(app=make_http_app(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://notification") as http:
            op = {"Authorization": "Bearer tok-op"}
            assert (await http.get("/deliveries?status=failed")).status_code == 401
            assert (await http.get("/deliveries?status=failed",
                                   headers={"Authorization": "Bearer tok-rev"})).status_code == 403
            assert (await http.post("/deliveries/1/replay",
                                    headers={"Authorization": "Bearer tok-rev"})).status_code == 403
            listed = (await http.get("/deliveries?status=failed", headers=op)).json()
            (item,) = listed["deliveries"]
            assert item["event_id"] == item["webhook_id"] == str(event.event_id)
            assert item["target"] == receiver.url("/down") and item["attempts"] == 3
            assert (await http.post("/deliveries/999999/replay", headers=op)).status_code == 404
            replayed = await http.post(f"/deliveries/{item['id']}/replay", headers=op)
            assert replayed.status_code == 202 and replayed.json()["webhook_id"] == str(event.event_id)
            assert (await http.get("/deliveries?status=failed", headers=op)).json()["deliveries"] == []
            assert (await http.get("/deliveries?status=pending", headers=op)).json()["count"] == 1
        # The replay wakes the running worker: it need not wait for its next look (an hour here).
        for _ in range(100):
            if len(published) == 2 and await app.store.pending() == []:
                break
            await asyncio.sleep(0.05)
        # The event consumed again (a replayed topic): the outcome re-emitted is the replay's, the
        # same id with the same payload, never the first outcome's id with another status.
        again, _ = await app.service.handle_batch([event])
    finally:
        await app.stop()
    assert [r.status for r in receiver.requests] == [503, 503, 503, 200]
    assert {r.headers["webhook-id"] for r in receiver.requests} == {str(event.event_id)}
    failed_outcome, replay_outcome = published
    assert replay_outcome.envelope.payload.status == "delivered"
    assert replay_outcome.envelope.event_id != failed_outcome.envelope.event_id  # no conflicting duplicate
    (reemitted,) = again
    assert reemitted.envelope.event_id == replay_outcome.envelope.event_id
    assert reemitted.envelope.payload == replay_outcome.envelope.payload
    store = SqlDeliveryLog.from_url(settings.store_url())
    logged = await store.find_many([(event.event_id, "webhook", receiver.url("/down"))])
    assert [r.result.status for r in logged.values()] == ["delivered"]
    assert await store.dead_letter_count() == 0
    await store.close()


async def test_cli_lists_failed_deliveries_and_replays_one(
    tmp_path: Path, closed_port_url: str, deliver: Any
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    store = SqlDeliveryLog.from_url(url)
    await store.create_schema()
    event = decision(closed_port_url)
    async with httpx.AsyncClient() as client:
        sender = WebhookSender(client, secret=SECRET, addresses=LOOPBACK,
                               policy=RetryPolicy(attempts=1, base_delay=0.01, max_delay=0.02))
        service = NotificationService(store=store, senders={"webhook": sender}, factory=EventFactory("notification"),
                                      outcome_topic="out")  # no schedule: failed at once
        await deliver(service, [event])
    await store.close()

    def run(*args: str) -> Any:
        return CliRunner().invoke(build_cli(), ["deliveries", *args, "--db-url", url])

    listed = await asyncio.to_thread(run, "list", "--failed", "--json")
    assert listed.exit_code == 0, listed.output
    (item,) = orjson.loads(listed.output)["deliveries"]
    assert UUID(item["webhook_id"]) == event.event_id and "Connect" in item["error"]
    missing = await asyncio.to_thread(run, "replay", "424242")
    assert missing.exit_code == 1 and "no failed delivery 424242" in missing.output
    replayed = await asyncio.to_thread(run, "replay", str(item["id"]))
    assert replayed.exit_code == 0 and str(event.event_id) in replayed.output
    pending = orjson.loads((await asyncio.to_thread(run, "list", "--pending", "--json")).output)["deliveries"]
    assert [p["event_id"] for p in pending] == [str(event.event_id)]
    assert orjson.loads((await asyncio.to_thread(run, "list", "--json")).output)["deliveries"] == []


# ------------------------------------------------------------------ a restart in between, on Kafka


@pytest.mark.kafka
async def test_a_pending_retry_survives_a_restart_and_is_made_from_the_store(
    kafka_bootstrap: str, prefix: str, receiver: Any, start_notification: Callable[..., Any],
    send: Callable[..., Any], tmp_path: Path,
) -> None:
    receiver.fail_first["/restart"] = 10**6  # down while the first process runs
    event = decision(receiver.url("/restart"))
    group = f"notif-{uuid4().hex[:8]}"
    settings = {"retry_attempts": 2, "group_id": group, "retry_worker_interval_seconds": 0.2,
                "retry_schedule_file": schedule_file(tmp_path, "2s", "1h")}
    topic = f"{prefix}{Topics.NOTIFICATIONS}"
    async with TopicCollector(kafka_bootstrap, [topic]) as c:
        async with start_notification(**settings) as app:
            await send(Topics.DECISIONS, event)
            for _ in range(300):  # queued by the consumer, then the worker's first round fails
                if [p for p in await app.store.pending() if p.rounds == 1]:
                    break
                await asyncio.sleep(0.1)
            (waiting,) = await app.store.pending()
            assert waiting.event_id == event.event_id and waiting.attempts == 2 and waiting.rounds == 1
        # Stopped before the retry was due; the receiver comes back while nothing runs.
        assert len(receiver.requests) == 2
        receiver.fail_first["/restart"] = 0
        async with start_notification(**settings) as app:
            await c.wait_for(lambda c: any(e.causation_id == event.event_id for e in c.envelopes(topic=topic)),
                             what="the outcome of the retried delivery")
            assert await app.store.pending() == []
    (outcome,) = [e for e in c.envelopes(topic=topic) if e.causation_id == event.event_id]
    assert outcome.payload.status == "delivered" and outcome.payload.attempts == 3
    assert [r.status for r in receiver.requests] == [503, 503, 200]
    assert {r.headers["webhook-id"] for r in receiver.requests} == {str(event.event_id)}
