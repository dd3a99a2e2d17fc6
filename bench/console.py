"""Reviewer console render times with 10,000 open cases.

    uv run python bench/console.py [--open 10000] [--decided 2000] [--repeat 15]

Seeds a fresh SQLite review store through the service's own batch path (`handle_batch`, as the
Kafka consumer does) with `--open` cases left open (standard and enhanced routes, a third with a
watch-list hit and a red flag) and `--decided` cases decided at once (no licence required,
denied), then serves the review HTTP app in process (httpx's ASGI transport: no network) and
times each console page, signed in as a reviewer: the queue (first page, sorted by due date),
the queue filtered and sorted by red flags, its last page, a text search, my cases, the
licence-review queue, one case page, the dashboard. Reports the median and the slowest of
`--repeat` renders per page in results/console.json and console.md, next to the medians measured
before the queue projection, with the machine's load average while it ran (a shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from lanthanide.auth import Authenticator, TokenGrant
from lanthanide.contracts import (
    Application,
    ClassificationResult,
    EndUseAssessment,
    PartyHit,
    RedFlag,
    Route,
    ScreeningCompleted,
)
from lanthanide.dates import prc_today
from lanthanide.events import EventFactory
from lanthanide.ids import case_id_for
from lanthanide.testing.factories import civilian_application
from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.bootstrap import build_service
from lanthanide_review.entrypoints.console import PAGE_SIZE, ConsoleOptions
from lanthanide_review.entrypoints.http import create_app
from lanthanide_review.settings import ReviewSettings

RESULTS = Path(__file__).resolve().parent / "results"
#: Median ms per page before the queue projection (every render read every case aggregate),
#: same seed and machine, 2026-12-02T15:03Z.
BEFORE_MS = {"queue": 24026.7, "queue_flagged_by_flags": 20532.8, "case": 72.9, "dashboard": 25064.4}
TOKEN = "bench-reviewer"
factory = EventFactory("screening-bench")


class _Discard:
    async def publish_encoded(self, records: Any) -> None:
        return None


_BASE_APPLICATION = Application.model_validate(civilian_application("BENCH-000000"))


def _screening(n: int, route: Route, flagged: bool) -> Any:
    ref = f"BENCH-{n:06d}"
    # One validated application copied per case (validating 12,000 deep-copied dicts took half
    # of the seeding time); only the reference differs, and the case id follows from it.
    app = _BASE_APPLICATION.model_copy(update={"external_reference": ref})
    hits = [PartyHit(party_role="end_user", party_index=2, list_id="prc-watch", list_kind="watch",
                     list_version="2026-11", entry_id=f"W-{n % 20}", matched_name="Antriebstechnik Nord",
                     score=0.93, algorithm_version="bench")] if flagged else []
    flags = [RedFlag(code="SCR-FLAG-TEXT-MILITARY", description="military words in the end-use text",
                     evidence="missile")] if flagged else []
    payload = ScreeningCompleted(
        external_reference=ref, application=app, complete=True,
        classifications=[ClassificationResult(item_index=0, control_codes=["1C905.a"],
                                              licence_required=route is not Route.NO_LICENCE_REQUIRED)],
        licence_required=route is not Route.NO_LICENCE_REQUIRED, hits=hits,
        end_use=EndUseAssessment(category=app.end_use.category.value), red_flags=flags, route=route,
        rule_ids=["SCR-FLAG-TEXT-MILITARY"] if flagged else [], reference_data_version="bench",
        algorithm_version="bench", screened_on=prc_today(),
    )
    return factory.new("screening.completed", payload, case_id=case_id_for(app.exporter_key, ref))


async def seed(service: Any, n_open: int, n_decided: int) -> str:
    events = []
    for n in range(n_open):
        route = Route.ENHANCED if n % 3 == 0 else Route.STANDARD
        events.append(_screening(n, route, flagged=n % 3 == 0))
    for n in range(n_open, n_open + n_decided):
        events.append(_screening(n, Route.NO_LICENCE_REQUIRED if n % 2 else Route.DENY, flagged=False))
    for i in range(0, len(events), 1000):
        failed = await service.handle_batch([(e, "lanthanide.screening.completed") for e in events[i:i + 1000]])
        assert not failed, failed[:3]
    return str(events[0].case_id)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = ReviewSettings(data_dir=Path(tmp), tokens={TOKEN: TokenGrant(user="bench", roles=["reviewer"])})
        service = build_service(settings)
        await service.store.migrate()
        t0 = time.perf_counter()
        case_id = await seed(service, args.open, args.decided)
        seed_s = time.perf_counter() - t0
        app = create_app(service, OutboxRelay(service.store, _Discard()),  # type: ignore[arg-type]
                         Authenticator(settings.tokens), console=ConsoleOptions(cookie_secure=False))
        last_page = max(1, -(-args.open // PAGE_SIZE))
        pages = {
            "queue": "/console/",
            "queue_flagged_by_flags": "/console/?flagged=1&sort=flags&desc=1",
            "queue_last_page": f"/console/?sort=received&page={last_page}",
            "queue_text_search": "/console/?q=bench-0042",
            "mine": "/console/mine",
            "licence_review": "/console/licence-review",
            "case": f"/console/cases/{case_id}",
            "dashboard": "/console/dashboard",
        }
        load_before = os.getloadavg()
        timings: dict[str, list[float]] = {k: [] for k in pages}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            login = await client.get("/console/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
            signed = await client.post("/console/login", data={"token": TOKEN, "csrf_token": csrf})
            assert signed.status_code == 303, signed.text
            for _ in range(args.repeat):
                for name, path in pages.items():
                    start = time.perf_counter()
                    resp = await client.get(path)
                    timings[name].append(time.perf_counter() - start)
                    assert resp.status_code == 200, (name, resp.status_code, resp.text[:300])
            first = (await client.get("/console/")).text
            assert f"({args.open})" in first
        load_after = os.getloadavg()
        await service.store.dispose()
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_1min_before": round(load_before[0], 2), "load_1min_after": round(load_after[0], 2)},
        "open_cases": args.open, "decided_cases": args.decided, "repeat": args.repeat,
        "seed_seconds": round(seed_s, 1), "store": "SQLite (file, fresh)",
        "pages_ms": {k: {"median": round(1000 * statistics.median(v), 1), "max": round(1000 * max(v), 1)}
                     for k, v in timings.items()},
        "before_projection_median_ms": BEFORE_MS,
    }


def _before(name: str, median: float) -> str:
    before = BEFORE_MS.get(name)
    if not before or not median:
        return "- | -"
    ratio = before / median
    return f"{before} | {ratio:.0f}x" if ratio >= 10 else f"{before} | {ratio:.1f}x"


def write(report: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "console.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Reviewer console render times", "",
        f"{report['open_cases']} open and {report['decided_cases']} decided cases in a fresh SQLite store "
        f"(seeded in {report['seed_seconds']} s through `handle_batch`); each page rendered "
        f"{report['repeat']} times in process over ASGI, signed in as a reviewer "
        f"({report['generated_at']}, Python {report['machine']['python']}, {report['machine']['cpus']} CPUs "
        f"shared with other jobs: 1-minute load average {report['machine']['load_1min_before']} before the "
        f"renders, {report['machine']['load_1min_after']} after).", "",
        "| page | median ms | slowest ms | median ms before the projection | speed-up |",
        "|---|---:|---:|---:|---:|",
        *(f"| {k} | {v['median']} | {v['max']} | {_before(k, v['median'])} |" for k, v in report["pages_ms"].items()),
        "",
        "The queue and the dashboard read the queue projection (`case_queue`, one slim row per case "
        "kept by the store in the same transaction as the case) in SQL: filters, sort, count and a "
        f"{PAGE_SIZE}-row page with LIMIT/OFFSET, the dashboard's numbers grouped in SQL. \"Before\": "
        "every render read and decoded every case aggregate (application and screening JSON).", "",
        "Made by `uv run python bench/console.py`.", "",
    ]
    (RESULTS / "console.md").write_text("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--decided", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=15)
    report = asyncio.run(main(parser.parse_args()))
    write(report)
    print(json.dumps(report["pages_ms"], indent=2))
