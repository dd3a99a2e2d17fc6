"""The layering rules, checked on the source (issue 11): each is a grep a reviewer would otherwise run.

- The shared library and the CLI know no service: nothing under shared/ or packages/ imports a
  service package (the CLI finds service commands through the `lanthanide.cli` entry points).
- The contracts (shared/contracts: envelope, events, ids, serde, topics, the client and its
  connection) import only pydantic, pydantic-settings, orjson, pycountry and aiokafka, and no
  module of the other shared members (platform, testing, cli).
- A service's service_layer imports no SQLAlchemy, FastStream or FastAPI: the store, the broker and
  the HTTP app are adapters and entrypoints wired in bootstrap.
- A service's domain imports no I/O library (database, broker, HTTP, mail, metrics) and none of the
  shared modules that do I/O.

Every import counts, at module top or inside a function, so a lazy import does not slip through.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SERVICE_PACKAGES = frozenset(
    {"lanthanide_intake", "lanthanide_screening", "lanthanide_review", "lanthanide_notification", "lanthanide_audit"}
)
FRAMEWORKS = frozenset({"sqlalchemy", "faststream", "fastapi", "starlette"})
IO_LIBRARIES = FRAMEWORKS | frozenset(
    {
        "aiokafka",
        "kafka",
        "alembic",
        "asyncpg",
        "aiosqlite",
        "psycopg",
        "httpx",
        "requests",
        "aiohttp",
        "uvicorn",
        "aiosmtplib",
        "smtplib",
        "socket",
        "prometheus_client",
    }
)
# Shared modules whose job is I/O (broker, database, HTTP, metrics): a domain reaches none of them.
SHARED_IO_MODULES = frozenset(
    {
        "lanthanide.kafka",
        "lanthanide.kafka_secure",
        "lanthanide.db",
        "lanthanide.migrations",
        "lanthanide.health",
        "lanthanide.http_limits",
        "lanthanide.auth",
        "lanthanide.client",
        "lanthanide.connection",
        "lanthanide.metrics",
        "lanthanide.runtime",
    }
)


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted module name) of every absolute import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            # `from lanthanide import kafka` imports the module lanthanide.kafka.
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def within(module: str, roots: frozenset[str]) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def violations(files: list[Path], forbidden: frozenset[str], root: Path = REPO) -> list[str]:
    found = []
    for path in files:
        for line, module in imported_modules(path):
            if within(module, forbidden):
                found.append(f"{path.relative_to(root)}:{line} imports {module}")
    return sorted(set(found))


def python_files(*patterns: str) -> list[Path]:
    files = sorted({p for pattern in patterns for p in REPO.glob(pattern)})
    assert files, f"no files match {patterns}: the layout moved, update this test"
    return files


def test_shared_library_and_cli_import_no_service() -> None:
    files = python_files("shared/*/src/**/*.py", "packages/*/src/**/*.py")
    assert violations(files, SERVICE_PACKAGES) == []


#: Third-party packages the contracts may import (their distribution's whole dependency list).
CONTRACTS_MAY_IMPORT = frozenset({"pydantic", "pydantic_settings", "orjson", "pycountry", "aiokafka"})


def other_members_modules() -> frozenset[str]:
    """`lanthanide.<x>` of every module the platform, testing and cli members add to the namespace."""
    found = set()
    for member in ("platform", "testing", "cli"):
        base = REPO / "shared" / member / "src" / "lanthanide"
        found |= {f"lanthanide.{p.stem}" for p in base.iterdir() if p.suffix == ".py" or p.is_dir()}
    assert "lanthanide.kafka" in found and "lanthanide.testing" in found, "the layout moved, update this test"
    return frozenset(found - {"lanthanide.__pycache__"})


def contracts_violations(files: list[Path], root: Path = REPO) -> list[str]:
    others = other_members_modules()
    found = []
    for path in files:
        for line, module in imported_modules(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or module == "__future__" or module.startswith("__future__."):
                continue
            if top == "lanthanide" and not within(module, others):
                continue
            if top in CONTRACTS_MAY_IMPORT:
                continue
            found.append(f"{path.relative_to(root)}:{line} imports {module}")
    return sorted(set(found))


def test_contracts_import_only_their_dependencies_and_no_other_member() -> None:
    assert contracts_violations(python_files("shared/contracts/src/**/*.py")) == []


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("from lanthanide.kafka import Publisher\n", True),
        ("def f():\n    from lanthanide import runtime\n", True),
        ("import structlog\n", True),
        ("from lanthanide.testing.factories import x\n", True),
        ("from lanthanide.serde import encode\n", False),
        ("from pydantic_settings import BaseSettings\n", False),
        ("import asyncio\n", False),
    ],
)
def test_the_contracts_rule_catches_what_it_names(tmp_path: Path, source: str, caught: bool) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(source, encoding="utf-8")
    assert bool(contracts_violations([probe], root=tmp_path)) is caught


def test_service_layers_import_no_framework() -> None:
    files = python_files("services/*/src/*/service_layer/**/*.py")
    assert violations(files, FRAMEWORKS) == []


def test_domains_import_no_io_library() -> None:
    files = python_files("services/*/src/*/domain/**/*.py")
    assert violations(files, IO_LIBRARIES | SHARED_IO_MODULES) == []


@pytest.mark.parametrize(
    ("source", "forbidden", "caught"),
    [
        ("import sqlalchemy\n", FRAMEWORKS, True),
        ("from sqlalchemy.exc import IntegrityError\n", FRAMEWORKS, True),
        ("def f():\n    from faststream.kafka import KafkaBroker\n", FRAMEWORKS, True),
        ("from lanthanide import kafka\n", SHARED_IO_MODULES, True),
        ("from lanthanide_review.domain import model\n", SERVICE_PACKAGES, True),
        ("import sqlalchemy_utils\n", FRAMEWORKS, False),
        ("from lanthanide.kafka_topics import X\n", SHARED_IO_MODULES, False),
        ("from . import sqlalchemy\n", FRAMEWORKS, False),
    ],
)
def test_the_rule_catches_what_it_names(tmp_path: Path, source: str, forbidden: frozenset[str], caught: bool) -> None:
    # The checker itself: a rule that silently matched nothing would pass for ever.
    probe = tmp_path / "probe.py"
    probe.write_text(source, encoding="utf-8")
    assert bool(violations([probe], forbidden, root=tmp_path)) is caught
