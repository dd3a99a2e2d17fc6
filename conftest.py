"""Fixtures shared by every test folder: a real Kafka broker and a real PostgreSQL server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from lanthanide.testing.kafka import real_kafka, secured_kafka
from lanthanide.testing.postgres import create_database, find_pg_bin, real_postgres

REPO_ROOT = Path(__file__).resolve().parent
# The raw public list files some screening tests read (their conftest): inside the checkout unless
# the environment names another folder; nothing beside the clone is looked at.
os.environ.setdefault("LANTHANIDE_SHARED_DATA", str(REPO_ROOT / ".cache" / "public-sources"))


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a real Kafka broker (started once per test session if not given)."""
    with real_kafka() as servers:
        os.environ.setdefault("LANTHANIDE_TEST_KAFKA", servers)
        yield servers


@pytest.fixture(scope="session")
def secure_kafka() -> Iterator[Any]:
    """A secured broker of this session: SASL_SSL with SCRAM-SHA-512 users for every principal
    of deploy/kafka/acls.yaml, the StandardAuthorizer and those ACLs applied. Yields the
    Credentials (`.settings(principal)`, `.env(principal)`; "admin" is the super user)."""
    with secured_kafka(nodes=1, num_partitions=3) as (_cluster, creds):
        yield creds


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """libpq URL of a real PostgreSQL server (skips when PostgreSQL is not installed)."""
    if find_pg_bin() is None and not os.environ.get("LANTHANIDE_TEST_POSTGRES_URL"):
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with real_postgres() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """SQLAlchemy asyncpg URL of a fresh, empty database for one test."""
    return create_database(postgres_server, f"t_{uuid4().hex[:12]}")
