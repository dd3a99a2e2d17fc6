"""The slim client: what an integrator installs (the lanthanide-contracts wheel) brings
only the Kafka client, pydantic (and pydantic-settings), orjson and pycountry, and that is enough
to validate an application, build a producer and encode an event. Built and installed for real
into a fresh virtual environment."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

#: The whole dependency closure of the client (names as pip reports them, normalised).
EXPECTED = {
    "lanthanide-contracts",
    "aiokafka", "async-timeout", "packaging", "typing-extensions",  # the Kafka client
    "pydantic", "pydantic-core", "annotated-types", "typing-inspection",  # pydantic
    "pydantic-settings", "python-dotenv",  # KafkaSettings from LANTHANIDE_KAFKA_* variables
    "orjson", "pycountry",
}
SERVICE_ONLY = {"fastapi", "sqlalchemy", "faststream", "typer", "click", "rich", "structlog", "uvicorn",
                "starlette", "alembic", "httpx", "prometheus-client", "aiosqlite"}


def _uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    probe = subprocess.run(["python3", "-m", "uv", "--version"], capture_output=True)
    if probe.returncode == 0:
        return ["python3", "-m", "uv"]
    pytest.skip("uv is not installed")


def _run(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300, check=False, **kw)  # type: ignore[call-overload]


@pytest.mark.slow
def test_the_client_wheel_installs_alone_with_a_small_closure(tmp_path: Path) -> None:
    uv = _uv()
    built = _run(*uv, "build", "--wheel", "--package", "lanthanide-contracts", "--out-dir", str(tmp_path / "dist"),
                 cwd=REPO)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("lanthanide_contracts-*.whl")
    venv = tmp_path / "venv"
    assert _run(*uv, "venv", "--python", sys.executable, str(venv)).returncode == 0
    python = str(venv / "bin" / "python")
    # From the local cache when it has everything (offline), else from the index.
    installed = _run(*uv, "pip", "install", "--offline", "--python", python, str(wheel))
    if installed.returncode != 0:
        installed = _run(*uv, "pip", "install", "--python", python, str(wheel))
    assert installed.returncode == 0, installed.stderr
    frozen = _run(*uv, "pip", "freeze", "--python", python)
    names = {line.split("==")[0].split(" @ ")[0].strip().lower().replace("_", "-")
             for line in frozen.stdout.splitlines() if line.strip()}
    assert not names & SERVICE_ONLY, names & SERVICE_ONLY
    assert names == EXPECTED, names ^ EXPECTED
    assert len(names) == 13

    # And it works: validate, encode an event, build (not start) a producer, with nothing else.
    script = (
        "from lanthanide.client import LanthanideClient, validate_application\n"
        "from lanthanide.connection import KafkaSettings, make_producer\n"
        "import asyncio, lanthanide.serde, lanthanide.events, sys\n"
        "assert validate_application({'external_reference': 'X'})\n"
        "async def main():\n"
        "    LanthanideClient('127.0.0.1:1')\n"
        "    make_producer(KafkaSettings(bootstrap_servers='127.0.0.1:1'), 'slim')\n"
        "asyncio.run(main())\n"
        "assert 'faststream' not in sys.modules and 'structlog' not in sys.modules\n"
        # the platform is not in the wheel: the contracts know no service runtime
        "import importlib.util\n"
        "assert importlib.util.find_spec('lanthanide.kafka') is None\n"
        "assert importlib.util.find_spec('lanthanide.runtime') is None\n"
        "print('ok')\n"
    )
    ran = _run(python, "-c", script, cwd=tmp_path)
    assert ran.returncode == 0 and ran.stdout.strip() == "ok", ran.stderr
