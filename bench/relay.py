"""The no-op baseline: one hop of a relay chain made of plain aiokafka clients.

    python bench/relay.py --bootstrap HOST:PORT --source T1 [--sink T2 --size N] --group G

Each hop reads a batch from `--source` (max 500 records, 50 ms wait: the services' batch
settings), produces every record's key with a value of exactly `--size` bytes to `--sink`
(acks=all, idempotent, linger 5 ms: the services' producer settings), waits for the broker's
acknowledgements and only then commits: the same commit-after-produce shape as
lanthanide.kafka.register_stage, minus decoding, validation, domain work and databases.
Without `--sink` the hop is a fan-out reader (like notification or audit): read, commit.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from lanthanide.kafka import make_consumer, make_producer
from lanthanide.settings import KafkaSettings


async def relay(bootstrap: str, sources: list[str], sink: str | None, size: int, group: str) -> None:
    """Run the hop until SIGTERM."""
    consumer = make_consumer(
        KafkaSettings(bootstrap_servers=bootstrap), *sources, client_id="bench-relay", group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest", max_poll_records=500,
    )
    producer = make_producer(KafkaSettings(bootstrap_servers=bootstrap), "bench-relay")
    await consumer.start()
    await producer.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=50, max_records=500)
            if not batch:
                continue
            if sink is not None:
                futures = [
                    await producer.send(sink, record.value[:size].ljust(size, b" "), key=record.key)
                    for records in batch.values() for record in records
                ]
                await asyncio.gather(*futures)
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> None:
    """Parse the hop's arguments and run it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--source", required=True, action="append")
    parser.add_argument("--sink")
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--group", required=True)
    args = parser.parse_args()
    asyncio.run(relay(args.bootstrap, args.source, args.sink, args.size, args.group))


if __name__ == "__main__":
    main()
