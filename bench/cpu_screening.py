"""CPU per application of the screening service, replayed in-process from the captured corpus.

Builds the service as `lanthanide_screening.bootstrap` does (the default reference lists), with a
fresh SQLite store in a temporary directory and no Kafka, then feeds the corpus records of the
service's input topics (applications.accepted, then decisions) through the same code path as its
Kafka stage, in batches of the configured max batch size: decode, `Screening.handle` per record
inside `Screening.batch()` (which writes the store once per batch), encode the outputs.

    uv run python bench/cpu_screening.py --baseline   # save the outputs and the baseline figure
    uv run python bench/cpu_screening.py              # measure, and compare outputs with the baseline
    uv run python bench/cpu_screening.py --profile    # pyinstrument text report of one replay

Reports CPU seconds (time.process_time) per 1,000 applications, excluding start-up and list
loading, and a checksum of the outputs; writes bench/results/cpu_screening.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from corpus import RESULTS, Record, cpu_timer, load, report
from lanthanide.logging import configure_logging
from lanthanide.serde import decode, encode
from lanthanide.topics import Topics
from lanthanide_screening.bootstrap import Screening, build
from lanthanide_screening.settings import ScreeningSettings

BASELINE_OUTPUTS = RESULTS / "cpu_screening_baseline_outputs.jsonl"
BASELINE_FIGURES = RESULTS / "cpu_screening_baseline.json"


@contextlib.asynccontextmanager
async def _batch(screening: Screening) -> AsyncIterator[None]:
    """The service's per-batch scope when it has one (the baseline code had none)."""
    scope = getattr(screening, "batch", None)
    if scope is None:
        yield
        return
    async with scope():
        yield


def _outcome(payload: Any) -> dict[str, Any]:
    """What must not change: route, rule ids, and a digest of reasons, hits, flags, classifications."""
    body = payload.model_dump(mode="json", exclude={"screened_on"})
    fields = ("route_reasons", "hits", "red_flags", "classifications", "end_use", "licence_required")
    detail = {k: body[k] for k in fields}
    return {
        "route": body["route"],
        "rule_ids": sorted(body["rule_ids"]),
        "detail_sha256": hashlib.sha256(json.dumps(detail, sort_keys=True).encode()).hexdigest(),
    }


async def replay(
    records: list[Record], batch_size: int, profile: bool, memo: bool = True
) -> tuple[float, list[dict[str, Any]], float]:
    """(CPU seconds of the replay, the outputs, start-up CPU seconds); `memo=False` turns the
    party-search memo off (every name matched afresh, as for names never seen before)."""
    with tempfile.TemporaryDirectory(prefix="cpu-screening-") as tmp:
        with cpu_timer() as startup:
            settings = ScreeningSettings(data_dir=Path(tmp), database_url=f"sqlite+aiosqlite:///{tmp}/screening.db")
            screening = build(settings)
            await screening.store.start()
            if not memo and hasattr(screening.engine.index, "search_cache_size"):
                screening.engine.index.search_cache_size = 0
        produced: list[Any] = []
        profiler = None
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
        with cpu_timer() as timer:
            for start in range(0, len(records), batch_size):
                chunk = records[start : start + batch_size]
                batch_out = []
                async with _batch(screening):
                    for record in chunk:
                        envelope = decode(record.value)
                        for o in await screening.handle(envelope):
                            batch_out.append(o)
                for o in batch_out:
                    encode(o.envelope)  # the stage encodes every output to publish it
                produced.extend(batch_out)
        if profiler is not None:
            profiler.stop()
            out = RESULTS / "profiles" / "cpu_screening.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
            print(f"profile written to {out}", file=sys.stderr)
        await screening.store.close()
    outputs = [{"case_id": str(o.envelope.case_id), **_outcome(o.envelope.payload)} for o in produced]
    return timer.seconds, outputs, startup.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", action="store_true", help="save outputs and figure as the baseline")
    parser.add_argument("--profile", action="store_true", help="profile one replay with pyinstrument")
    parser.add_argument("--repeat", type=int, default=3, help="replays; the best CPU figure is reported")
    args = parser.parse_args()

    # Logging as the service configures it (JSON lines), rendered but written to /dev/null.
    real_stderr = sys.stderr
    sys.stderr = open(os.devnull, "w")
    try:
        configure_logging("screening", ScreeningSettings().logging)
    finally:
        sys.stderr = real_stderr

    accepted = load(topics={Topics.APPLICATIONS_ACCEPTED})
    decisions = load(topics={Topics.DECISIONS})
    records = [*accepted, *decisions]
    corpus_digest = hashlib.sha256(b"".join(r.value for r in records)).hexdigest()
    batch_size = ScreeningSettings().kafka.max_batch_records
    per_1000 = 1000 / len(accepted)

    best = float("inf")
    outputs: list[dict[str, Any]] = []
    startup = 0.0
    for i in range(max(1, args.repeat)):
        seconds, outputs, startup = asyncio.run(replay(records, batch_size, profile=args.profile and i == 0))
        best = min(best, seconds)
        print(f"replay {i + 1}: {seconds * per_1000:.3f} CPU s per 1,000 applications", file=sys.stderr)

    cold = None
    if not args.baseline:
        seconds, cold_outputs, _ = asyncio.run(replay(records, batch_size, profile=False, memo=False))
        cold = round(seconds * per_1000, 3)
        print(f"without the search memo: {cold:.3f} CPU s per 1,000 applications", file=sys.stderr)
        if cold_outputs != outputs:
            raise SystemExit("outputs with and without the search memo differ")

    lines = [json.dumps(o, sort_keys=True) for o in outputs]
    checksum = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    routes = dict(sorted(Counter(o["route"] for o in outputs).items()))
    figure = round(best * per_1000, 3)
    if args.baseline:
        BASELINE_OUTPUTS.write_text("\n".join(lines) + "\n")
        BASELINE_FIGURES.write_text(json.dumps(
            {"cpu_s_per_1000": figure, "checksum": checksum, "corpus": corpus_digest}, indent=2) + "\n")

    baseline = json.loads(BASELINE_FIGURES.read_text()) if BASELINE_FIGURES.exists() else {}
    equal: bool | None = None
    first_difference = None
    if BASELINE_OUTPUTS.exists() and baseline.get("corpus") == corpus_digest:
        before = BASELINE_OUTPUTS.read_text().splitlines()
        equal = before == lines
        if not equal:
            for i, (a, b) in enumerate(zip(before, lines, strict=False)):
                if a != b:
                    first_difference = {"index": i, "baseline": json.loads(a), "now": json.loads(b)}
                    break
            else:
                first_difference = {"index": min(len(before), len(lines)), "lengths": [len(before), len(lines)]}
    elif BASELINE_OUTPUTS.exists():
        print("the baseline outputs were made from another corpus: not compared", file=sys.stderr)

    report(
        "screening",
        {
            "applications": len(accepted),
            "decisions": len(decisions),
            "batch_size": batch_size,
            "repeats": args.repeat,
            "startup_cpu_s": round(startup, 3),
            "baseline_cpu_s_per_1000": baseline.get("cpu_s_per_1000"),
            "cpu_s_per_1000": figure,
            "cpu_s_per_1000_without_search_memo": cold,
            "outputs": len(outputs),
            "routes": routes,
            "checksum": checksum,
            "baseline_checksum": baseline.get("checksum"),
            "outputs_equal_to_baseline": equal,
            "first_difference": first_difference,
        },
    )
    if equal is False:
        raise SystemExit("outputs differ from the baseline")


if __name__ == "__main__":
    main()
