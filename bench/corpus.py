"""Read the corpus written by bench/capture.py and time in-process replays in CPU seconds.

The per-service replays (bench/cpu_<service>.py) feed the captured records of a service's
input topics straight to its handlers (no Kafka), so one service's cost can be measured on a
shared, noisy machine: CPU seconds (time.process_time) per 1,000 applications, not wall time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

DEFAULT = Path(__file__).resolve().parent / "results" / "corpus.jsonl"
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True, slots=True)
class Record:
    """One captured Kafka record, shaped like the attributes handlers read from aiokafka's ConsumerRecord."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    timestamp: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()


def load(path: Path = DEFAULT, topics: set[str] | None = None) -> list[Record]:
    """The corpus records (optionally only those of `topics`), in file order."""
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `uv run python bench/capture.py` first")
    out = []
    with path.open("rb") as fh:
        for line in fh:
            r = orjson.loads(line)
            if topics is None or r["topic"] in topics:
                out.append(Record(r["topic"], r["partition"], r["offset"], r["key"].encode(), r["value"].encode()))
    return out


def applications(records: list[Record]) -> int:
    """How many applications the corpus holds (one submission each)."""
    return sum(1 for r in records if r.topic.endswith("applications.submitted")) or len(records)


@dataclass
class CpuTimer:
    seconds: float = 0.0


@contextmanager
def cpu_timer() -> Iterator[CpuTimer]:
    """CPU seconds of this process spent inside the block."""
    timer = CpuTimer()
    start = time.process_time()
    try:
        yield timer
    finally:
        timer.seconds = time.process_time() - start


@contextmanager
def measured(name: str, profile: bool = False) -> Iterator[CpuTimer]:
    """CPU seconds of the block; with `profile`, also a pyinstrument report of it, printed and
    written to bench/results/profiles/cpu_<name>.txt."""
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="enabled")
        profiler.start()
    try:
        with cpu_timer() as timer:
            yield timer
    finally:
        if profiler is not None:
            profiler.stop()
            text = profiler.output_text(unicode=True, color=False, show_all=False)
            out = RESULTS / "profiles" / f"cpu_{name}.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
            print(text[:12000])


def best_of(runs: list[dict[str, Any]], applications: int) -> dict[str, Any]:
    """The run with the least CPU (`cpu_s`), with every run's figure per 1,000 applications."""
    best = min(runs, key=lambda r: r["cpu_s"])
    return {**{k: v for k, v in best.items() if k != "cpu_s"},
            "cpu_s_per_1000": round(best["cpu_s"] * 1000 / applications, 3),
            "all_runs_cpu_s_per_1000": [round(r["cpu_s"] * 1000 / applications, 3) for r in runs]}


def report(name: str, figures: dict[str, object]) -> None:
    """Print the figures and write them to bench/results/cpu_<name>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"cpu_{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


def without_warmup(lines: list[bytes]) -> tuple[list[bytes], int]:
    """The corpus lines without the records of capture.py's warm-up applications (external
    reference `...-WARM-...`, followed by correlation id through every topic), and how many
    warm-up applications were dropped. The replays check for exactly the benchmark mix of
    1,000 applications (300 denied, 700 without a licence)."""
    warm: set[str] = set()
    for line in lines:
        r = orjson.loads(line)
        if r["topic"].endswith("applications.submitted"):
            env = orjson.loads(r["value"])
            if "-WARM-" in str(env.get("payload", {}).get("external_reference", "")):
                warm.add(env["correlation_id"])
    if not warm:
        return lines, 0
    kept = [line for line in lines if orjson.loads(orjson.loads(line)["value"]).get("correlation_id") not in warm]
    return kept, len(warm)
