"""Webhook delivery cannot be turned against the operator or other receivers.

Attacks (issue: nobody alone can change a decision, part 5): server-side request forgery to
loopback, private and metadata addresses; DNS rebinding; a decompression bomb in a receiver's
answer; a slow receiver holding up other receivers; one receiver forging notices to another.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import uuid4

import httpx
import pytest
from lanthanide_notification.adapters.webhook import WebhookSender
from lanthanide_notification.domain.addresses import AddressPolicy
from lanthanide_notification.domain.model import Notice, NoticeKind, Target
from lanthanide_notification.domain.retry import RetryPolicy
from lanthanide_notification.settings import NotificationSettings
from lanthanide_notification.signing import endpoint_key, endpoint_secret, verify_signature
from pydantic import ValidationError
from standardwebhooks import Webhook, WebhookVerificationError

MASTER = "test-only-webhook-secret"  # the receiver fixture verifies with this (conftest.TEST_SECRET)
LOOPBACK = AddressPolicy.from_strings(["127.0.0.1/32", "::1/128"])


def notice() -> Notice:
    return Notice(event_id=uuid4(), event_type="decision.made", case_id=uuid4(), kind=NoticeKind.APPROVED,
                  applicant_keys=(), webhook_url=None, email=None)


def make_sender(client: httpx.AsyncClient, addresses: AddressPolicy | None = None, **kw: Any) -> WebhookSender:
    kw.setdefault("policy", RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02))
    return WebhookSender(client, secret=MASTER, addresses=addresses, **kw)


def test_policy_refuses_internal_addresses_and_admits_public_and_allowed_ones() -> None:
    policy = AddressPolicy()
    for address, reason in [("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"),
                            ("192.168.0.10", "private"), ("172.16.5.5", "private"),
                            ("169.254.169.254", "metadata"), ("fe80::1", "link-local"),
                            ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified"),
                            ("::ffff:127.0.0.1", "loopback"), ("100.64.0.1", "not-global")]:
        assert policy.refusal(address) == reason, address
    assert policy.refusal("93.184.216.34") is None
    assert AddressPolicy.from_strings(["10.20.0.0/16"]).refusal("10.20.3.4") is None
    assert AddressPolicy.from_strings(["10.20.0.0/16"]).refusal("10.21.3.4") == "private"


async def test_applicant_webhook_to_loopback_is_refused_unless_allow_listed(receiver: Any) -> None:
    async with httpx.AsyncClient() as client:
        refused = await make_sender(client).send(notice(), Target("webhook", receiver.url("/ssrf")), "{}")
        assert refused.status == "failed" and refused.attempts == 1
        assert refused.error == "target address refused (loopback)"
        assert receiver.requests == []  # nothing was sent
        allowed = await make_sender(client, LOOPBACK).send(notice(), Target("webhook", receiver.url("/ok")), "{}")
    assert allowed.delivered
    assert [r.path for r in receiver.requests] == ["/ok"] and receiver.requests[0].signature_ok


async def test_metadata_and_private_targets_are_refused_before_any_connection() -> None:
    connected: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        connected.append(str(request.url))
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        sender = make_sender(client)
        for url in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.5:8080/hook",
                    "http://[::1]:9000/hook", "http://localhost:9000/hook", "file:///etc/passwd"):
            result = await sender.send(notice(), Target("webhook", url), "{}")
            assert result.status == "failed" and result.attempts == 1, url
    assert connected == []


async def test_every_resolved_address_is_checked_and_the_connection_goes_to_the_checked_one(
    receiver: Any,
) -> None:
    """DNS rebinding: the name is resolved once per attempt and the request is pinned to the
    address that passed; a name with any internal address is refused outright."""
    async def mixed(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "127.0.0.1"]

    async def to_receiver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async with httpx.AsyncClient() as client:
        refused = await make_sender(client, resolver=mixed).send(
            notice(), Target("webhook", f"http://hooks.example:{receiver.port}/x"), "{}")
        assert refused.error == "target address refused (loopback)"
        pinned = await make_sender(client, LOOPBACK, resolver=to_receiver).send(
            notice(), Target("webhook", f"http://hooks.example:{receiver.port}/pinned"), "{}")
    assert pinned.delivered
    (got,) = receiver.requests
    # Connected to 127.0.0.1 although "hooks.example" resolves nowhere; Host is the name given.
    assert got.path == "/pinned" and got.headers["Host"] == f"hooks.example:{receiver.port}"
    assert got.signature_ok  # signed with the key of the URL as given


async def test_registered_targets_skip_the_address_check(receiver: Any) -> None:
    async with httpx.AsyncClient() as client:
        result = await make_sender(client).send(
            notice(), Target("webhook", receiver.url("/registered"), registered=True), "{}")
    assert result.delivered


class _Bomb(BaseHTTPRequestHandler):
    """Answers every POST with 200 MB of zeros, gzip-compressed (~200 KB on the wire)."""

    payload = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        try:
            self.wfile.write(self.payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender stopped reading: that is the point

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def bomb_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bomb)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


async def test_a_decompression_bomb_is_never_inflated(bomb_server: int) -> None:
    async with httpx.AsyncClient() as client:
        sender = make_sender(client, LOOPBACK)
        tracemalloc.start()
        try:
            result = await sender.send(notice(), Target("webhook", f"http://127.0.0.1:{bomb_server}/b"), "{}")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.delivered and result.response_status == 200
    # Inflating the answer would take 200 MB; reading it whole compressed, ~200 KB.
    assert peak < 5 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while delivering"


async def test_a_slow_receiver_gets_its_deadline_and_does_not_delay_another(receiver: Any) -> None:
    """The prompt receiver is answered while the slow one still holds its request; the slow one
    ends at the attempt deadline (its receiver would have answered 200 after 20 s)."""
    receiver.delay_seconds["/slow"] = 20
    async with httpx.AsyncClient() as client:
        sender = make_sender(client, LOOPBACK, attempt_deadline_seconds=0.5,
                             policy=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02))
        slow_held_when_fast_done: list[bool] = []

        async def fast() -> Any:
            # Another receiver (another host for the per-host slots: "localhost" vs "127.0.0.1").
            result = await sender.send(notice(), Target("webhook", f"http://localhost:{receiver.port}/fast"), "{}")
            slow_held_when_fast_done.append(not slow.done())
            return result

        slow = asyncio.ensure_future(sender.send(notice(), Target("webhook", receiver.url("/slow")), "{}"))
        fast_result = await fast()
        slow_result = await slow
    assert fast_result.delivered and slow_held_when_fast_done == [True]
    assert slow_result.status == "failed" and slow_result.attempts == 2
    assert slow_result.error == "no answer within 0.5 s"
    # Neither slow attempt got its (20 s late) answer: each ended at its deadline.
    assert [r.path for r in receiver.requests] == ["/fast"]


async def test_the_attempt_deadline_covers_a_resolver_that_never_answers(receiver: Any) -> None:
    """A hostile name server that stalls the lookup does not stretch the attempt past its deadline."""
    stalled = asyncio.Event()

    async def stall(host: str, port: int) -> list[str]:
        stalled.set()
        await asyncio.Event().wait()  # never answers
        return []

    async with httpx.AsyncClient() as client:
        sender = make_sender(client, LOOPBACK, resolver=stall, attempt_deadline_seconds=0.3,
                             policy=RetryPolicy(attempts=1, base_delay=0.01, max_delay=0.02))
        result = await sender.send(notice(), Target("webhook", f"http://hooks.example:{receiver.port}/x"), "{}")
    assert stalled.is_set()
    assert result.status == "failed" and result.error == "no answer within 0.3 s" and result.retryable
    assert receiver.requests == []


async def test_each_endpoint_has_its_own_key_so_no_receiver_can_forge_for_another(receiver: Any) -> None:
    async with httpx.AsyncClient() as client:
        sender = make_sender(client, LOOPBACK)
        for path in ("/a", "/b"):
            assert (await sender.send(notice(), Target("webhook", receiver.url(path)), '{"n":1}')).delivered
    a, b = receiver.requests
    assert endpoint_key(MASTER, receiver.url("/a")) != endpoint_key(MASTER, receiver.url("/b"))
    # Standard Webhooks: each verifies with its own secret, and only with it.
    Webhook(endpoint_secret(MASTER, receiver.url("/a"))).verify(a.body, a.headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint_secret(MASTER, receiver.url("/a"))).verify(b.body, b.headers, json_parse=False)
    assert a.headers["webhook-id"] == a.headers["X-Lanthanide-Event-Id"]
    # The earlier header set, too, is keyed per endpoint; the master key verifies neither.
    ts, sig = b.headers["X-Lanthanide-Timestamp"], b.headers["X-Lanthanide-Signature"]
    assert verify_signature(endpoint_key(MASTER, receiver.url("/b")), ts, b.body, sig)
    assert not verify_signature(endpoint_key(MASTER, receiver.url("/a")), ts, b.body, sig)
    assert not verify_signature(MASTER, ts, b.body, sig)


def test_allow_list_setting_takes_cidrs_and_refuses_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANTHANIDE_NOTIFICATION_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1/32, 10.0.0.0/8")
    assert NotificationSettings().webhook_allow_networks == ["127.0.0.1/32", "10.0.0.0/8"]
    monkeypatch.setenv("LANTHANIDE_NOTIFICATION_WEBHOOK_ALLOW_NETWORKS", "everything")
    with pytest.raises(ValidationError, match="CIDR"):
        NotificationSettings()


async def test_a_bomb_and_a_slow_receiver_in_one_batch_do_not_hurt_the_other_deliveries(
    bomb_server: int, receiver: Any, tmp_path: Any,
) -> None:
    """The whole service path: one batch with a receiver answering a gzip bomb, one that never
    answers in time and one that answers at once. The batch only queues (it returns before any
    receiver is asked); the worker delivers the prompt one, and publishes its outcome, while the
    slow one still holds its attempt; the bomb is never inflated, and each ends as it should."""
    from datetime import UTC, datetime

    from lanthanide.contracts import ContactPoint, DecisionMade, DecisionOutcome
    from lanthanide.events import EventFactory
    from lanthanide_notification.adapters.store import SqlDeliveryLog
    from lanthanide_notification.delivery_worker import DeliveryWorker
    from lanthanide_notification.domain.retry import BackoffSchedule
    from lanthanide_notification.service_layer.handlers import NotificationService

    review = EventFactory("review", instance="t")

    def decision(url: str) -> Any:
        return review.new("decision.made", DecisionMade(
            decision_id=uuid4(), outcome=DecisionOutcome.APPROVED, external_reference="PO-G",
            exporter_name="Exporter G", decided_by="auto", policy_version="p1",
            decided_at=datetime.now(UTC), contact=ContactPoint(webhook_url=url)), case_id=uuid4())

    receiver.delay_seconds["/slow"] = 20
    bomb = decision(f"http://127.0.0.1:{bomb_server}/b")
    slow = decision(receiver.url("/slow"))
    prompt = decision(f"http://localhost:{receiver.port}/prompt")
    store = SqlDeliveryLog.from_url(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    await store.create_schema()
    published: list[Any] = []
    slow_pending_at_prompt: list[bool] = []

    async def publish(out: Any) -> None:
        published.extend(out)
        if any(o.envelope.causation_id == prompt.event_id for o in out):
            slow_pending_at_prompt.append(slow.event_id in {p.event_id for p in await store.pending()})

    async with httpx.AsyncClient() as client:
        sender = make_sender(client, LOOPBACK, attempt_deadline_seconds=3,
                             policy=RetryPolicy(attempts=1, base_delay=0.01, max_delay=0.02))
        service = NotificationService(store=store, senders={"webhook": sender},
                                      factory=EventFactory("notification"), outcome_topic="out")
        worker = DeliveryWorker(store=store, service=service, schedule=BackoffSchedule(), publish=publish,
                                interval_seconds=3600)
        service.on_queued = worker.wake
        worker.start()
        tracemalloc.start()
        try:
            outgoing, failed = await service.handle_batch([bomb, slow, prompt])
            # Queued, nothing asked yet: the batch (and so the partition) never waits for a receiver.
            assert outgoing == [] and not failed and receiver.requests == []
            assert {p.event_id for p in await store.pending()} == {bomb.event_id, slow.event_id, prompt.event_id}
            for _ in range(400):
                if len(published) == 3:
                    break
                await asyncio.sleep(0.05)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            await worker.stop()
    await store.close()
    by_cause = {o.envelope.causation_id: o.envelope.payload for o in published}
    assert by_cause[bomb.event_id].status == "delivered"
    assert by_cause[prompt.event_id].status == "delivered"
    assert by_cause[slow.event_id].status == "failed" and "no answer" in (by_cause[slow.event_id].error or "")
    # The prompt receiver's outcome was out while the slow delivery still waited for its answer.
    assert slow_pending_at_prompt == [True]
    assert [o.envelope.causation_id for o in published][-1] == slow.event_id
    # The slow one's request is logged by the receiver only when its 20 s sleep ends: not yet.
    (prompt_request,) = [r for r in receiver.requests if r.path == "/prompt"]
    assert [r.path for r in receiver.requests] == ["/prompt"] and prompt_request.status == 200
    assert peak < 5 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while delivering"
