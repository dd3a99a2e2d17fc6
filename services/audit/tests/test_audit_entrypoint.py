"""`python -m lanthanide_audit` (lanthanide.early.main with audit's preflight) refuses to start
without its ledger keys: exit status 1, the missing settings named, no traceback, before it
reaches for Kafka or the database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_the_service_refuses_to_start_without_its_keys(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANTHANIDE_AUDIT_")}
    env.update(
        LANTHANIDE_DATA_DIR=str(tmp_path),
        LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",  # never reached
        LANTHANIDE_SECRETS_DIR=str(tmp_path),  # no secret files either
    )
    ran = subprocess.run([sys.executable, "-m", "lanthanide_audit"], env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert ran.returncode == 1, (ran.returncode, ran.stderr[-2000:])
    assert "LANTHANIDE_AUDIT_LEDGER_KEY" in ran.stderr and "refusing to start" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert not list(tmp_path.glob("*.db")), "it opened its store before refusing"
