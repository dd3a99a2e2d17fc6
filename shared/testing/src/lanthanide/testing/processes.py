"""Services as real OS processes for end-to-end and reliability tests."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SERVICES = ("intake", "screening", "review", "notification", "audit")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"port {port} did not open within {timeout}s")


#: Audit refuses to start without its ledger MAC key and checkpoint signing key: a test that
#: sets none gets these, one pair per test run (shared by every audit instance it starts).
RUN_AUDIT_KEYS: dict[str, str] = {
    "LANTHANIDE_AUDIT_LEDGER_KEY": secrets.token_hex(32),
    "LANTHANIDE_AUDIT_CHECKPOINT_SIGNING_KEY": secrets.token_hex(32),
}


@dataclass
class ServiceProcess:
    """One service instance: `python -m lanthanide_<service>` with its own env and log file."""

    service: str
    env: Mapping[str, str]
    log_dir: Path
    instance: int = 0
    http_port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.service}-{self.instance}.log"

    def start(self) -> ServiceProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "LANTHANIDE_INSTANCE": str(self.instance)}
        if self.service == "audit":
            for name, value in RUN_AUDIT_KEYS.items():
                if not env.get(name) and not env.get(f"{name}_FILE"):
                    env[name] = value
        if self.http_port is not None:
            env[f"LANTHANIDE_{self.service.upper()}_HTTP_PORT"] = str(self.http_port)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"lanthanide_{self.service}"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        self.starts += 1
        return self

    def wait_http(self, timeout: float = 60.0) -> None:
        if self.http_port is not None:
            wait_for_port(self.http_port, timeout, self.proc)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9: no chance to commit or flush."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait (graceful drain); SIGKILL if it does not stop in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
