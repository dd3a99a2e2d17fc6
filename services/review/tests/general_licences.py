"""Test helpers for general licences and the green channel (one copy for every review test
that issues a general licence or applies under one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from lanthanide.contracts.envelope import Envelope
from lanthanide.contracts.events import ClassificationResult, DecisionMade, LicenceType, Route
from lanthanide_review.adapters import orm
from lanthanide_review.adapters.store import Store
from lanthanide_review.bootstrap import build_service
from lanthanide_review.domain.licences import ApprovalTerms
from lanthanide_review.domain.model import Case, Context
from lanthanide_review.domain.roles import Actor, Role
from lanthanide_review.service_layer.handlers import ReviewService
from lanthanide_review.settings import ReviewSettings
from sqlalchemy import select

SCREENING = "lanthanide.screening.completed"
ALICE = Actor("alice", frozenset({Role.REVIEWER}))


def magnet_items(quantity: str) -> list[dict[str, Any]]:
    """One item of sintered NdFeB magnets containing dysprosium (1C905.a when classified)."""
    return [
        {
            "description": "Sintered NdFeB magnets containing dysprosium",
            "form": "magnet",
            "hs_code": "8505111000",
            "elements": [{"element": "Nd", "percent": "28"}, {"element": "Dy", "percent": "4"}],
            "quantity": quantity,
            "unit": "kg",
            "value": "45000",
            "currency": "USD",
        }
    ]


def with_codes(env: Envelope[Any], *codes: str) -> Envelope[Any]:
    """The screening result with its one item classified under `codes`."""
    payload = env.payload.model_copy(
        update={
            "classifications": [ClassificationResult(item_index=0, control_codes=list(codes), licence_required=True)]
        }
    )
    return env.model_copy(update={"payload": payload})


@pytest.fixture(name="service")
async def service_fixture(db_url: str) -> AsyncIterator[ReviewService]:
    store = Store(db_url)
    await store.migrate()
    try:
        yield build_service(ReviewSettings(), store)
    finally:
        await store.dispose()


async def issue_general(
    service: ReviewService, screening: Any, *, cap: str = "1000", code: str = "1C905.a", **terms: Any
) -> str:
    """A general licence as a reviewer issues it: approve a queued case with licence_type=general."""
    env = with_codes(screening(Route.STANDARD, items=magnet_items(cap)), code)
    await service.handle(env, SCREENING)

    def approve(case: Case, ctx: Context, _lic: Any) -> None:
        case.approve(ALICE, ctx, ApprovalTerms(licence_type=LicenceType.GENERAL, **terms))

    case = await service.act(env.case_id, approve)
    assert case.licence_number is not None
    return case.licence_number


async def outbox(service: ReviewService, event_type: str) -> list[dict[str, Any]]:
    """The bodies of the outbox rows of one event type."""
    async with service.store.engine.connect() as conn:
        rows = (await conn.execute(select(orm.outbox.c.body).where(orm.outbox.c.event_type == event_type))).all()
    return [orjson.loads(r.body) for r in rows]


async def decision_of(service: ReviewService, case: Case) -> DecisionMade:
    """The case's decision as the outbox will publish it."""
    [body] = [b for b in await outbox(service, "decision.made") if b["case_id"] == str(case.case_id)]
    return DecisionMade.model_validate(body["payload"])
