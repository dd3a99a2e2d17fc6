"""Load generation, decision collection and resource sampling for the pipeline benchmark.

The mix is auto-decided only (no reviewer in the loop): 70% uncontrolled light rare earths
(no-licence-required), 30% controlled items for a military end use (denied,
SCR-ENDUSE-MILITARY). Submissions are pre-encoded before the clock starts, so the load
generator spends its time sending, not building JSON; each is keyed by its case id (computed
client-side exactly as intake does), which is also the key of its decision.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from lanthanide.kafka import make_consumer
from lanthanide.settings import KafkaSettings
from lanthanide.testing.factories import civilian_application, submitted_record

UNCONTROLLED = [
    ("Ce", "oxide", "2846101000", "Cerium oxide polishing powder"),
    ("La", "compound", "2846902000", "Lanthanum carbonate"),
    ("Nd", "magnet", "8505111000", "NdFeB magnets without heavy rare earths"),
]
CONTROLLED = [
    ("Dy", "magnet", "8505111000", "Sintered NdFeB magnets with dysprosium"),
    ("Gd", "oxide", "2846901930", "Gadolinium oxide 99.99%"),
]
COUNTRIES = ["DE", "FR", "JP", "KR", "BR", "IN", "IT", "PL"]


@dataclass(frozen=True, slots=True)
class Submission:
    """One pre-encoded application.submitted record."""

    key: bytes
    value: bytes
    expect: str


def build_submissions(tag: str, n: int) -> list[Submission]:
    """`n` auto-decided applications with external references `<tag>-<i>`."""
    out: list[Submission] = []
    for i in range(n):
        deny = i % 10 < 3
        element, form, hs, desc = (CONTROLLED if deny else UNCONTROLLED)[i % 2 if deny else i % 3]
        country = COUNTRIES[i % len(COUNTRIES)]
        end_user = f"Bench Devices {i % 97} Ltd"
        app = civilian_application(f"{tag}-{i:06d}")
        app["items"] = [{
            "description": desc, "form": form, "hs_code": hs,
            "elements": [{"element": element, "percent": "30"}],
            "quantity": str(1 + i % 400), "unit": "kg", "value": str(1000 + i), "currency": "USD",
        }]
        app["parties"] = [
            {"role": "importer", "name": end_user, "country": country},
            {"role": "end_user", "name": end_user, "country": country},
        ]
        app["end_use"] = (
            {"category": "military", "description": "Magnets for actuators"} if deny
            else {"category": "industrial", "description": "Servo motors for packaging machines"}
        )
        app["route"] = {"port_of_loading": "Shanghai", "final_destination_country": country}
        for doc in app["documents"]:
            if doc["kind"] == "end_user_certificate":
                doc["states_end_user"] = end_user
        key, value = submitted_record(app, producer="client:bench")
        out.append(Submission(key, value, "denied" if deny else "no_licence_required"))
    return out


@dataclass
class DecisionCollector:
    """Reads the decision topic without a group; remembers the first decision per key."""

    bootstrap: str
    topic: str
    first: dict[bytes, tuple[float, float]] = field(default_factory=dict)  # key -> (broker ts, recv)
    _task: asyncio.Task[None] | None = None
    _consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._consumer = make_consumer(
            KafkaSettings(bootstrap_servers=self.bootstrap), self.topic, client_id="bench-loadgen",
            group_id=None, auto_offset_reset="earliest",
            enable_auto_commit=False, isolation_level="read_committed", metadata_max_age_ms=1000,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.time()
            for records in batch.values():
                for r in records:
                    if r.key is not None and r.key not in self.first:
                        self.first[r.key] = (r.timestamp / 1000, now)

    async def wait_all(self, keys: set[bytes], stall_s: float = 30.0, cap_s: float = 300.0) -> bool:
        """Wait until every key has a decision; False on a stall (no progress for stall_s) or cap."""
        start = last_progress = time.monotonic()
        done = len(keys & self.first.keys())
        while done < len(keys):
            await asyncio.sleep(0.1)
            now_done = len(keys & self.first.keys())
            if now_done > done:
                done, last_progress = now_done, time.monotonic()
            if time.monotonic() - last_progress > stall_s or time.monotonic() - start > cap_s:
                return False
        return True


async def offer(producer: AIOKafkaProducer, topic: str, subs: list[Submission],
                rate: float | None) -> dict[bytes, float]:
    """Send `subs` at `rate` per second (None: flat out); returns each key's submit time."""
    submitted: dict[bytes, float] = {}
    futures = []
    start = time.perf_counter()
    for i, s in enumerate(subs):
        if rate is not None:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        submitted[s.key] = time.time()
        futures.append(await producer.send(topic, s.value, key=s.key))
    await asyncio.gather(*futures)
    return submitted


def summarise(submitted: dict[bytes, float], decided: dict[bytes, tuple[float, float]],
              offered_rate: float | None) -> dict[str, Any]:
    """Throughput (decisions/s from the first submit to the last decision) and latency."""
    keys = [k for k in submitted if k in decided]
    if not keys:
        return {"offered_rate": offered_rate, "submitted": len(submitted), "decided": 0}
    by_broker = sorted(max(0.0, decided[k][0] - submitted[k]) * 1000 for k in keys)
    by_recv = sorted((decided[k][1] - submitted[k]) * 1000 for k in keys)
    t0 = min(submitted.values())
    t1 = max(decided[k][0] for k in keys)
    send_span = max(submitted.values()) - t0
    return {
        "offered_rate": offered_rate,
        "submitted": len(submitted),
        "decided": len(keys),
        "achieved_submit_rate": round(len(submitted) / send_span, 1) if send_span > 0 else None,
        "throughput_per_s": round(len(keys) / max(t1 - t0, 1e-3), 1),
        "latency_ms": _pcts(by_broker),
        "latency_recv_ms": _pcts(by_recv),
    }


def _pcts(values: list[float]) -> dict[str, float]:
    def pct(p: float) -> float:
        return round(values[min(len(values) - 1, int(p * len(values)))], 1)

    return {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "max": round(values[-1], 1),
            "mean": round(statistics.fmean(values), 1)}


class ResourceSampler:
    """CPU seconds (at checkpoints) and peak RSS (sampled every 0.25 s) of named processes."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak_rss: dict[str, int] = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def cpu(self) -> dict[str, float]:
        """User+system CPU seconds of each process so far."""
        out = {}
        for name, p in self.procs.items():
            try:
                t = p.cpu_times()
                out[name] = t.user + t.system
            except psutil.Error:
                out[name] = 0.0
        return out

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            for name, p in self.procs.items():
                try:
                    self.peak_rss[name] = max(self.peak_rss[name], p.memory_info().rss)
                except psutil.Error:
                    pass
