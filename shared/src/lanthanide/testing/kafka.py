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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lanthanide.kafka_secure import Credentials

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


def service_env(creds: Credentials, service: str) -> dict[str, str]:
    """The environment of a service process on a secured test cluster: its principal's
    LANTHANIDE_KAFKA_* settings, and for intake every Kafka submitter of the ACL file bound to
    every exporter (LANTHANIDE_INTAKE_KAFKA_SUBMITTERS), so the submitters' own topics are read."""
    import json

    env = creds.env(service)
    if service == "intake":
        env["LANTHANIDE_INTAKE_KAFKA_SUBMITTERS"] = json.dumps({name: ["*"] for name in creds.submitters})
    return env


#: The ACL file every secured test cluster gets: the one the product ships.
ACL_FILE = REPO_ROOT / "deploy" / "kafka" / "acls.yaml"


@contextmanager
def secured_kafka(
    nodes: int = 1,
    *,
    protocol: str = "SASL_SSL",
    num_partitions: int = 3,
    data_dir: Path | None = None,
    acl_file: Path = ACL_FILE,
    **cluster_kwargs: object,
) -> Iterator[tuple[Any, Credentials]]:
    """A runner cluster with a SASL_SSL (or SASL_PLAINTEXT) listener, fresh SCRAM users for every
    principal of `acl_file` (passwords and TLS material made by this run), the StandardAuthorizer,
    and the catalogue's topics and ACLs applied by the admin. Yields (cluster, credentials)."""
    import asyncio

    from lanthanide.kafka_secure import ADMIN, Credentials, load_acls, new_passwords, prepare_cluster

    acls = load_acls(acl_file)
    passwords = new_passwords(list(acls.principals))
    runner = load_runner()
    cluster = runner.KafkaCluster(
        nodes=nodes, num_partitions=num_partitions, data_dir=data_dir,
        security=runner.Security(protocol, passwords), **cluster_kwargs,
    )
    cluster.start()
    try:
        creds = Credentials(cluster.bootstrap_servers, protocol, passwords, cluster.security.ca_file,
                            submitters=acls.submitters)
        replication = min(nodes, 3)
        asyncio.run(prepare_cluster(
            creds.settings(ADMIN, partitions=num_partitions, replication_factor=replication), acls
        ))
        yield cluster, creds
    finally:
        cluster.stop(kill=True)

