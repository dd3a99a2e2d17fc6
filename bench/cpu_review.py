"""CPU seconds per 1,000 applications of the review service, replaying the captured corpus.

    uv run python bench/cpu_review.py [--repeat 3] [--baseline] [--batch-size N] [--profile]
                                      [--postgres] [--log-level INFO]

Builds the review service as bootstrap does (ReviewSettings -> build_service, SQLite file under
a fresh data dir in a temp dir; --postgres: a fresh database per run on a throwaway PostgreSQL
server from lanthanide.testing.postgres, whose own CPU is not counted), with a
publisher that collects the outgoing bytes instead of sending them to Kafka (the real
`Publisher.publish_encoded` still parses each body for its key and headers), and feeds the
captured `lanthanide.screening.completed` records in batches of the configured max batch size
through `process_batch` (the body of the Kafka subscriber: decode, apply, flush the outbox).
A redelivery of the first batch is part of the timed run and must publish nothing new.
Logs go through the service's structlog setup (INFO by default, as in the pipeline run) into
/dev/null, so their cost is counted. Only the replay is timed (time.process_time); the fastest
of --repeat runs is reported.

--baseline stores the figure as `baseline_cpu_s_per_1000`; otherwise the baseline already in
results/cpu_review.json is kept. --postgres figures go under its "postgresql" key (the SQLite
figures are kept, and the other way round).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
from corpus import RESULTS, Record, load, measured, report
from lanthanide.dates import prc_today
from lanthanide.kafka import Publisher
from lanthanide.logging import configure_logging
from lanthanide.settings import LoggingSettings
from lanthanide.topics import Topics
from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.bootstrap import build_service
from lanthanide_review.entrypoints.consumer import process_batch
from lanthanide_review.settings import ReviewSettings

TOPIC = Topics.SCREENING_COMPLETED


class CollectingPublisher(Publisher):
    """The real Publisher minus Kafka: what would be sent is kept as (topic, bytes)."""

    def __init__(self) -> None:  # no broker
        self.sent: list[tuple[str, bytes]] = []
        self.dead: list[tuple[str, bytes]] = []

    async def _send_all(self, items: Sequence[tuple[str, bytes, bytes | None, dict[str, str]]]) -> None:
        self.sent.extend((topic, body) for topic, body, _key, _headers in items)

    async def publish_raw(self, topic: str, body: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        self.dead.append((topic, body))


async def replay(records: list[Record], *, batch_size: int | None, db_url: str | None, profile: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cpu-review-") as tmp:
        settings = ReviewSettings(data_dir=Path(tmp) / "data", db_url=db_url, instance="bench")
        service = build_service(settings)
        await service.store.migrate()
        service.calendar.prime(prc_today().year)  # as ReviewApp.start does
        publisher = CollectingPublisher()
        relay = OutboxRelay(service.store, publisher)
        size = batch_size or settings.kafka.max_batch_records
        with measured("review", profile) as cpu:
            for start in range(0, len(records), size):
                await process_batch(records[start:start + size], service, relay, publisher)
            sent_before_redelivery = len(publisher.sent)
            await process_batch(records[:size], service, relay, publisher)
        await service.store.dispose()
    outcomes: Counter[str] = Counter()
    decision_ids: set[str] = set()
    by_topic: Counter[str] = Counter()
    for topic, body in publisher.sent:
        by_topic[topic] += 1
        data = orjson.loads(body)
        if data["event_type"] == "decision.made":
            outcomes[data["payload"]["outcome"]] += 1
            decision_ids.add(data["payload"]["decision_id"])
    return {
        "cpu_s": cpu.seconds,
        "batch_size": size,
        "decisions": sum(outcomes.values()),
        "distinct_decisions": len(decision_ids),
        "outcomes": dict(sorted(outcomes.items())),
        "published": dict(sorted(by_topic.items())),
        "dead_lettered": len(publisher.dead),
        "redelivered_published": len(publisher.sent) - sent_before_redelivery,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", action="store_true", help="record this run as the baseline")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the configured max batch size")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL server, not SQLite")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--profile", action="store_true", help="one run under pyinstrument")
    args = parser.parse_args()
    # The service logs as in production, rendered and written, but to /dev/null.
    devnull = open(os.devnull, "w")  # kept open for the process
    stderr, sys.stderr = sys.stderr, devnull
    configure_logging("review-bench", LoggingSettings(level=args.log_level))
    sys.stderr = stderr
    records = load(topics={TOPIC})
    apps = len(records)  # one screening.completed per application in this corpus
    n = 1 if args.profile else args.repeat
    with ExitStack() as stack:
        urls: list[str | None] = [None] * n
        if args.postgres:
            from uuid import uuid4

            from lanthanide.testing.postgres import create_database, real_postgres

            server = stack.enter_context(real_postgres())
            urls = [create_database(server, f"bench_{uuid4().hex[:12]}") for _ in range(n)]
        runs = [
            asyncio.run(replay(records, batch_size=args.batch_size, db_url=url, profile=args.profile)) for url in urls
        ]
    best = min(runs, key=lambda r: r["cpu_s"])
    expected = {"denied": 300, "no_licence_required": 700}
    for r in runs:
        bad = r["redelivered_published"] or r["dead_lettered"]
        if bad or r["outcomes"] != expected or r["distinct_decisions"] != 1000:
            raise SystemExit(f"unexpected output: {json.dumps(r)}")
    figure = round(best["cpu_s"] * 1000 / apps, 3)
    path = RESULTS / "cpu_review.json"
    previous: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    earlier = previous.get("postgresql") or {} if args.postgres else previous
    figures: dict[str, Any] = {
        "service": "review",
        "store": "postgresql" if args.postgres else "sqlite",
        "log_level": args.log_level,
        "records": len(records),
        "applications": apps,
        "repeat": len(runs),
        "baseline_cpu_s_per_1000": figure if args.baseline else earlier.get("baseline_cpu_s_per_1000"),
        "cpu_s_per_1000": figure,
        "all_runs_cpu_s_per_1000": [round(r["cpu_s"] * 1000 / apps, 3) for r in runs],
        **{k: best[k] for k in ("batch_size", "decisions", "distinct_decisions", "outcomes", "published",
                                "dead_lettered", "redelivered_published")},
    }
    if args.profile:
        print(json.dumps(figures, indent=2))
        return
    if args.postgres:
        figures = {**previous, "postgresql": figures}
    elif previous.get("postgresql"):
        figures["postgresql"] = previous["postgresql"]
    report("review", figures)

if __name__ == "__main__":
    main()
