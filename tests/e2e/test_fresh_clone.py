"""A fresh clone runs: the repository cloned into an empty folder (nothing beside it), every
service started from the clone's sources, and an application decided on the lists the clone
ships. This is what a new user gets; nothing outside the repository is read."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest
from lanthanide.client import LanthanideClient
from lanthanide.testing.factories import civilian_application
from lanthanide.testing.processes import SERVICES, ServiceProcess, free_port

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]


def _clone(into: Path) -> Path:
    """`git clone` of the checked-out branch's HEAD into an empty folder."""
    into.mkdir()
    target = into / "lanthanide"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(target)], check=True, timeout=120)
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "--quiet", head.stdout.strip()], check=True, timeout=60)
    return target


def _clone_env(clone: Path, kafka: str, data_dir: Path) -> dict[str, str]:
    # The clone's sources come first on the path, so every service runs the clone's code and
    # package data (the shared environment only provides the third-party libraries).
    sources = [*sorted((clone / "shared").glob("*/src")), *(clone / "services" / s / "src" for s in SERVICES)]
    return {
        "PYTHONPATH": os.pathsep.join(str(p) for p in sources),
        "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS": kafka,
        "LANTHANIDE_DATA_DIR": str(data_dir),
        "LANTHANIDE_LOG_LEVEL": "INFO",
        "LANTHANIDE_INTAKE_API_KEYS": '{"' + uuid4().hex + '": "clone-test"}',
        "LANTHANIDE_REVIEW_TOKENS": '{"' + uuid4().hex + '": {"user": "alice", "roles": ["reviewer"]}}',
        "LANTHANIDE_NOTIFICATION_WEBHOOK_SECRET": uuid4().hex,
        # The audit ledger's MAC key and checkpoint signing key (Ed25519 seed, hex): per run.
        "LANTHANIDE_AUDIT_LEDGER_KEY": uuid4().hex + uuid4().hex,
        "LANTHANIDE_AUDIT_CHECKPOINT_SIGNING_KEY": uuid4().hex + uuid4().hex,
    }


async def test_a_fresh_clone_with_nothing_beside_it_decides_an_application(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone = _clone(tmp_path / "empty")
    assert sorted(p.name for p in clone.parent.iterdir()) == ["lanthanide"]  # no shared/ beside it
    for var in ("LANTHANIDE_SHARED_DATA", "LANTHANIDE_SCREENING_LISTS", "LANTHANIDE_SCREENING_MEASURES_PATH"):
        monkeypatch.delenv(var, raising=False)
    env = _clone_env(clone, kafka_bootstrap, tmp_path / "data")
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            # one module of each workspace member the services run on (lanthanide is a namespace)
            "import lanthanide_screening, lanthanide.connection, lanthanide.runtime; "
            "print(lanthanide_screening.__file__, lanthanide.connection.__file__, lanthanide.runtime.__file__)",
        ],
        env={**os.environ, **env},
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(clone) for p in where), where

    monkeypatch.chdir(clone)  # services resolve relative paths from the clone, as `make run` does
    procs = [
        ServiceProcess(s, env=env, log_dir=tmp_path / "logs", http_port=free_port(), instance=90) for s in SERVICES
    ]
    ref = f"CLONE-{uuid4().hex[:8].upper()}"
    app = civilian_application(ref)
    app["parties"][1]["name"] = "Intelligent Epitaxy Technology"  # MOFCOM 2025 No. 1, in force
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.wait_http(90)
        async with LanthanideClient(kafka_bootstrap, client_id="clone-test") as client:
            [receipt] = await client.submit_many([app])
            assert receipt.valid, receipt.errors

            async def decision() -> object:
                async for env_ in client.decisions(follow=True, timeout=80):
                    if env_.case_id == receipt.case_id:
                        return env_.payload
                raise AssertionError("no decision")

            made = await asyncio.wait_for(decision(), 85)
    finally:
        codes = {p.service: p.stop() for p in procs}
    screening_log = next(p for p in procs if p.service == "screening").log_text()
    assert made.outcome.value == "denied", made  # type: ignore[attr-defined]
    assert "SCR-PARTY-CONTROL-LIST" in made.rule_ids  # type: ignore[attr-defined]
    assert "cn-export-control-list" in screening_log and "cn-watch-list" in screening_log
    assert str(REPO) not in screening_log and "shared/data" not in screening_log
    assert all(code == 0 for code in codes.values()), codes
