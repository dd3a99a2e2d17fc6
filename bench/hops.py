"""Per-hop latency of a captured run: where the submit-to-decision time goes.

    uv run python bench/capture.py --applications 300 --rate 25 --out bench/results/run.jsonl
    uv run python bench/hops.py bench/results/run.jsonl [--skip 20]

For each case, the broker timestamps (CreateTime, stamped by each producer) of its
submission, acceptance, screening result and decision; prints p50/p95/p99 of each hop.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import orjson

HOPS = ["applications.submitted", "applications.accepted", "screening.completed", "decisions"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--skip", type=int, default=0, help="ignore the first N cases (by submission time)")
    args = parser.parse_args()
    stamps: dict[str, dict[str, int]] = defaultdict(dict)
    with args.corpus.open("rb") as fh:
        for line in fh:
            record = orjson.loads(line)
            hop = record["topic"].split(".", 1)[1]
            if hop in HOPS:
                case_id = orjson.loads(record["value"])["case_id"]
                stamps[case_id].setdefault(hop, record["timestamp"])
    cases = sorted(stamps, key=lambda c: stamps[c].get(HOPS[0], 0))[args.skip:]
    for a, b in pairwise(HOPS):
        v = sorted(stamps[c][b] - stamps[c][a] for c in cases if a in stamps[c] and b in stamps[c])
        if v:
            print(f"{a:>24} -> {b:<20} n={len(v):<5} p50 {v[len(v) // 2]:5d}  p95 {v[int(len(v) * .95)]:5d}  "
                  f"p99 {v[int(len(v) * .99)]:5d} ms")


if __name__ == "__main__":
    main()
