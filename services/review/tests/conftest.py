"""Review test support: screening-result builders, store URLs (SQLite and PostgreSQL), and the
review service started as its own OS process against a real broker with a per-test topic prefix."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from lanthanide.contracts import (
    Application,
    ClassificationResult,
    EndUseAssessment,
    Envelope,
    PartyHit,
    Route,
    ScreeningCompleted,
)
from lanthanide.dates import prc_today
from lanthanide.events import EventFactory
from lanthanide.ids import case_id_for
from lanthanide.testing.factories import civilian_application
from lanthanide.testing.postgres import create_database
from lanthanide.testing.processes import ServiceProcess, free_port

#: Dev-only tokens for tests (never used outside them).
TOKENS = {
    "t-alice": {"user": "alice", "roles": ["reviewer"]},
    "t-bob": {"user": "bob", "roles": ["senior_reviewer"]},
    "t-carol": {"user": "carol", "roles": ["senior_reviewer"]},
    "t-dave": {"user": "dave", "roles": ["auditor"]},
    "t-erin": {"user": "erin", "roles": ["reviewer"]},
}
#: erin has a declared conflict with the factory application's exporter.
CONFLICTS = {"erin": ["Ganzhou Rare Earth Magnetics Co., Ltd."]}

_screening_factory = EventFactory("screening-test")


def make_screening(
    route: Route,
    *,
    ref: str | None = None,
    hits: list[PartyHit] | None = None,
    is_rescreen: bool = False,
    complete: bool = True,
    missing: list[str] | None = None,
    rule_ids: list[str] | None = None,
    reasons: list[str] | None = None,
    screened_on: date | None = None,
    **app_overrides: Any,
) -> Envelope[Any]:
    """A screening.completed envelope for the factory application (real contract models)."""
    ref = ref or f"PO-{uuid4().hex[:10]}"
    app = Application.model_validate(civilian_application(ref, **app_overrides))
    payload = ScreeningCompleted(
        external_reference=ref,
        application=app,
        complete=complete,
        missing_documents=missing or [],
        classifications=[
            ClassificationResult(
                item_index=0, control_codes=["1C905.a"], licence_required=route is not Route.NO_LICENCE_REQUIRED
            )
        ],
        licence_required=route is not Route.NO_LICENCE_REQUIRED,
        hits=hits or [],
        end_use=EndUseAssessment(category=app.end_use.category.value),
        route=route,
        route_reasons=reasons or [],
        rule_ids=rule_ids or [],
        reference_data_version="test-1",
        algorithm_version="test-1",
        # The as-of date the clock starts on; tests with a fixed clock pass their own day.
        screened_on=screened_on or prc_today(),  # every date is a PRC date (UTC lags 8 h)
        is_rescreen=is_rescreen,
    )
    return _screening_factory.new("screening.completed", payload, case_id=case_id_for(app.exporter_key, ref))


def watch_hit() -> PartyHit:
    return PartyHit(
        party_role="end_user",
        party_index=1,
        list_id="prc-watch",
        list_kind="watch",
        list_version="2026-11",
        entry_id="W-1",
        matched_name="Antriebstechnik Nord",
        score=0.97,
        algorithm_version="test-1",
    )


def control_hit() -> PartyHit:
    return PartyHit(
        party_role="end_user",
        party_index=1,
        list_id="prc-control",
        list_kind="control",
        list_version="2026-12",
        entry_id="C-9",
        matched_name="Antriebstechnik Nord",
        score=0.99,
        algorithm_version="test-1",
    )


@pytest.fixture
def screening() -> Callable[..., Envelope[Any]]:
    """Builder of screening.completed envelopes."""
    return make_screening


@pytest.fixture
def hits() -> Any:
    class _Hits:
        watch = staticmethod(watch_hit)
        control = staticmethod(control_hit)

    return _Hits


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh review database: SQLite file, then a PostgreSQL database (skips if absent)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'review.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Like db_url, shared by the tests of one module (each test uses its own references)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('review') / 'review.db'}"
    server = request.getfixturevalue("postgres_server")
    return create_database(server, f"t_{uuid4().hex[:12]}")


class ReviewProcess:
    """`python -m lanthanide_review` with its own topic prefix, store and HTTP port."""

    def __init__(self, bootstrap: str, db_url: str, log_dir: Path, **extra_env: str) -> None:
        self.prefix = f"t{uuid4().hex[:8]}."
        self.port = free_port()
        self.bootstrap = bootstrap
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "LANTHANIDE_KAFKA_PARTITIONS": "2",
            "LANTHANIDE_REVIEW_DB_URL": db_url,
            "LANTHANIDE_REVIEW_TOPIC_PREFIX": self.prefix,
            "LANTHANIDE_REVIEW_GROUP_ID": f"review-{self.prefix}",
            "LANTHANIDE_REVIEW_TOKENS": json.dumps(TOKENS),
            "LANTHANIDE_REVIEW_CONFLICTS": json.dumps(CONFLICTS),
            "LANTHANIDE_REVIEW_OUTBOX_INTERVAL_S": "0.5",
            "LANTHANIDE_DATA_DIR": str(log_dir / "data"),
            **extra_env,
        }
        self.proc = ServiceProcess("review", env, log_dir, http_port=self.port)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def start(self) -> ReviewProcess:
        self.proc.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if not self.proc.alive():
                raise RuntimeError(f"review exited:\n{self.proc.log_text()[-3000:]}")
            try:
                if self.http.get("/readyz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"review not ready:\n{self.proc.log_text()[-3000:]}")

    def as_user(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def stop(self) -> None:
        self.http.close()
        self.proc.stop()


@pytest.fixture(scope="module")
def review_process(
    kafka_bootstrap: str, module_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReviewProcess]:
    """The review service as an OS process on a real broker, with the parametrized store."""
    proc = ReviewProcess(kafka_bootstrap, module_db_url, tmp_path_factory.mktemp("review-proc"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
