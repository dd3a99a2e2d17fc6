"""Graceful shutdown and consumer-group rebalances, on a private real Kafka broker.

- SIGTERM stops a service even while it is still starting (Kafka unreachable, retrying).
- SIGTERM in the middle of a stream: the service finishes the batch in flight, publishes its
  outputs and commits their offsets before it leaves, so a restarted instance reprocesses
  nothing; every input ends with exactly one output.
- Instances joining and leaving mid-stream (a second screening instance joins, then the first
  is stopped with SIGTERM): every application is screened, each with one deterministic result
  id; any re-screening caused by a rebalance repeats the same id and is counted.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from lanthanide.kafka import ensure_topics
from lanthanide.settings import KafkaSettings
from lanthanide.testing.factories import civilian_application, submitted_record
from lanthanide.testing.kafka import load_runner
from lanthanide.testing.processes import ServiceProcess, free_port
from lanthanide.topics import Topics

PARTITIONS = 4
BATCH = 100  # LANTHANIDE_KAFKA_MAX_BATCH_RECORDS for the services under test


def test_sigterm_during_startup_stops_the_service_cleanly(tmp_path: Path) -> None:
    unreachable = f"127.0.0.1:{free_port()}"  # nothing listens: start-up keeps retrying
    proc = ServiceProcess(
        "audit",
        env={"LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": unreachable, "LANTHANIDE_DATA_DIR": str(tmp_path)},
        log_dir=tmp_path,
    ).start()
    deadline = time.monotonic() + 60
    while "startup_retry" not in proc.log_text() and time.monotonic() < deadline:
        assert proc.alive(), proc.log_text()[-2000:]
        time.sleep(0.2)
    assert "startup_retry" in proc.log_text()
    started = time.monotonic()
    assert proc.stop(timeout=20) == 0, proc.log_text()[-2000:]
    assert time.monotonic() - started < 20
    assert '"during": "startup"' in proc.log_text()


@pytest.mark.parametrize("service", ["screening", "review"])
def test_sigterm_while_importing_and_loading_exits_cleanly(service: str, tmp_path: Path) -> None:
    """Before run_service takes over (imports; screening loading its lists) SIGTERM exits 0."""
    unreachable = f"127.0.0.1:{free_port()}"
    proc = ServiceProcess(
        service,
        env={"LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": unreachable, "LANTHANIDE_DATA_DIR": str(tmp_path)},
        log_dir=tmp_path,
    ).start()
    time.sleep(0.8)  # inside the imports: nothing is logged before configure_logging
    assert proc.alive() and "service_started" not in proc.log_text()
    assert proc.stop(timeout=20) == 0, proc.log_text()[-2000:]
    assert '"during": "startup"' in proc.log_text()


@pytest.fixture
def private_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker of each test's own: they commit offsets for the services' real group ids and
    count every record on the topics."""
    runner = load_runner()
    cluster = runner.KafkaCluster(nodes=1, num_partitions=PARTITIONS,
                                  data_dir=tmp_path_factory.mktemp("kafka-shutdown"))
    cluster.start()
    try:
        yield cluster.bootstrap_servers
    finally:
        cluster.stop()


def _env(bootstrap: str, data_dir: Path) -> dict[str, str]:
    return {
        "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LANTHANIDE_KAFKA_PARTITIONS": str(PARTITIONS),
        "LANTHANIDE_KAFKA_MAX_BATCH_RECORDS": str(BATCH),
        "LANTHANIDE_DATA_DIR": str(data_dir),
        "LANTHANIDE_LOG_LEVEL": "INFO",
    }


def _submissions(tag: str, n: int) -> list[tuple[bytes, bytes]]:
    """`n` valid application.submitted records (key = case id), pre-encoded."""
    return [submitted_record(civilian_application(f"{tag}-{i:05d}")) for i in range(n)]


async def _submit(bootstrap: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(Topics.APPLICATIONS_SUBMITTED, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class Outputs:
    """Every record of some topics (no group), read in the background: event id -> times seen."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.bootstrap, self.topics = bootstrap, topics
        self.seen: Counter[str] = Counter()
        self.cases: dict[str, set[str]] = {}
        self.by_instance: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Outputs:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                          enable_auto_commit=False, isolation_level="read_committed")
        await self._consumer.start()
        parts = [TopicPartition(t, p) for t in self.topics for p in range(PARTITIONS)]
        self._consumer.assign(parts)
        await self._consumer.seek_to_beginning(*parts)
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    async def _run(self) -> None:
        while True:
            for records in (await self._consumer.getmany(timeout_ms=200, max_records=5000)).values():
                for r in records:
                    data = orjson.loads(r.value)
                    self.seen[data["event_id"]] += 1
                    self.cases.setdefault(data["case_id"], set()).add(data["event_id"])
                    self.by_instance[str(data["producer"].get("instance"))] += 1

    @property
    def records(self) -> int:
        return sum(self.seen.values())

    async def wait(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what} ({self.records} records)")
            await asyncio.sleep(0.2)


async def _committed(bootstrap: str, group: str, topic: str) -> int:
    """Sum of the group's committed offsets over the topic's partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0)


@pytest.mark.kafka
@pytest.mark.slow
async def test_sigterm_mid_stream_drains_commits_and_reprocesses_nothing(private_kafka: str, tmp_path: Path) -> None:
    await ensure_topics(KafkaSettings(bootstrap_servers=private_kafka, partitions=PARTITIONS))
    n = 2500
    records = _submissions(f"SIGTERM-{uuid4().hex[:6]}", n)
    env = _env(private_kafka, tmp_path / "data")
    async with Outputs(private_kafka, [Topics.APPLICATIONS_ACCEPTED, Topics.APPLICATIONS_REJECTED]) as out:
        intake = ServiceProcess("intake", env=env, log_dir=tmp_path).start()
        await _submit(private_kafka, records)
        await out.wait(lambda: out.records >= 300, 120, "the first outputs")
        assert out.records < n, "the stream finished before SIGTERM: the test proves nothing"
        code = await asyncio.to_thread(intake.stop, 30)
        assert code == 0, intake.log_text()[-3000:]
        assert '"service_stopped"' in intake.log_text()
        await asyncio.sleep(2)  # anything still in flight would land now
        before_restart = out.records
        committed = await _committed(private_kafka, "lanthanide-intake", Topics.APPLICATIONS_SUBMITTED)
        # Drained: every input whose output was published is committed, and nothing committed
        # lacks its output (one output per input).
        assert committed == before_restart, (committed, before_restart)
        assert before_restart < n

        restarted = ServiceProcess("intake", env=env, log_dir=tmp_path, instance=1).start()
        try:
            await out.wait(lambda: len(out.seen) >= n, 180, "every application")
            await asyncio.sleep(2)
        finally:
            assert await asyncio.to_thread(restarted.stop, 30) == 0
    duplicates = out.records - len(out.seen)
    print(f"\nSIGTERM drain: {n} inputs, {before_restart} outputs before SIGTERM, "
          f"{committed} committed, {duplicates} reprocessed after restart")
    assert len(out.seen) == n
    assert duplicates == 0
    assert len(out.cases) == n and all(len(ids) == 1 for ids in out.cases.values())


async def _trickle(bootstrap: str, tag: str, rate: float, stop: asyncio.Event) -> set[str]:
    """Submit applications at `rate` per second until `stop` is set; returns their case ids."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    sent: set[str] = set()
    try:
        i = 0
        while not stop.is_set():
            chunk = _submissions(f"{tag}-{i:04d}", max(1, int(rate / 5)))
            await asyncio.gather(*[await producer.send(Topics.APPLICATIONS_SUBMITTED, v, key=k) for k, v in chunk])
            sent.update(k.decode() for k, _ in chunk)
            i += 1
            await asyncio.sleep(0.2)
    finally:
        await producer.stop()
    return sent


@pytest.mark.kafka
@pytest.mark.slow
async def test_screening_instances_joining_and_leaving_mid_stream_screen_everything_once(
    private_kafka: str, tmp_path: Path
) -> None:
    await ensure_topics(KafkaSettings(bootstrap_servers=private_kafka, partitions=PARTITIONS))
    env = _env(private_kafka, tmp_path / "data")
    # Each screening instance has its own store here (as `make bench` scales it); a shared
    # PostgreSQL store is what the chaos test runs.
    intake = ServiceProcess("intake", env=env, log_dir=tmp_path)
    first = ServiceProcess("screening", env={**env, "LANTHANIDE_DATA_DIR": str(tmp_path / "s0")}, log_dir=tmp_path)
    second = ServiceProcess("screening", env={**env, "LANTHANIDE_DATA_DIR": str(tmp_path / "s1")},
                            log_dir=tmp_path, instance=1)
    procs = [intake.start(), first.start()]
    stop = asyncio.Event()
    try:
        async with Outputs(private_kafka, [Topics.SCREENING_COMPLETED]) as out:
            # A steady stream (below what one instance handles) runs through both rebalances.
            feeder = asyncio.create_task(_trickle(private_kafka, f"REBAL-{uuid4().hex[:6]}", 10, stop))
            await out.wait(lambda: len(out.seen) >= 50, 240, "the first screening results")
            procs.append(second.start())
            await out.wait(lambda: out.by_instance["1"] > 0, 240, "the second instance's first result")
            joined_at = len(out.seen)
            await out.wait(lambda: len(out.seen) >= joined_at + 50, 240, "progress after the join")
            left_at = len(out.seen)
            assert await asyncio.to_thread(first.stop, 60) == 0, first.log_text()[-3000:]
            await out.wait(lambda: out.by_instance["1"] >= left_at - joined_at + 50, 240, "progress after the leave")
            stop.set()
            sent = await feeder
            await out.wait(lambda: sent <= out.cases.keys(), 240, "every application screened")
            await asyncio.sleep(2)
        repeats = out.records - len(out.seen)
        print(f"\nrebalance: {len(sent)} applications, second instance joined at {joined_at} results, "
              f"first left at {left_at}; {len(out.seen)} results, {repeats} repeated deliveries of the same "
              f"result id; by instance {dict(out.by_instance)}")
        assert out.cases.keys() == sent
        assert all(len(ids) == 1 for ids in out.cases.values())  # one result id per case
        # A graceful leave commits before it goes; a join can at most repeat one batch per partition.
        assert repeats <= PARTITIONS * BATCH
        assert out.by_instance["0"] > 0 and out.by_instance["1"] > 0, out.by_instance
    finally:
        stop.set()
        for p in procs:
            if p.alive():
                p.stop(30)


@pytest.mark.kafka
@pytest.mark.slow
def test_sigterm_while_the_broker_is_down_still_stops_the_service(tmp_path: Path) -> None:
    """Stopping must not wait for a broker that is gone: the drain has a deadline, and whatever
    was not committed is redelivered (and deduplicated) when the service comes back."""
    runner = load_runner()
    cluster = runner.KafkaCluster(nodes=1, num_partitions=PARTITIONS, data_dir=tmp_path / "kafka")
    cluster.start()
    procs = []
    try:
        env = {**_env(cluster.bootstrap_servers, tmp_path / "data"), "LANTHANIDE_KAFKA_DRAIN_TIMEOUT_SECONDS": "5"}
        procs = [ServiceProcess(s, env=env, log_dir=tmp_path, http_port=free_port()).start()
                 for s in ("review", "screening")]
        deadline = time.monotonic() + 180
        while not all('"service_started"' in p.log_text() for p in procs):
            assert time.monotonic() < deadline, [p.log_text()[-1500:] for p in procs]
            assert all(p.alive() for p in procs), [p.log_text()[-1500:] for p in procs]
            time.sleep(0.3)
        cluster.stop()
        time.sleep(3)
        for p in procs:
            started = time.monotonic()
            assert p.stop(timeout=40) == 0, p.log_text()[-3000:]
            took = time.monotonic() - started
            print(f"\n{p.service} stopped {took:.1f} s after SIGTERM with the broker down")
            assert took < 40
            assert '"service_stopped"' in p.log_text(), p.log_text()[-3000:]
    finally:
        for p in procs:
            if p.alive():
                p.kill()
        cluster.stop()
