"""CPU seconds per 1,000 applications of the notification service, replaying the captured corpus.

    uv run python bench/cpu_notification.py [--repeat 3] [--baseline] [--profile]

Replays the corpus records of the topics notification subscribes to (applications accepted and
rejected, case events, decisions: the decisions and info requests are notified, the accepted
applications also teach it the case contacts) in batches of the configured max batch size
through `handle_records`, the body of the Kafka subscriber (lanthanide.kafka.run_batch: decode,
NotificationService.handle_batch, dead letters, the outcome records made as the publisher
sends them), then the delivery worker's rounds of the deliveries queued, and encodes their
outcome events as the publisher would. The delivery log is SQLite under a fresh data dir,
built as bootstrap builds it.

Two scenarios:
- `as_captured`: the corpus as the pipeline benchmark ran it: no subscriptions, no webhook in
  the applications, so nothing is delivered (this is the pipeline's ~7 ms per application).
- `webhooks` (the headline figure): one subscription "*" with a webhook to a real HTTP
  receiver (lanthanide.testing.webhook.WebhookReceiver, uvicorn) running in a child process, so
  every notice is signed, POSTed and logged, and the receiver's CPU is not counted here. Each
  batch is then replayed a second time (a redelivery), which must send nothing.

Only the replay is timed (CPU time of this process, time.process_time); fastest of --repeat.
--baseline stores the figures as the baseline; otherwise the baseline already in
results/cpu_notification.json is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from corpus import RESULTS, Record, applications, best_of, load, measured, report
from lanthanide.events import EventFactory
from lanthanide.logging import configure_logging
from lanthanide.serde import encode
from lanthanide.settings import LoggingSettings
from lanthanide.topics import Topics
from lanthanide_notification import SERVICE
from lanthanide_notification.adapters.store import SqlDeliveryLog
from lanthanide_notification.adapters.webhook import WebhookSender
from lanthanide_notification.delivery_worker import DeliveryWorker
from lanthanide_notification.domain.model import Subscription
from lanthanide_notification.entrypoints.stage import handle_records
from lanthanide_notification.service_layer.handlers import NotificationService, input_topics
from lanthanide_notification.settings import NotificationSettings
from sqlalchemy import func, select

RECEIVER = """
import asyncio, sys
from lanthanide.testing.webhook import WebhookReceiver

async def main():
    async with WebhookReceiver() as r:
        print(r.url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        print(len(r.received), flush=True)

asyncio.run(main())
"""


class Receiver:
    """The webhook receiver in a child process (its CPU is not this process's)."""

    def __enter__(self) -> Receiver:
        self.proc = subprocess.Popen([sys.executable, "-c", RECEIVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        return self

    def received(self) -> int:
        """Stop the receiver; how many POSTs it received."""
        out, _ = self.proc.communicate("", timeout=30)
        return int(out.strip() or 0)

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


async def replay(records: list[Record], webhook_url: str | None, profile: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cpu-notification-") as tmp:
        settings = NotificationSettings(data_dir=Path(tmp) / "data", webhook_secret="bench-only-secret")
        store = SqlDeliveryLog.from_url(settings.store_url())
        await store.create_schema()
        if webhook_url:
            await store.replace_file_subscriptions([Subscription("bench", "*", webhook_url=webhook_url)])
        http = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds,
                                 limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                                 follow_redirects=False)
        service = NotificationService(
            store=store,
            senders={"webhook": WebhookSender(http, secret="bench-only-secret", policy=settings.retry_policy(),
                                              per_host_limit=settings.webhook_per_host_limit)},
            factory=EventFactory(SERVICE, instance="bench"), outcome_topic=settings.topic(Topics.NOTIFICATIONS),
        )
        dead: list[str] = []
        published: list[Any] = []

        async def publish(out: Any) -> None:
            published.extend(out)

        worker = DeliveryWorker(store=store, service=service, schedule=service.schedule, publish=publish,
                                per_host_limit=settings.webhook_per_host_limit)

        class Stage:
            """The publisher the stage's runner sends to: keeps the records it would produce."""

            def __init__(self) -> None:
                self.sent: list[Any] = []

            async def publish_records(self, records: Any) -> None:
                self.sent.extend(records)  # made by record_of: encoded as the publisher sends them

            async def publish_raw(self, topic: str, body: bytes, key: Any, headers: Any) -> None:
                dead.append(topic)

        stage = Stage()

        size = settings.kafka.max_batch_records
        outcomes = redelivered = 0
        with measured("notification", profile) as cpu:
            for start in range(0, len(records), size):
                batch = records[start:start + size]
                await handle_records(service, batch, stage)  # type: ignore[arg-type]
                await worker.drain()  # the deliveries the batch queued, as the delivery worker makes them
                bodies = [encode(o.envelope) for o in published]  # what the publisher sends
                outcomes += len(stage.sent) + len(bodies)
                stage.sent.clear()
                published.clear()
                if webhook_url:
                    # A redelivery of the batch (crash before the offset commit): nothing is sent.
                    await handle_records(service, batch, stage)  # type: ignore[arg-type]
                    redelivered += len(stage.sent)
                    stage.sent.clear()
        await http.aclose()
        async with store.engine.connect() as conn:
            from lanthanide_notification.adapters.store import deliveries

            logged = int((await conn.execute(select(func.count()).select_from(deliveries))).scalar_one())
        await store.close()
    return {"cpu_s": cpu.seconds, "outcomes": outcomes, "redelivered_outcomes": redelivered,
            "deliveries_logged": logged, "dead_lettered_records": len(dead), "batch_size": size}


def scenario(records: list[Record], apps: int, repeat: int, webhooks: bool) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        if webhooks:
            with Receiver() as receiver:
                run = asyncio.run(replay(records, receiver.url, False))
                run["webhook_posts_received"] = receiver.received()
            if run["webhook_posts_received"] != run["deliveries_logged"]:
                raise SystemExit(f"the receiver got {run['webhook_posts_received']} POSTs for "
                                 f"{run['deliveries_logged']} logged deliveries: something was sent twice")
        else:
            run = asyncio.run(replay(records, None, False))
        runs.append(run)
    return best_of(runs, apps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", action="store_true", help="record this run as the baseline")
    parser.add_argument("--profile", action="store_true", help="one webhook run under pyinstrument")
    args = parser.parse_args()
    configure_logging("notification-bench", LoggingSettings(level="WARNING"))
    topics = set(NotificationSettings().topics(input_topics()))
    records = load(topics=topics)
    apps = applications(load(topics={Topics.APPLICATIONS_SUBMITTED})) or len(records)
    if args.profile:
        with Receiver() as receiver:
            print(json.dumps(asyncio.run(replay(records, receiver.url, True)), indent=2))
        return
    hooks = scenario(records, apps, args.repeat, webhooks=True)
    captured = scenario(records, apps, args.repeat, webhooks=False)
    previous = RESULTS / "cpu_notification.json"
    old = json.loads(previous.read_text()) if previous.exists() and not args.baseline else {}
    figures: dict[str, Any] = {
        "service": "notification",
        "records": len(records),
        "topics": sorted(topics),
        "applications": apps,
        "repeat": args.repeat,
        "transport": "real HTTP: WebhookReceiver (uvicorn) in a child process, not counted",
        "baseline_cpu_s_per_1000": hooks["cpu_s_per_1000"] if args.baseline else old.get("baseline_cpu_s_per_1000"),
        "cpu_s_per_1000": hooks["cpu_s_per_1000"],
        "webhooks": hooks,
        "as_captured": {
            "baseline_cpu_s_per_1000": captured["cpu_s_per_1000"] if args.baseline
            else old.get("as_captured", {}).get("baseline_cpu_s_per_1000"),
            **captured,
        },
    }
    report("notification", figures)


if __name__ == "__main__":
    main()
