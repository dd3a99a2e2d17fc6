"""A real Kafka broker for tests: KAFKA_BOOTSTRAP_SERVERS if set, else testcontainers where a
Docker engine answers, else the project's Maven-jar KRaft runner (deploy/kafka/kafka_runner.py).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[4]


def load_runner() -> ModuleType:
    """Import deploy/kafka/kafka_runner.py (stdlib only, kept beside its pom)."""
    path = REPO_ROOT / "deploy" / "kafka" / "kafka_runner.py"
    spec = importlib.util.spec_from_file_location("lanthanide_kafka_runner", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the Kafka runner from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@contextmanager
def real_kafka() -> Iterator[str]:
    """Yield bootstrap servers of a real broker for the duration of the block."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get(
        "LANTHANIDE_KAFKA_BOOTSTRAP_SERVERS"
    )
    if given:
        yield given
        return
    if os.environ.get("LANTHANIDE_TEST_DOCKER", "auto") != "never" and _docker_answers():
        from testcontainers.kafka import KafkaContainer  # type: ignore[import-untyped]

        with KafkaContainer("confluentinc/cp-kafka:7.9.0").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    runner = load_runner()
    cluster = runner.KafkaCluster(nodes=1, num_partitions=3)
    cluster.start()
    try:
        yield cluster.bootstrap_servers
    finally:
        cluster.stop()
