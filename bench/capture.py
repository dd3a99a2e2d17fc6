"""Capture a corpus of real pipeline records for in-process CPU benchmarks of one service.

    uv run python bench/capture.py [--applications 1000] [--rate R] [--out bench/results/corpus.jsonl]

Starts one Kafka broker and the five services (as `make bench` does), warms them up with 20
applications, submits the benchmark's auto-decided mix (bench/loadgen.py), flat out or at
`--rate` per second, waits for every decision, then writes every record of every lanthanide
topic as one JSON line: {"topic", "partition", "offset", "timestamp", "key", "value"} (key and
value as UTF-8 text, timestamp in ms). The bench/cpu_<service>.py scripts (`make bench-cpu`)
replay these records through one service's handlers without Kafka, so a change to one service
can be measured in CPU seconds per 1,000 applications on a noisy machine; the timestamps give
the latency of each hop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import TopicPartition
from corpus import without_warmup
from lanthanide.kafka import ensure_topics, make_consumer, make_producer
from lanthanide.settings import KafkaSettings
from lanthanide.testing.kafka import load_runner
from lanthanide.testing.processes import SERVICES, ServiceProcess, free_port
from lanthanide.topics import TOPIC_EVENTS, Topics
from loadgen import DecisionCollector, build_submissions, offer
from run_all import PARTITIONS, log, pipeline_env

HERE = Path(__file__).resolve().parent


async def dump_topics(bootstrap: str, topics: list[str], out: Path) -> int:
    consumer = make_consumer(KafkaSettings(bootstrap_servers=bootstrap), client_id="bench-capture", group_id=None,
                             enable_auto_commit=False, isolation_level="read_committed")
    await consumer.start()
    written = 0
    try:
        parts = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or range(PARTITIONS))]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        with out.open("wb") as fh:
            while any([await consumer.position(tp) < end for tp, end in ends.items()]):
                for tp, records in (await consumer.getmany(timeout_ms=500, max_records=5000)).items():
                    for r in records:
                        fh.write(orjson.dumps({
                            "topic": tp.topic, "partition": tp.partition, "offset": r.offset,
                            "timestamp": r.timestamp, "key": (r.key or b"").decode(),
                            "value": (r.value or b"").decode(),
                        }) + b"\n")
                        written += 1
    finally:
        await consumer.stop()
    return written


async def capture(n: int, out: Path, rate: float | None = None, logs: Path | None = None) -> None:
    runner = load_runner()
    with tempfile.TemporaryDirectory(prefix="lanthanide-capture-") as tmp:
        work = Path(tmp)
        cluster = runner.KafkaCluster(nodes=1, num_partitions=PARTITIONS, data_dir=work / "kafka")
        cluster.start()
        procs: list[ServiceProcess] = []
        try:
            bootstrap = cluster.bootstrap_servers
            await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap, partitions=PARTITIONS))
            env = pipeline_env(bootstrap, work / "data")
            procs = [ServiceProcess(s, env=env, log_dir=work / "logs", http_port=free_port()).start()
                     for s in SERVICES]
            collector = DecisionCollector(bootstrap, Topics.DECISIONS)
            await collector.start()
            producer = make_producer(KafkaSettings(bootstrap_servers=bootstrap), "bench-capture", linger_ms=0)
            await producer.start()
            try:
                tag = f"CAPTURE-{int(time.time())}"
                warm = build_submissions(f"{tag}-WARM", 20)  # services finish starting on these
                await offer(producer, Topics.APPLICATIONS_SUBMITTED, warm, None)
                if not await collector.wait_all({s.key for s in warm}, stall_s=240, cap_s=300):
                    raise RuntimeError("warm-up applications were not decided")
                subs = build_submissions(tag, n)
                sent = await offer(producer, Topics.APPLICATIONS_SUBMITTED, subs, rate)
                if not await collector.wait_all(set(sent), stall_s=120, cap_s=900):
                    raise RuntimeError("not every application was decided")
            finally:
                await producer.stop()
                await collector.stop()
            await asyncio.sleep(5)  # let notification and audit catch up with the last decisions
            written = await dump_topics(bootstrap, sorted(TOPIC_EVENTS), out)
            # The warm-up applications only let the services finish starting: the corpus holds
            # the measured ones alone, so every replay sees exactly the benchmark mix.
            kept, dropped = without_warmup(out.read_bytes().splitlines(keepends=True))
            out.write_bytes(b"".join(kept))
            log(f"wrote {len(kept)} of {written} records to {out} ({dropped} warm-up applications left out)")
            if logs is not None:
                shutil.copytree(work / "logs", logs, dirs_exist_ok=True)
        finally:
            for p in procs:
                p.stop()
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--applications", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "corpus.jsonl")
    parser.add_argument("--rate", type=float, default=None, help="submissions per second (default: flat out)")
    parser.add_argument("--logs", type=Path, default=None, help="copy the services' logs to this folder")
    args = parser.parse_args()
    os.environ.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(capture(args.applications, args.out, args.rate, args.logs))


if __name__ == "__main__":
    main()
