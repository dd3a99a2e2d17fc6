"""A small downstream subscriber: prints decisions, exactly once each, as a read_committed reader.

    uv run python examples/subscriber.py                       # follow decisions from the start
    uv run python examples/subscriber.py --expect refs.txt     # report missing decisions and exit
    uv run python examples/subscriber.py --group my-erp --idle-exit 30

It uses plain aiokafka (any Kafka client in any language would do: the events are JSON, see the
event catalogue), its own consumer group, isolation_level=read_committed, and commits offsets only
after a batch is printed. At-least-once delivery means a decision can arrive twice (a service
crashed after producing and before committing); the subscriber dedupes by decision_id, the id the
review service derives deterministically per case, and counts the duplicates it dropped.

On a secured cluster it reads the usual client settings from the environment
(LANTHANIDE_KAFKA_SECURITY_PROTOCOL, _SASL_MECHANISM, _SASL_USERNAME, _SASL_PASSWORD or
_SASL_PASSWORD_FILE, _SSL_CAFILE; README "Security"), e.g. as the `subscriber` principal, whose
ACLs allow consumer groups starting with "lanthanide-subscriber".

With --expect FILE (one external reference or case id per line) it reports, when the topic has
been idle for --idle-exit seconds, which expected cases got no decision, and exits 1 if any.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

DECISIONS_TOPIC = "lanthanide.decisions"


class DecisionLedger:
    """What the subscriber has seen: one entry per decision_id, plus duplicate counts."""

    def __init__(self) -> None:
        self.by_decision: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self.conflicts: list[str] = []

    def add(self, event: dict[str, Any]) -> bool:
        """Record a decision event; True if it is new (and should be printed)."""
        payload = event.get("payload", {})
        decision_id = payload.get("decision_id")
        if not decision_id:
            return False
        seen = self.by_decision.get(decision_id)
        if seen is not None:
            if seen["payload"] != payload:
                # Same id, different content: a forged or buggy decision, never a duplicate.
                # Report it (and print it) rather than keep whichever came first.
                self.conflicts.append(decision_id)
                return True
            self.duplicates += 1
            return False
        self.by_decision[decision_id] = event
        return True

    def decided(self) -> set[str]:
        """Every case id and external reference that has a decision."""
        keys: set[str] = set()
        for event in self.by_decision.values():
            keys.add(str(event.get("case_id")))
            keys.add(str(event["payload"].get("external_reference")))
        return keys

    def missing(self, expected: list[str]) -> list[str]:
        """Expected cases (case ids or external references) with no decision."""
        decided = self.decided()
        return [e for e in expected if e not in decided]


def security_from_env() -> dict[str, Any]:
    """aiokafka security options from LANTHANIDE_KAFKA_* (PLAINTEXT when unset)."""
    env = os.environ.get
    protocol = env("LANTHANIDE_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context(cafile=env("LANTHANIDE_KAFKA_SSL_CAFILE") or None)
    if protocol.startswith("SASL_"):
        password_file = env("LANTHANIDE_KAFKA_SASL_PASSWORD_FILE")
        options.update(
            sasl_mechanism=env("LANTHANIDE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
            sasl_plain_username=env("LANTHANIDE_KAFKA_SASL_USERNAME"),
            sasl_plain_password=Path(password_file).read_text().strip() if password_file
            else env("LANTHANIDE_KAFKA_SASL_PASSWORD"),
        )
    return options


def describe(event: dict[str, Any]) -> str:
    p = event["payload"]
    licence = p.get("licence") or {}
    reasons = ", ".join(r.get("code", "") for r in p.get("reasons", []))
    extra = f" licence={licence.get('number')}" if licence else (f" reasons={reasons}" if reasons else "")
    return (f"{p.get('decided_at', '')} case={event.get('case_id')} ref={p.get('external_reference')} "
            f"outcome={p.get('outcome')} by={p.get('decided_by')}{extra}")


async def run(args: argparse.Namespace) -> int:
    expected = (
        [line.strip() for line in Path(args.expect).read_text().splitlines() if line.strip()]
        if args.expect else []
    )
    consumer = AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        **security_from_env(),
        group_id=args.group,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    ledger = DecisionLedger()
    await consumer.start()
    idle = 0.0
    try:
        while args.idle_exit is None or idle < args.idle_exit:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            records = [r for rs in batch.values() for r in rs]
            idle = idle + 1.0 if not records else 0.0
            for record in records:
                try:
                    event = json.loads(record.value)
                except (TypeError, ValueError):
                    print(f"skipping an undecodable record at {record.topic}:{record.partition}:{record.offset}",
                          file=sys.stderr)
                    continue
                if event.get("event_type") == "decision.made" and ledger.add(event):
                    print(describe(event), flush=True)
            if records:
                await consumer.commit()
    finally:
        await consumer.stop()
    print(f"{len(ledger.by_decision)} decisions, {ledger.duplicates} duplicates dropped", file=sys.stderr)
    status = 0
    if ledger.conflicts:
        print(f"CONFLICTING decisions under one decision id: {ledger.conflicts}", file=sys.stderr)
        status = 1
    if expected:
        missing = ledger.missing(expected)
        print(f"{len(expected) - len(missing)}/{len(expected)} expected cases decided", file=sys.stderr)
        for m in missing:
            print(f"MISSING {m}", file=sys.stderr)
        status = status or (1 if missing else 0)
    return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--topic", default=DECISIONS_TOPIC)
    parser.add_argument("--group", default="lanthanide-subscriber-example")
    parser.add_argument("--expect", help="file of expected case ids or external references, one a line")
    parser.add_argument("--idle-exit", type=float, default=None,
                        help="stop after this many idle seconds (default: follow forever)")
    args = parser.parse_args()
    if args.expect and args.idle_exit is None:
        args.idle_exit = 10.0
    try:
        sys.exit(asyncio.run(run(args)))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
