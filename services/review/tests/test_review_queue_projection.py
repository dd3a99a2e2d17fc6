"""The console's queue projection (`case_queue`): written with every kind of case write (an input
one at a time or in a batch, every reviewer action, a licence action), it says what the aggregate
says; the queue page filters, sorts, counts and pages in SQL; revision 0003 backfills it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from lanthanide.auth import Authenticator, TokenGrant
from lanthanide.contracts import DecisionOutcome, ReasonCode, Route
from lanthanide.dates import prc_today
from lanthanide.events import EventFactory
from lanthanide.migrations import _config
from lanthanide_review.adapters import orm
from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.adapters.store import Store, _migrations_dir
from lanthanide_review.domain.licences import ApprovalTerms
from lanthanide_review.domain.model import Recommendation
from lanthanide_review.domain.policy import load_policy
from lanthanide_review.domain.roles import Actor, ConflictRegister, Role
from lanthanide_review.domain.sla import PrcCalendar
from lanthanide_review.entrypoints.console import PAGE_SIZE, ConsoleOptions
from lanthanide_review.entrypoints.http import create_app
from lanthanide_review.service_layer.handlers import ReviewService, TopicNames
from lanthanide_review.views import QueueFilter, queue_page
from sqlalchemy import select

from .conftest import CONFLICTS, TOKENS, make_screening, watch_hit

SCREENING = "t.screening"
ALICE = Actor("alice", frozenset({Role.REVIEWER}))
BOB = Actor("bob", frozenset({Role.SENIOR_REVIEWER}))
CAROL = Actor("carol", frozenset({Role.SENIOR_REVIEWER}))


def _service(store: Store) -> ReviewService:
    return ReviewService(
        store=store, policy=load_policy(), calendar=PrcCalendar(), conflicts=ConflictRegister(CONFLICTS),
        factory=EventFactory("review", "test"), topics=TopicNames.with_prefix("t."),
    )


@pytest.fixture
async def service(db_url: str) -> AsyncIterator[ReviewService]:
    store = Store(db_url)
    await store.migrate()
    try:
        yield _service(store)
    finally:
        await store.dispose()


async def _projection(service: ReviewService) -> dict[str, Any]:
    async with service.store.engine.connect() as conn:
        return {r.case_id: r for r in (await conn.execute(select(orm.case_queue))).all()}


async def assert_projection_matches_the_cases(service: ReviewService) -> dict[str, Any]:
    """Every case has one projection row, and each column says what the aggregate says (worked
    out here from the aggregate with the SLA clock's own methods, not with the projector)."""
    async with service.store.unit_of_work() as uow:
        cases = await uow.cases.all()
    rows = await _projection(service)
    assert set(rows) == {str(c.case_id) for c in cases}
    days = service.policy.sla.working_days
    for case in cases:
        r = rows[str(case.case_id)]
        screening = case.screening or {}
        expected = {
            "state": case.state.value,
            "route": case.route.value if case.route else None,
            "queue": case.queue,
            "assignee": case.assignee,
            "outcome": case.outcome.value if case.outcome else None,
            "external_reference": case.external_reference,
            "exporter": case.exporter_name,
            "red_flag_codes": [f["code"] for f in screening.get("red_flags", [])],
            "red_flag_count": len(screening.get("red_flags", [])),
            "hit_count": len(screening.get("hits", [])),
            "countersign_required": case.countersign_required,
            "sla_started_on": case.sla.started_on,
            "sla_applies": case.sla.applies,
            "sla_paused_since": case.sla.paused_since,
            "sla_paused_working_days": case.sla.paused_working_days,
            "due_on": case.sla.due_date(service.calendar, days),
            "due_on_provisional": case.sla.due_date_provisional(service.calendar, days),
            "decided_on": case.decided_at.astimezone(service.tz).date() if case.decided_at else None,
        }
        assert {k: getattr(r, k) for k in expected} == expected, case.external_reference
    return rows


async def _open(service: ReviewService, route: Route, *, batch: bool = False, **kw: Any) -> str:
    env = make_screening(route, **kw)
    if batch:
        assert await service.handle_batch([(env, SCREENING)]) == []
    else:
        await service.handle(env, SCREENING)
    return str(env.case_id)


async def test_the_projection_follows_every_kind_of_case_write(service: ReviewService) -> None:
    # Inputs: one at a time (one case per unit of work) and a batch (many), inserts and updates.
    plain = await _open(service, Route.STANDARD, ref="PO-PROJ-PLAIN")
    batch = [make_screening(Route.ENHANCED, ref="PO-PROJ-WATCH", hits=[watch_hit()]),
             make_screening(Route.STANDARD, ref="PO-PROJ-WITHDRAW"),
             make_screening(Route.NO_LICENCE_REQUIRED, ref="PO-PROJ-NLR")]
    assert await service.handle_batch([(e, SCREENING) for e in batch]) == []
    watch, withdrawn, nlr = (str(e.case_id) for e in batch)
    rows = await assert_projection_matches_the_cases(service)
    assert rows[watch].hit_count == 1 and rows[watch].due_on is None and rows[watch].sla_applies is False
    assert rows[plain].due_on is not None and rows[nlr].outcome == DecisionOutcome.NO_LICENCE_REQUIRED.value

    # Reviewer actions: claim, request information (the clock pauses), the amendment (a batch
    # update: the clock resumes), deny.
    await service.act(UUID(plain), lambda c, ctx, _l: c.claim(ALICE, ctx))
    assert (await assert_projection_matches_the_cases(service))[plain].assignee == "alice"
    await service.act(UUID(plain), lambda c, ctx, _l: c.request_information(ALICE, ctx, ["contract"], "send it"))
    assert (await assert_projection_matches_the_cases(service))[plain].sla_paused_since == service.today()
    amended = make_screening(Route.STANDARD, ref="PO-PROJ-PLAIN")
    assert await service.handle_batch([(amended, SCREENING)]) == []
    assert (await assert_projection_matches_the_cases(service))[plain].sla_paused_since is None
    await service.act(UUID(plain), lambda c, ctx, _l: c.claim(ALICE, ctx))
    await service.act(UUID(plain), lambda c, ctx, _l: c.deny(ALICE, ctx, [ReasonCode(code="R1", text="no")]))
    assert (await assert_projection_matches_the_cases(service))[plain].outcome == "denied"

    # Four eyes: escalate, recommend, countersign (approved with a licence), then licence actions.
    await service.act(UUID(watch), lambda c, ctx, _l: c.escalate(ALICE, ctx, "watch-list party", referral=False))
    await service.act(UUID(watch), lambda c, ctx, _l: c.claim(BOB, ctx))
    rec = Recommendation(by="bob", outcome=DecisionOutcome.APPROVED, terms=ApprovalTerms())
    await service.act(UUID(watch), lambda c, ctx, _l: c.recommend(BOB, ctx, rec))
    assert (await assert_projection_matches_the_cases(service))[watch].state == "awaiting_countersign"
    await service.act(UUID(watch), lambda c, ctx, _l: c.countersign(CAROL, ctx, True, "agreed"))
    rows = await assert_projection_matches_the_cases(service)
    assert rows[watch].state == "approved" and rows[watch].decided_on == service.today()
    await service.act(UUID(watch), lambda c, ctx, lic: c.manage_licence(BOB, ctx, lic, "suspend", "check"),
                      with_licence=True)
    assert (await assert_projection_matches_the_cases(service))[watch].state == "licence_suspended"

    await service.act(UUID(withdrawn), lambda c, ctx, _l: c.withdraw(BOB, ctx, "the applicant withdrew"))
    assert (await assert_projection_matches_the_cases(service))[withdrawn].outcome == "withdrawn"


async def test_revision_0003_backfills_the_projection_of_existing_cases(service: ReviewService) -> None:
    from alembic import command

    for route in (Route.STANDARD, Route.ENHANCED, Route.NO_LICENCE_REQUIRED):
        await _open(service, route, hits=[watch_hit()] if route is Route.ENHANCED else None)
    engine = service.store.engine
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(_config(_migrations_dir(), c), "0002"))
    await service.store.migrate()  # 0002 -> 0003 with the cases already there
    rows = await assert_projection_matches_the_cases(service)
    assert len(rows) == 3


async def _seed_queue(service: ReviewService) -> dict[str, str]:
    """Seven open cases: flags, routes, references, and receipt days whole weeks apart (so due
    dates that differ whatever weekday the test runs on)."""
    today = prc_today()
    specs = [
        ("PO-Q-A", Route.STANDARD, 0, None),
        ("PO-Q-B", Route.STANDARD, 14, None),
        ("PO-Q-C", Route.ENHANCED, 1, [watch_hit()]),
        ("PO-Q-D", Route.STANDARD, 21, None),
        ("PO-Q-E_1", Route.STANDARD, 7, None),
        ("PO-Q-F", Route.ENHANCED, 5, [watch_hit(), watch_hit()]),
        ("PO-Q-G", Route.STANDARD, 28, None),
    ]
    envs = {ref: make_screening(route, ref=ref, hits=hits, screened_on=today - timedelta(days=back))
            for ref, route, back, hits in specs}
    assert await service.handle_batch([(e, SCREENING) for e in envs.values()]) == []
    return {ref: str(e.case_id) for ref, e in envs.items()}


def _refs(page: Any) -> list[str]:
    return [r["external_reference"] for r in page.rows]


async def test_queue_filters_sorts_and_pages_in_sql(service: ReviewService) -> None:
    await _seed_queue(service)
    by_due = await queue_page(service, QueueFilter(sort="due"), page=1, page_size=3)
    assert by_due.total == 7 and by_due.pages == 3
    # Earliest due date first (oldest receipt); the watch-list cases have no clock: last.
    assert _refs(by_due) == ["PO-Q-G", "PO-Q-D", "PO-Q-B"]
    assert [r["working_days_left"] for r in by_due.rows] == sorted(r["working_days_left"] for r in by_due.rows)
    last = await queue_page(service, QueueFilter(sort="due"), page=3, page_size=3)
    assert len(last.rows) == 1 and _refs(last)[0] in {"PO-Q-C", "PO-Q-F"}
    assert last.rows[0]["due_on"] is None and last.rows[0]["sla_off_reason"]
    # A page past the last shows the last.
    assert _refs(await queue_page(service, QueueFilter(sort="due"), page=99, page_size=3)) == _refs(last)
    every = [*_refs(by_due), *_refs(await queue_page(service, QueueFilter(), page=2, page_size=3)), *_refs(last)]
    assert sorted(every) == sorted({*every}) and len(every) == 7

    flags = await queue_page(service, QueueFilter(sort="flags", descending=True), page_size=10)
    assert _refs(flags)[:2] == ["PO-Q-F", "PO-Q-C"] and flags.rows[0]["hits"] == 2
    flagged = await queue_page(service, QueueFilter(flagged=True), page_size=10)
    assert sorted(_refs(flagged)) == ["PO-Q-C", "PO-Q-F"]
    enhanced = await queue_page(service, QueueFilter(route="enhanced", sort="reference", descending=True))
    assert _refs(enhanced) == ["PO-Q-F", "PO-Q-C"]
    assert _refs(await queue_page(service, QueueFilter(sort="reference"), page_size=2)) == ["PO-Q-A", "PO-Q-B"]

    # Text search is a substring of the reference or the exporter, case-insensitive; % and _
    # are literal characters, not patterns.
    assert _refs(await queue_page(service, QueueFilter(text="q-e_1"))) == ["PO-Q-E_1"]
    assert (await queue_page(service, QueueFilter(text="%"))).total == 0
    assert (await queue_page(service, QueueFilter(text="q_"))).total == 0
    assert (await queue_page(service, QueueFilter(text="ganzhou"))).total == 7
    assert (await queue_page(service, QueueFilter(text="nobody"))).total == 0

    # Claimed cases: the assignee filter (My cases) and the state filter.
    case_c = next(r["case_id"] for r in flags.rows if r["external_reference"] == "PO-Q-C")
    await service.act(UUID(case_c), lambda c, ctx, _l: c.claim(BOB, ctx))
    mine = await queue_page(service, QueueFilter(assignee="bob"))
    assert _refs(mine) == ["PO-Q-C"] and mine.rows[0]["state"] == "under_review"
    assert (await queue_page(service, QueueFilter(state="queued"))).total == 6


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[ReviewService, httpx.AsyncClient]]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'review.db'}")
    await store.migrate()
    service = _service(store)

    class _Sent:
        async def publish_encoded(self, records: Any) -> None:
            return None

    auth = Authenticator({k: TokenGrant.model_validate(v) for k, v in TOKENS.items()})
    app = create_app(service, OutboxRelay(store, _Sent()), auth,  # type: ignore[arg-type]
                     console=ConsoleOptions(cookie_secure=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://review") as c:
        yield service, c
    await store.dispose()


async def test_queue_page_links_keep_the_filters_and_the_sort(client: tuple[ReviewService, httpx.AsyncClient]) -> None:
    service, http = client
    envs = [make_screening(Route.STANDARD, ref=f"PO-PAGE-{n:03d}") for n in range(PAGE_SIZE + 1)]
    assert await service.handle_batch([(e, SCREENING) for e in envs]) == []
    login = await http.get("/console/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
    assert (await http.post("/console/login", data={"token": "t-alice", "csrf_token": csrf})).status_code == 303

    first = (await http.get("/console/?sort=reference&desc=1&q=po-page")).text
    assert f"({PAGE_SIZE + 1})" in first and "Page 1 of 2" in first
    assert first.count('data-case="') == PAGE_SIZE and "PO-PAGE-050" in first and "PO-PAGE-000" not in first
    link = re.search(r'rel="next" href="([^"]+)"', first)
    assert link and 'rel="prev"' not in first
    target = link.group(1).replace("&amp;", "&")
    assert {"sort=reference", "desc=1", "q=po-page", "page=2"} <= set(target.lstrip("?").split("&"))
    second = (await http.get(f"/console/{target}")).text
    assert second.count('data-case="') == 1 and "PO-PAGE-000" in second and 'rel="prev"' in second
