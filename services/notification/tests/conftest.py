"""Fixtures of the notification tests: a real HTTP receiver, a real SMTP server, a real broker."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from aiosmtpd.controller import Controller
from lanthanide.contracts import Envelope
from lanthanide.events import Outgoing
from lanthanide.kafka import ensure_topics, make_producer
from lanthanide.serde import encode
from lanthanide.settings import KafkaSettings
from lanthanide.topics import Topics, dlq
from lanthanide_notification.bootstrap import NotificationApp, build
from lanthanide_notification.delivery_worker import DeliveryWorker
from lanthanide_notification.service_layer.handlers import NotificationService
from lanthanide_notification.signing import endpoint_key, verify_signature

#: Dev-only test secret; never used outside these tests.
TEST_SECRET = "test-only-webhook-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    signature_ok: bool


@dataclass
class Receiver:
    """A real HTTP server in a thread. `fail_first[path] = n` answers 503 to the first n POSTs."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    fail_first: dict[str, int] = field(default_factory=dict)
    delay_seconds: dict[str, float] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def accepted(self, path: str | None = None) -> list[Received]:
        return [r for r in self.requests if r.status == 200 and (path is None or r.path == path)]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                receiver.in_flight += 1
                receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                seen = sum(1 for r in receiver.requests if r.path == self.path)
            time.sleep(receiver.delay_seconds.get(self.path, 0))
            # The sender signs with this endpoint's own key, derived from the URL it was given
            # (the Host header carries the URL's host and port even when the connection was
            # made to the checked address).
            url = f"http://{self.headers.get('Host', '')}{self.path}"
            ok = verify_signature(
                endpoint_key(TEST_SECRET, url), self.headers.get("X-Lanthanide-Timestamp", ""), body,
                self.headers.get("X-Lanthanide-Signature"), max_age_seconds=300,
            )
            status = 503 if seen < receiver.fail_first.get(self.path, 0) else (200 if ok else 401)
            with receiver.lock:
                receiver.in_flight -= 1
                receiver.requests.append(Received(self.path, dict(self.headers), body, status, ok))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # silence the stdlib access log
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on a free port."""
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def prefix() -> str:
    """A topic prefix of this test's own, so tests sharing one broker never see each other."""
    return f"t{uuid4().hex[:10]}."


def topics_for(prefix: str) -> list[str]:
    names = [f"{prefix}{t}" for t in Topics.all()]
    return names + [dlq(t) for t in names]


@asynccontextmanager
async def running_notification(
    bootstrap: str, prefix: str, db_path: Path, **overrides: Any
) -> AsyncIterator[NotificationApp]:
    """The notification service on a real broker, in this process, until the block ends."""
    from lanthanide_notification.settings import NotificationSettings

    kafka = KafkaSettings(bootstrap_servers=bootstrap, partitions=3)
    await ensure_topics(kafka, topics_for(prefix))
    settings = NotificationSettings(
        kafka=kafka, topic_prefix=prefix, db_url=f"sqlite+aiosqlite:///{db_path}",
        webhook_secret=TEST_SECRET, retry_base_delay_seconds=0.05, retry_max_delay_seconds=0.2,
        **({"webhook_allow_networks": ["127.0.0.1/32", "::1/128"],
            "group_id": f"notif-{uuid4().hex[:8]}"} | overrides),
    )
    app = build(settings)
    await app.start()
    await app.broker.start()
    try:
        yield app
    finally:
        await app.broker.stop()
        await app.stop()


async def publish(bootstrap: str, topic: str, *envelopes: Envelope[Any]) -> None:
    """Publish envelopes as an upstream service would (key = case_id, acks=all)."""
    producer = make_producer(KafkaSettings(bootstrap_servers=bootstrap), "test")
    await producer.start()
    try:
        for env in envelopes:
            await producer.send_and_wait(topic, encode(env), key=str(env.case_id).encode())
    finally:
        await producer.stop()


@pytest.fixture
def start_notification(kafka_bootstrap: str, prefix: str, tmp_path: Path) -> Callable[..., Any]:
    """`async with start_notification(**settings_overrides) as app:` runs the service."""

    def start(db_name: str = "notification.db", **overrides: Any) -> Any:
        return running_notification(kafka_bootstrap, prefix, tmp_path / db_name, **overrides)

    return start


@pytest.fixture
def send(kafka_bootstrap: str, prefix: str) -> Callable[..., Any]:
    """`await send(Topics.DECISIONS, envelope, ...)` publishes to this test's prefixed topic."""

    async def _send(topic: str, *envelopes: Envelope[Any]) -> None:
        await publish(kafka_bootstrap, f"{prefix}{topic}", *envelopes)

    return _send


@pytest.fixture
def closed_port_url() -> str:
    """A URL on a port nothing listens on (connection refused)."""
    return f"http://127.0.0.1:{free_port()}/nobody-home"


@pytest.fixture
def deliver() -> Callable[..., Any]:
    """`outcomes, failed = await deliver(service, envelopes)`: what the consumer and the delivery
    worker do with a batch: queue it, then make every due delivery (the worker's `drain`);
    `outcomes` are the re-emitted ones first, then those the worker published."""

    async def run(
        service: NotificationService, envelopes: list[Envelope[Any]], *, per_host_limit: int = 4,
    ) -> tuple[list[Outgoing], list[Any]]:
        published: list[Outgoing] = []

        async def publish(out: Any) -> None:
            published.extend(out)

        worker = DeliveryWorker(store=service.store, service=service,  # type: ignore[arg-type]
                                schedule=service.schedule, publish=publish, per_host_limit=per_host_limit,
                                clock=service.clock)
        reemitted, failed = await service.handle_batch(envelopes)
        await worker.drain()
        return reemitted + published, failed

    return run
