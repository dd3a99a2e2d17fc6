"""CPU seconds per 1,000 applications of the audit service, replaying the captured corpus.

    uv run python bench/cpu_audit.py [--repeat 3] [--baseline] [--profile]

Builds the ledger store as bootstrap does (AuditSettings -> LedgerStore, SQLite file under a
fresh data dir in a temp dir), feeds ALL corpus records (every topic) in batches of the
configured max batch size through `append_records` (the body of the Kafka subscriber), then
verifies the chain as `lanthanide audit verify` does. Only the appends are timed (CPU time of
this process, time.process_time). The fastest of --repeat runs is reported.

`ledger_digest` is a sha256 over every stored column except recorded_at (a wall-clock time), so
two versions of the code can be checked to write the same ledger for the same input.
--baseline stores the figure as `baseline_cpu_s_per_1000`; otherwise the baseline already in
results/cpu_audit.json is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from corpus import RESULTS, Record, applications, best_of, load, measured, report
from lanthanide.logging import configure_logging
from lanthanide.settings import LoggingSettings
from lanthanide_audit.adapters.store import LedgerStore, ledger
from lanthanide_audit.service_layer.handlers import StageStats, append_records
from lanthanide_audit.settings import AuditSettings
from lanthanide_audit.views import verify
from sqlalchemy import select


async def ledger_digest(store: LedgerStore) -> str:
    h = hashlib.sha256()
    cols = [c for c in ledger.c if c.name != "recorded_at"]
    async with store.engine.connect() as conn:
        for row in await conn.execute(select(*cols).order_by(ledger.c.seq)):
            h.update(repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)).encode())
    return h.hexdigest()


async def replay(records: list[Record], profile: bool, batch: int | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cpu-audit-") as tmp:
        settings = AuditSettings(data_dir=Path(tmp) / "data")
        store = LedgerStore.from_url(settings.store_url())
        await store.create_schema()
        size = batch or settings.kafka.max_batch_records
        stats = StageStats()
        with measured("audit", profile) as cpu:
            for start in range(0, len(records), size):
                await append_records(store, records[start:start + size], stats)
            # A redelivered batch must append nothing (idempotency), and is part of the cost.
            again = await append_records(store, records[:size], stats)
        report_ = await verify(store)
        digest = await ledger_digest(store)
        await store.close()
    return {
        "cpu_s": cpu.seconds, "received": stats.received, "appended": stats.appended,
        "undecodable": stats.undecodable, "redelivered_appended": again, "verified": report_.ok,
        "checked": report_.checked, "head_hash": report_.head_hash, "ledger_digest": digest,
        "batch_size": size,
    }


def measure(records: list[Record], apps: int, repeat: int, batch: int | None) -> dict[str, Any]:
    runs = [asyncio.run(replay(records, False, batch)) for _ in range(repeat)]
    if not all(r["verified"] and r["redelivered_appended"] == 0 for r in runs):
        raise SystemExit(f"ledger did not verify or a redelivery appended: {runs}")
    return best_of(runs, apps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", action="store_true", help="record this run as the baseline")
    parser.add_argument("--profile", action="store_true", help="one run under pyinstrument")
    parser.add_argument("--batch", type=int, default=None,
                        help="batch size for --profile (default: the configured max batch size)")
    parser.add_argument("--small-batch", type=int, default=6,
                        help="also replay in batches this small (one application's records: what a "
                             "lightly loaded pipeline hands audit); 0 = skip")
    args = parser.parse_args()
    configure_logging("audit-bench", LoggingSettings(level="WARNING"))
    records = load()
    apps = applications(records)
    if args.profile:
        print(json.dumps({k: v for k, v in asyncio.run(replay(records, True, args.batch)).items()}, indent=2))
        return
    full = measure(records, apps, args.repeat, None)
    small = measure(records, apps, args.repeat, args.small_batch) if args.small_batch else None
    previous = RESULTS / "cpu_audit.json"
    old = json.loads(previous.read_text()) if previous.exists() and not args.baseline else {}
    figures: dict[str, Any] = {
        "service": "audit",
        "records": len(records),
        "applications": apps,
        "repeat": args.repeat,
        "batch_size": full["batch_size"],
        "baseline_cpu_s_per_1000": full["cpu_s_per_1000"] if args.baseline else old.get("baseline_cpu_s_per_1000"),
        "cpu_s_per_1000": full["cpu_s_per_1000"],
        "all_runs_cpu_s_per_1000": full["all_runs_cpu_s_per_1000"],
        **{k: full[k] for k in ("received", "appended", "undecodable", "redelivered_appended",
                                "verified", "checked", "head_hash", "ledger_digest")},
    }
    if small is not None:
        figures["small_batches"] = {
            "batch_size": small["batch_size"],
            "baseline_cpu_s_per_1000": small["cpu_s_per_1000"] if args.baseline
            else old.get("small_batches", {}).get("baseline_cpu_s_per_1000"),
            "cpu_s_per_1000": small["cpu_s_per_1000"],
            "all_runs_cpu_s_per_1000": small["all_runs_cpu_s_per_1000"],
            "verified": small["verified"],
            "ledger_digest": small["ledger_digest"],
        }
    report("audit", figures)


if __name__ == "__main__":
    main()
