"""The reviewer console in process (ASGI): sign-in, CSRF, queue, case page, actions refused with
the API's rule ids, the dashboard. The browser test of the whole stack is tests/e2e/test_e2e_console.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from lanthanide.auth import Authenticator, TokenGrant
from lanthanide.contracts import Route
from lanthanide.events import EventFactory
from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.adapters.store import Store
from lanthanide_review.domain.policy import load_policy
from lanthanide_review.domain.roles import ConflictRegister
from lanthanide_review.domain.sla import PrcCalendar
from lanthanide_review.entrypoints.console import ConsoleOptions
from lanthanide_review.entrypoints.console.charts import stacked_bars
from lanthanide_review.entrypoints.http import create_app
from lanthanide_review.service_layer.console_views import quantile
from lanthanide_review.service_layer.handlers import ReviewService, TopicNames

from .conftest import CONFLICTS, TOKENS, make_screening


class _Sent:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes]] = []

    async def publish_encoded(self, records: Any) -> None:
        self.records.extend(records)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[ReviewService, httpx.AsyncClient]]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'review.db'}")
    await store.migrate()
    service = ReviewService(
        store=store, policy=load_policy(), calendar=PrcCalendar(), conflicts=ConflictRegister(CONFLICTS),
        factory=EventFactory("review", "test"), topics=TopicNames.with_prefix("t."),
    )
    relay = OutboxRelay(store, _Sent())  # type: ignore[arg-type]
    auth = Authenticator({k: TokenGrant.model_validate(v) for k, v in TOKENS.items()})
    app = create_app(service, relay, auth, console=ConsoleOptions(cookie_secure=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://review") as client:
        yield service, client
    await store.dispose()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def _sign_in(client: httpx.AsyncClient, token: str) -> str:
    client.cookies.clear()
    page = await client.get("/console/login")
    resp = await client.post("/console/login", data={"token": token, "csrf_token": _csrf(page.text)})
    assert resp.status_code == 303, resp.text
    home = await client.get("/console/")
    assert home.status_code == 200
    return _csrf(home.text)


async def _post(client: httpx.AsyncClient, path: str, csrf: str, **form: str) -> httpx.Response:
    resp = await client.post(path, data={"csrf_token": csrf, **form})
    if resp.status_code == 303:
        resp = await client.get(resp.headers["location"])
    return resp


async def _open(service: ReviewService, route: Route, **kw: Any) -> str:
    env = make_screening(route, **kw)
    await service.handle(env, "t.screening")
    return str(env.case_id)


async def test_pages_need_a_session_and_a_valid_token(stack: Any) -> None:
    _, client = stack
    assert (await client.get("/console/")).status_code == 303
    page = await client.get("/console/login")
    bad = await client.post("/console/login", data={"token": "nope", "csrf_token": _csrf(page.text)})
    assert bad.status_code == 401 and "not valid" in bad.text
    assert (await client.get("/console/dashboard")).headers["location"].endswith("/console/login")


async def test_a_form_without_its_csrf_token_is_refused(stack: Any) -> None:
    service, client = stack
    case_id = await _open(service, Route.STANDARD)
    csrf = await _sign_in(client, "t-alice")
    no_token = await client.post(f"/console/cases/{case_id}/claim", data={})
    assert no_token.status_code == 403 and "CONSOLE-CSRF" in no_token.text
    wrong = await client.post(f"/console/cases/{case_id}/claim", data={"csrf_token": csrf + "x"})
    assert wrong.status_code == 403
    case, _, _ = await service.get_case(UUID(case_id))
    assert case.assignee is None  # nothing changed
    ok = await _post(client, f"/console/cases/{case_id}/claim", csrf)
    assert ok.status_code == 200 and 'id="state">under_review' in ok.text


async def test_four_eyes_on_the_page_same_rule_ids_as_the_api(stack: Any, hits: Any) -> None:
    service, client = stack
    case_id = await _open(service, Route.ENHANCED, hits=[hits.watch()])
    csrf = await _sign_in(client, "t-alice")
    page = await client.get(f"/console/cases/{case_id}")
    assert "prc-watch" in page.text and "W-1" in page.text and "2026-11" in page.text
    # A reviewer cannot approve a four-eyes case directly: the domain's rule id is on the page.
    direct = await _post(client, f"/console/cases/{case_id}/approve", csrf, licence_type="single")
    assert direct.status_code == 403 and "REV-COUNTERSIGN-REQUIRED" in direct.text
    rec = await _post(client, f"/console/cases/{case_id}/recommend", csrf, outcome="approved", application_version="1")
    assert rec.status_code == 200 and 'id="state">awaiting_countersign' in rec.text
    # alice is no senior: countersign needs the role.
    refused = await _post(client, f"/console/cases/{case_id}/countersign", csrf, agree="yes")
    assert refused.status_code == 403 and "REV-ROLE-REQUIRED" in refused.text
    # bob recommends another case and cannot countersign it himself.
    other = await _open(service, Route.ENHANCED, hits=[hits.watch()])
    csrf_bob = await _sign_in(client, "t-bob")
    await _post(client, f"/console/cases/{other}/recommend", csrf_bob, outcome="approved")
    same = await _post(client, f"/console/cases/{other}/countersign", csrf_bob, agree="yes")
    assert same.status_code == 403 and "REV-FOUR-EYES-SAME-PERSON" in same.text
    signed = await _post(client, f"/console/cases/{case_id}/countersign", csrf_bob,
                         agree="yes", application_version="1")
    assert signed.status_code == 200 and 'id="state">approved' in signed.text
    assert "Licence " in signed.text


async def test_auditor_reads_everything_and_changes_nothing(stack: Any) -> None:
    service, client = stack
    case_id = await _open(service, Route.STANDARD)
    csrf = await _sign_in(client, "t-dave")
    page = await client.get(f"/console/cases/{case_id}")
    assert page.status_code == 200 and 'id="read-only"' in page.text and 'id="form-claim"' not in page.text
    refused = await _post(client, f"/console/cases/{case_id}/claim", csrf)
    assert refused.status_code == 403 and "REV-ROLE-REQUIRED" in refused.text
    case, history, _ = await service.get_case(UUID(case_id))
    assert case.assignee is None and all(h["actor"] != "dave" for h in history)
    assert (await client.get("/console/dashboard")).status_code == 200


async def test_queue_filters_sorts_and_shows_the_sla(stack: Any, hits: Any) -> None:
    service, client = stack
    plain = await _open(service, Route.STANDARD, ref="PO-PLAIN-1")
    flagged = await _open(service, Route.ENHANCED, ref="PO-FLAG-1", hits=[hits.watch()])
    await _sign_in(client, "t-alice")
    everything = (await client.get("/console/")).text
    assert plain in everything and flagged in everything
    only_flagged = (await client.get("/console/?flagged=1")).text
    assert flagged in only_flagged and plain not in only_flagged
    by_text = (await client.get("/console/?q=plain")).text
    assert plain in by_text and flagged not in by_text
    # The standard case's clock runs: 45 working days left today; the watch-list case's is off.
    row = re.search(rf'data-case="{plain}">(.*?)</tr>', everything, re.S)
    assert row and ">45<" in row.group(1).replace(" ", "")
    assert "clock off" in re.search(rf'data-case="{flagged}">(.*?)</tr>', everything, re.S).group(1)  # type: ignore[union-attr]
    mine = (await client.get("/console/mine")).text
    assert plain not in mine


async def test_request_information_pauses_the_clock_and_sign_out_ends_the_session(stack: Any) -> None:
    service, client = stack
    case_id = await _open(service, Route.STANDARD)
    csrf = await _sign_in(client, "t-alice")
    await _post(client, f"/console/cases/{case_id}/claim", csrf)
    asked = await _post(client, f"/console/cases/{case_id}/request-information", csrf,
                        missing="end_user_certificate", message="Please send the end-user certificate.")
    assert asked.status_code == 200 and 'id="state">info_requested' in asked.text
    assert "paused since" in asked.text
    out = await client.post("/console/logout", data={"csrf_token": csrf})
    assert out.status_code == 303
    assert (await client.get(f"/console/cases/{case_id}")).status_code == 303


async def test_dashboard_charts_decisions(stack: Any) -> None:
    service, client = stack
    await _open(service, Route.DENY)  # denied at once by policy? else queued; either way counted
    await _open(service, Route.NO_LICENCE_REQUIRED)
    await _sign_in(client, "t-alice")
    page = (await client.get("/console/dashboard")).text
    assert "<svg" in page and "no_licence_required" in page
    assert 'id="by-queue"' in page


def test_quantile_and_chart_are_computed() -> None:
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == pytest.approx(9.1)
    assert quantile([], 0.9) is None
    svg = str(stacked_bars("t", ["a", "b"], {"approved": [2, 0], "denied": [1, 4]}))
    assert svg.count("<rect") == 3 and "b: 4 denied" in svg
