"""Screening test support: accepted-application envelopes, the engine, a Kafka broker address."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lanthanide.contracts import Application, ApplicationAccepted, Envelope
from lanthanide.events import EventFactory
from lanthanide.ids import case_id_for
from lanthanide_screening.adapters.reference_loader import build_engine
from lanthanide_screening.domain.screen import ScreeningEngine
from lanthanide_screening.settings import ScreeningSettings

CHECKOUT = Path(__file__).resolve().parents[3]


def shared_data_dir() -> Path:
    """The raw public list files (lists/, names/) the converter check and the full-list matching
    tests read: LANTHANIDE_SHARED_DATA, else `.cache/public-sources` in this checkout (git-ignored).
    Test support only: the product screens against the lists its package ships and never looks
    for these; the tests that need them skip when they are absent."""
    return Path(os.environ.get("LANTHANIDE_SHARED_DATA") or CHECKOUT / ".cache" / "public-sources")


@pytest.fixture(scope="session")
def engine() -> ScreeningEngine:
    """The engine with the packaged reference data and the default lists (loaded once)."""
    return build_engine(ScreeningSettings())


@pytest.fixture(scope="session")
def make_accepted() -> Callable[..., ApplicationAccepted]:
    """ApplicationAccepted from an application dict."""

    def make(app: dict[str, Any], *, complete: bool = True, missing: list[str] | None = None) -> ApplicationAccepted:
        return ApplicationAccepted(
            external_reference=app["external_reference"],
            application=Application.model_validate(app),
            received_at=datetime.now(UTC),
            complete=complete,
            missing_documents=missing or [],
        )

    return make


@pytest.fixture(scope="session")
def make_envelope() -> Callable[[ApplicationAccepted], Envelope[Any]]:
    """An application.accepted envelope as intake would publish it."""
    factory = EventFactory("intake-test")

    def make(accepted: ApplicationAccepted) -> Envelope[Any]:
        app = accepted.application
        return factory.new(
            "application.accepted", accepted, case_id=case_id_for(app.exporter_key, app.external_reference)
        )

    return make


@pytest.fixture(scope="session")
def screening_kafka(request: pytest.FixtureRequest) -> str:
    """Bootstrap servers: KAFKA_BOOTSTRAP_SERVERS, else the workspace's kafka_bootstrap fixture."""
    env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if env:
        return env
    return str(request.getfixturevalue("kafka_bootstrap"))


@pytest.fixture
def topic_prefix() -> str:
    """A per-test topic prefix so tests sharing one broker never see each other's messages."""
    return f"t{uuid.uuid4().hex[:10]}."
