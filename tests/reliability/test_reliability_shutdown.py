"""SIGTERM stops a service even while it is still starting (Kafka unreachable, retrying)."""

from __future__ import annotations

import time
from pathlib import Path

from lanthanide.testing.processes import ServiceProcess, free_port


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
