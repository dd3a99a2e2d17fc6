"""Nothing lost and nothing decided twice while service instances are kill -9'd and a broker dies.

Two instances of every service (same group ids, one shared PostgreSQL database per service) on
a 3-node cluster (RF 3, min ISR 2, acks=all). The full run (5,000 applications) is marked
`chaos` and runs with `make test-chaos`; the small guard (300 applications, 4 kills) runs in
`make test`. Counts are printed (run pytest with -s to see them) and written to report.txt.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lanthanide.kafka_secure import Credentials
from lanthanide.testing.kafka import secured_kafka

sys.path.insert(0, str(Path(__file__).parent))
from chaos_harness import ChaosPlan, ChaosReport, run_chaos

pytestmark = [pytest.mark.kafka, pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[Any, Credentials]]:
    """A secured 3-node KRaft cluster owned by this test (SASL_SSL, SCRAM users per principal,
    StandardAuthorizer and deploy/kafka/acls.yaml): its topics see nobody else's traffic."""
    with secured_kafka(nodes=3, num_partitions=6, data_dir=tmp_path / "kafka") as (cluster, creds):
        yield cluster, creds


def _assert_clean(report: ChaosReport) -> None:
    print(f"\nCHAOS {report.line()}")
    for problem in report.problems:
        print(f"  problem: {problem}")
    assert report.kills > 0 and report.broker_kills == 1, report.line()
    assert (report.lost, report.duplicated, report.conflicting) == (0, 0, 0), (report.line(), report.problems)
    assert not report.problems, report.problems


@pytest.mark.timeout(900)
async def test_small_chaos_run_loses_nothing_and_decides_once(
    secured: tuple[Any, Credentials], postgres_server: str, tmp_path: Path
) -> None:
    """CI guard: 300 applications, 4 service kills, one broker kill."""
    plan = ChaosPlan(applications=300, service_kill_every_s=6, max_service_kills=4,
                     broker_kill_at_fraction=0.5, submit_chunk=30, submit_pause_s=1.0, settle_timeout_s=240)
    _assert_clean(await run_chaos(plan, secured[0], postgres_server, tmp_path, secured[1]))


@pytest.mark.chaos
@pytest.mark.timeout(3600)
async def test_five_thousand_applications_under_chaos(
    secured: tuple[Any, Credentials], postgres_server: str, tmp_path: Path
) -> None:
    """5,000 applications; a random instance kill -9'd every few seconds; one broker killed once."""
    plan = ChaosPlan(
        applications=int(os.environ.get("LANTHANIDE_CHAOS_APPLICATIONS", "5000")),
        service_kill_every_s=float(os.environ.get("LANTHANIDE_CHAOS_KILL_EVERY_S", "5")),
        broker_kill_at_fraction=0.3, submit_chunk=100, submit_pause_s=0.5, settle_timeout_s=1500,
        seed=int(os.environ.get("LANTHANIDE_CHAOS_SEED", "20261129")),
    )
    _assert_clean(await run_chaos(plan, secured[0], postgres_server, tmp_path, secured[1]))
