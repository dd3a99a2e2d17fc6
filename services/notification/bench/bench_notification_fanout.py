"""Benchmark: webhook fan-out of one batch to several slow receivers (no Kafka: the service alone).

    uv run python services/notification/bench/bench_notification_fanout.py [--events 200] [--delay 0.05]

Each receiver answers after --delay seconds. Compares the batch wall time with the serial
lower bound (events x delay) to show the per-case concurrency and per-host limits at work.
Writes bench/results/notification_fanout.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
from lanthanide.contracts import ContactPoint, DecisionMade, DecisionOutcome
from lanthanide.events import EventFactory
from lanthanide.logging import configure_logging
from lanthanide.settings import LoggingSettings
from lanthanide_notification.adapters.store import SqlDeliveryLog
from lanthanide_notification.adapters.webhook import WebhookSender
from lanthanide_notification.delivery_worker import DeliveryWorker
from lanthanide_notification.domain.addresses import AddressPolicy
from lanthanide_notification.domain.retry import RetryPolicy
from lanthanide_notification.service_layer.handlers import NotificationService

REPO_ROOT = Path(__file__).resolve().parents[3]


def serve(host: str, delay: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def run(events: int, delay: float, per_host: int) -> dict[str, Any]:
    servers = [serve(h, delay) for h in ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")]
    urls = [f"http://{s.server_address[0]}:{s.server_address[1]}/hook" for s in servers]
    factory = EventFactory("review", instance="bench")
    batch = [
        factory.new("decision.made", DecisionMade(
            decision_id=uuid4(), outcome=DecisionOutcome.APPROVED, external_reference=f"PO-B-{i}",
            exporter_name="E", decided_by="auto", policy_version="p", decided_at=datetime.now(UTC),
            contact=ContactPoint(webhook_url=urls[i % len(urls)])), case_id=uuid4())
        for i in range(events)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlDeliveryLog.from_url(f"sqlite+aiosqlite:///{tmp}/bench.db")
        await store.create_schema()
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=100)) as client:
            sender = WebhookSender(client, secret="bench-only", policy=RetryPolicy(), per_host_limit=per_host,
                                   addresses=AddressPolicy.from_strings(["127.0.0.0/8", "::1/128"]))
            service = NotificationService(store=store, senders={"webhook": sender},
                                          factory=EventFactory("notification"), outcome_topic="out")
            outgoing: list[Any] = []
            all_out = asyncio.Event()

            async def publish(out: Any) -> None:
                outgoing.extend(out)
                if len(outgoing) >= events:
                    all_out.set()

            worker = DeliveryWorker(store=store, service=service, schedule=service.schedule, publish=publish,
                                    per_host_limit=per_host, interval_seconds=3600)
            service.on_queued = worker.wake
            worker.start()
            started = time.perf_counter()
            _, failed = await service.handle_batch(batch)
            queued = time.perf_counter() - started  # what the consumer waits before its commit
            await asyncio.wait_for(all_out.wait(), 600)
            elapsed = time.perf_counter() - started
            await worker.stop()
        await store.close()
    for s in servers:
        s.shutdown()
    delivered = sum(1 for o in outgoing if o.envelope.payload.status == "delivered")
    return {
        "events": events, "receivers": len(urls), "receiver_delay_s": delay, "per_host_limit": per_host,
        "delivered": delivered, "failed": len(failed), "queue_wall_s": round(queued, 3),
        "batch_wall_s": round(elapsed, 3),
        "serial_lower_bound_s": round(events * delay, 3),
        "deliveries_per_s": round(delivered / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    args = parser.parse_args()
    configure_logging("notification-bench", LoggingSettings(level="WARNING"))
    results = [asyncio.run(run(args.events, args.delay, limit)) for limit in (1, 4, 8)]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "notification_fanout.json").write_text(json.dumps(results, indent=2))
    lines = ["# Notification webhook fan-out", "",
             f"{args.events} decisions in one batch, 4 receivers each answering after {args.delay}s; "
             "SQLite delivery log; no Kafka.", "",
             "queue wall: until the batch is queued (what the consumer waits before committing); "
             "batch wall: until every outcome is out (the delivery worker).", "",
             "| per-host limit | queue wall (s) | batch wall (s) | serial bound (s) | deliveries/s |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['per_host_limit']} | {r['queue_wall_s']} | {r['batch_wall_s']} | {r['serial_lower_bound_s']} | "
              f"{r['deliveries_per_s']} |" for r in results]
    (args.out / "notification_fanout.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
