"""Fixtures of the contract tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def asyncapi() -> dict[str, dict[str, Any]]:
    """The AsyncAPI documents `make docs` would write now (deploy/asyncapi.py), by service.
    Built once: building the services loads screening's lists."""
    spec = importlib.util.spec_from_file_location("lanthanide_asyncapi", REPO / "deploy" / "asyncapi.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return {name: module.document(name, broker) for name, broker in module.service_brokers().items()}
