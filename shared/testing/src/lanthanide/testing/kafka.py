"""A real Kafka broker for tests: KAFKA_BOOTSTRAP_SERVERS if set, else testcontainers where a
Docker engine answers, else the project's Maven-jar KRaft runner (the dev workspace member
lanthanide-kafka-runner, packages/kafka-runner).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lanthanide.kafka_secure import Credentials


def checkout_root() -> Path:
    """The checkout this editable workspace install lives in: the first parent holding uv.lock
    (the tests' fixtures read the product's own deploy files from it)."""
    here = Path(__file__).resolve()
    root = next((p for p in here.parents if (p / "uv.lock").is_file()), None)
    if root is None:
        raise RuntimeError(f"{here} is not inside a Lanthanide checkout (no uv.lock above it)")
    return root


def load_runner() -> ModuleType:
    """The Kafka runner module (lanthanide_kafka_runner, a dev dependency of the workspace)."""
    import lanthanide_kafka_runner

    return lanthanide_kafka_runner


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
ACL_FILE = checkout_root() / "deploy" / "kafka" / "acls.yaml"


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

