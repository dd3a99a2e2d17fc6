"""The reviewer console in process (ASGI): sign-in, CSRF, queue, case page, actions refused with
the API's rule ids, the dashboard. The browser test of the whole stack is tests/e2e/test_e2e_console.py."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from lanthanide.auth import Authenticator, TokenGrant
from lanthanide.contracts import Route
from lanthanide.dates import prc_today
from lanthanide.events import EventFactory
from lanthanide.testing.factories import civilian_application
from lanthanide_review.adapters.outbox import OutboxRelay
from lanthanide_review.adapters.store import Store
from lanthanide_review.domain.dispositions import Disposition, DispositionStatus
from lanthanide_review.domain.policy import load_policy
from lanthanide_review.domain.roles import Actor, ConflictRegister, Role
from lanthanide_review.domain.sla import PrcCalendar
from lanthanide_review.domain.versions import MAX_CHANGES, application_changes
from lanthanide_review.entrypoints.console import ConsoleOptions
from lanthanide_review.entrypoints.console.charts import stacked_bars
from lanthanide_review.entrypoints.http import create_app
from lanthanide_review.service_layer.dispositions import DispositionService
from lanthanide_review.service_layer.handlers import ReviewService, TopicNames
from lanthanide_review.views import general_licence_usage, quantile

from .conftest import CONFLICTS, TOKENS, make_screening

_READER = Actor("dave", frozenset({Role.AUDITOR}))
#: frank is a senior reviewer with a declared conflict with the factory application's exporter.
_TOKENS = {**TOKENS, "t-frank": {"user": "frank", "roles": ["senior_reviewer"]}}
_CONFLICTS = {**CONFLICTS, "frank": CONFLICTS["erin"]}


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
        store=store, policy=load_policy(), calendar=PrcCalendar(), conflicts=ConflictRegister(_CONFLICTS),
        factory=EventFactory("review", "test"), topics=TopicNames.with_prefix("t."),
    )
    sent = _Sent()
    relay = OutboxRelay(store, sent)  # type: ignore[arg-type]
    auth = Authenticator({k: TokenGrant.model_validate(v) for k, v in _TOKENS.items()})
    app = create_app(service, relay, auth, console=ConsoleOptions(cookie_secure=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://review") as client:
        client.sent = sent.records  # type: ignore[attr-defined]  # what the relay published
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


# ---------------------------------------------------------------- dispositions (issue 18, 14.1)


def _outbox_types(sent: list[tuple[str, bytes]]) -> list[str]:
    return [json.loads(body)["event_type"] for _topic, body in sent]


async def _dispositions(service: ReviewService, case_id: str) -> list[Disposition]:
    return await DispositionService(service).for_case(_READER, UUID(case_id))


def _in_future(days: int) -> str:
    return (prc_today() + timedelta(days=days)).isoformat()


async def test_a_certain_hit_is_suppressed_only_by_a_second_senior_reviewer_on_the_page(
    stack: Any, hits: Any
) -> None:
    service, client = stack
    case_id = await _open(service, Route.ENHANCED, hits=[hits.control()])
    csrf = await _sign_in(client, "t-alice")
    page = (await client.get(f"/console/cases/{case_id}")).text
    assert 'data-entry="prc-control:C-9"' in page and "Record false positive (needs a senior second person)" in page
    form = {"party_index": "1", "list_id": "prc-control", "entry_id": "C-9",
            "reason": "different company: other city and register number", "expires_on": _in_future(90)}
    proposed = await _post(client, f"/console/cases/{case_id}/dispositions", csrf, **form)
    assert proposed.status_code == 200 and "disposition-pending" in proposed.text
    [d] = await _dispositions(service, case_id)
    assert d.status is DispositionStatus.PENDING and d.proposed_by == "alice" and d.list_version == "2026-12"
    assert f"Disposition <code>{d.disposition_id}</code> proposed by alice: waiting" in proposed.text
    # Nothing for screening yet, and no second proposal is offered for the same hit.
    assert "disposition.recorded" not in _outbox_types(client.sent)
    assert 'class="form-disposition" data-entry="prc-control:C-9"' not in proposed.text
    # alice is no senior: the API's rule id on the page, nothing changes.
    mine = await _post(client, f"/console/dispositions/{d.disposition_id}/approve", csrf)
    assert mine.status_code == 403 and "REV-ROLE-REQUIRED" in mine.text and 'id="state"' in mine.text
    # bob proposes on another case and cannot approve his own proposal (four eyes).
    other = await _open(service, Route.ENHANCED, hits=[hits.control()])
    csrf_bob = await _sign_in(client, "t-bob")
    await _post(client, f"/console/cases/{other}/dispositions", csrf_bob, **form)
    [own] = await _dispositions(service, other)
    same = await _post(client, f"/console/dispositions/{own.disposition_id}/approve", csrf_bob)
    assert same.status_code == 403 and "REV-FOUR-EYES-SAME-PERSON" in same.text
    assert (await _dispositions(service, other))[0].status is DispositionStatus.PENDING
    # A conflicted senior reviewer may not be the second person.
    conflicted = await _post(client, f"/console/dispositions/{d.disposition_id}/approve",
                             await _sign_in(client, "t-frank"), back="pending")
    assert conflicted.status_code == 403 and "REV-CONFLICT-OF-INTEREST" in conflicted.text
    assert 'id="pending-dispositions"' in conflicted.text  # refused on the page the form was on
    csrf_bob = await _sign_in(client, "t-bob")
    # The pending list shows both; bob approves alice's from there.
    pending = (await client.get("/console/dispositions")).text
    assert d.disposition_id in pending and own.disposition_id in pending
    approved = await _post(client, f"/console/dispositions/{d.disposition_id}/approve", csrf_bob, back="pending")
    assert approved.status_code == 200 and "disposition-approved" in approved.text
    assert f'data-disposition="{d.disposition_id}"' not in approved.text  # no longer pending
    [d] = await _dispositions(service, case_id)
    assert d.status is DispositionStatus.RECORDED and d.approved_by == ["alice", "bob"]
    assert _outbox_types(client.sent).count("disposition.recorded") == 1
    # Until screening applies it, the hit says so and offers no second disposition.
    waiting = (await client.get(f"/console/cases/{case_id}")).text
    assert "recorded by alice and approved by bob: screening suppresses the hit from the case's next" in waiting
    assert 'class="form-disposition"' not in waiting
    # Approving it again is a state conflict (409), as in the API.
    again = await _post(client, f"/console/dispositions/{d.disposition_id}/approve", csrf_bob)
    assert again.status_code == 409 and "REV-DISPOSITION-STATE" in again.text
    # The next screening suppresses the hit: the page shows who recorded and approved it, the
    # list version judged against and the expiry, and the review record's reason.
    suppressed = hits.control().model_copy(
        update={"suppressed": True, "disposition_id": d.disposition_id, "approved_by": ["alice", "bob"]})
    case, _, _ = await service.get_case(UUID(case_id))
    await service.handle(make_screening(Route.STANDARD, ref=case.external_reference, hits=[suppressed]), "t.screening")
    shown = (await client.get(f"/console/cases/{case_id}")).text
    block = re.search(r'<div class="suppressed">(.*?)</div>', shown, re.S)
    assert block, shown
    assert (f"Suppressed by disposition <code>{d.disposition_id}</code>, recorded by alice and approved by bob"
            in block.group(1))
    assert "list version 2026-12" in block.group(1) and f"expires {d.expires_on}" in block.group(1)
    assert "other city and register number" in block.group(1)
    # Revoked by a reviewer (with a reason): published for screening; revoking twice is refused.
    csrf = await _sign_in(client, "t-alice")
    revoked = await _post(client, f"/console/dispositions/{d.disposition_id}/revoke", csrf, reason="new evidence")
    assert revoked.status_code == 200 and "disposition-revoked" in revoked.text
    assert "disposition.revoked" in _outbox_types(client.sent)
    twice = await _post(client, f"/console/dispositions/{d.disposition_id}/revoke", csrf, reason="again")
    assert twice.status_code == 409 and "REV-DISPOSITION-STATE" in twice.text


async def test_a_possible_match_disposition_is_recorded_at_once_and_refusals_carry_the_api_rule_ids(
    stack: Any, hits: Any
) -> None:
    service, client = stack
    possible = hits.watch().model_copy(update={"certain": False, "score": 0.82})
    case_id = await _open(service, Route.ENHANCED, hits=[possible])
    csrf = await _sign_in(client, "t-alice")
    form = {"party_index": "1", "list_id": "prc-watch", "entry_id": "W-1", "reason": "different firm",
            "expires_on": _in_future(30)}
    # The form without its CSRF token, an unknown hit, an expiry beyond the maximum term.
    no_csrf = await client.post(f"/console/cases/{case_id}/dispositions", data=form)
    assert no_csrf.status_code == 403 and "CONSOLE-CSRF" in no_csrf.text
    unknown = await _post(client, f"/console/cases/{case_id}/dispositions", csrf, **{**form, "entry_id": "W-404"})
    assert unknown.status_code == 422 and "REV-DISPOSITION-HIT-UNKNOWN" in unknown.text
    too_long = await _post(client, f"/console/cases/{case_id}/dispositions", csrf,
                           **{**form, "expires_on": _in_future(400)})
    assert too_long.status_code == 422 and "REV-DISPOSITION-EXPIRY" in too_long.text
    not_a_date = await _post(client, f"/console/cases/{case_id}/dispositions", csrf, **{**form, "expires_on": "soon"})
    assert not_a_date.status_code == 422 and "expires_on" in not_a_date.text
    assert await _dispositions(service, case_id) == []
    # A conflicted reviewer and an auditor are refused as by the API.
    conflicted = await _post(client, f"/console/cases/{case_id}/dispositions", await _sign_in(client, "t-erin"), **form)
    assert conflicted.status_code == 403 and "REV-CONFLICT-OF-INTEREST" in conflicted.text
    auditor = await _post(client, f"/console/cases/{case_id}/dispositions", await _sign_in(client, "t-dave"), **form)
    assert auditor.status_code == 403 and "REV-ROLE-REQUIRED" in auditor.text
    assert 'class="form-disposition"' not in (await client.get(f"/console/cases/{case_id}")).text
    # A possible match needs no second person: recorded and published at once.
    csrf = await _sign_in(client, "t-alice")
    done = await _post(client, f"/console/cases/{case_id}/dispositions", csrf, **form)
    assert done.status_code == 200 and "disposition-recorded" in done.text
    [d] = await _dispositions(service, case_id)
    assert d.status is DispositionStatus.RECORDED and d.approved_by == ["alice"] and not d.certain
    assert "disposition.recorded" in _outbox_types(client.sent)
    row = re.search(rf'data-disposition="{d.disposition_id}">(.*?)</tr>', done.text, re.S)
    assert row and "recorded" in row.group(1) and "prc-watch" in row.group(1) and "2026-11" in row.group(1)


# ---------------------------------------------------------------- versions, usage, licences


async def test_the_case_page_lists_application_versions_with_what_changed(stack: Any) -> None:
    service, client = stack
    ref = "PO-VERSIONS-1"
    case_id = await _open(service, Route.STANDARD, ref=ref)
    csrf = await _sign_in(client, "t-alice")
    await _post(client, f"/console/cases/{case_id}/claim", csrf)
    amended = make_screening(Route.STANDARD, ref=ref)
    app = amended.payload.application.model_copy(deep=True)
    app.items[0].quantity = Decimal("650")
    app.end_use.description = "Traction motors for electric trucks"
    amended = amended.model_copy(update={"payload": amended.payload.model_copy(update={"application": app})})
    await service.handle(amended, "t.screening")
    page = (await client.get(f"/console/cases/{case_id}")).text
    assert 'id="app-version">2<' in page
    v2 = re.search(r'<tr data-version="2">(.*?)</tr>', page, re.S)
    assert v2, page
    assert "<code>items[0].quantity</code> 500 → 650" in v2.group(1)
    assert "<code>end_use.description</code> Traction motors for electric city buses → " in v2.group(1)
    assert "claim by alice" in v2.group(1)  # the step taken on version 1 is void
    assert '<tr data-version="1">' in page and "as submitted" in page


async def test_general_licence_usage_on_the_case_page(stack: Any) -> None:
    service, client = stack
    items = civilian_application()["items"]
    items[0]["quantity"] = "1200"
    general = await _open(service, Route.STANDARD, items=items)
    csrf = await _sign_in(client, "t-alice")
    issued = await _post(client, f"/console/cases/{general}/approve", csrf, licence_type="general")
    assert issued.status_code == 200 and 'id="state">approved' in issued.text
    case, _, _ = await service.get_case(UUID(general))
    number = case.licence_number
    assert number
    export = await _open(service, Route.GREEN_CHANNEL, general_licence_number=number)
    page = (await client.get(f"/console/cases/{export}")).text
    table = re.search(rf'<table class="general-usage" data-licence="{number}">(.*?)</table>', page, re.S)
    assert table, page
    cells = [c.strip() for c in re.findall(r'<td class="num">(.*?)</td>', table.group(1))]
    assert cells == ["1200 kg", "500 kg", "700 kg"]  # cap, drawn by this export, remaining
    assert f"{number} (claimed by this application)" in page
    # The general licence's own case shows the same report; cumulative quantities by end user.
    own = (await client.get(f"/console/cases/{general}")).text
    assert f'data-licence="{number}"' in own and "700 kg" in own
    assert "antriebstechnik nord gmbh" in own and "500 kg" in own.split('id="h-usage"')[1]


async def _licensed(service: ReviewService, client: httpx.AsyncClient, csrf: str) -> tuple[str, str]:
    case_id = await _open(service, Route.STANDARD)
    await _post(client, f"/console/cases/{case_id}/approve", csrf, licence_type="single")
    case, _, _ = await service.get_case(UUID(case_id))
    assert case.licence_number
    return case_id, case.licence_number


async def test_licence_suspend_reinstate_revoke_forms_check_roles_and_state(stack: Any) -> None:
    service, client = stack
    case_id, number = await _licensed(service, client, await _sign_in(client, "t-alice"))
    # A reviewer may not manage licences (as the API), and the page says why.
    csrf = await _sign_in(client, "t-alice")
    refused = await _post(client, f"/console/licences/{number}/suspend", csrf, reason="check")
    assert refused.status_code == 403 and "REV-ROLE-REQUIRED" in refused.text
    # A senior reviewer with a conflict of interest with the exporter is refused (as the API).
    conflicted = await _post(client, f"/console/licences/{number}/suspend", await _sign_in(client, "t-frank"),
                             reason="check")
    assert conflicted.status_code == 403 and "REV-CONFLICT-OF-INTEREST" in conflicted.text
    assert (await service.licence(number)).status.value == "active"
    csrf = await _sign_in(client, "t-bob")
    page = (await client.get(f"/console/cases/{case_id}")).text
    assert f'action="/console/licences/{number}/suspend" id="form-licence"' in page
    empty = await _post(client, f"/console/licences/{number}/suspend", csrf, reason=" ")
    assert empty.status_code == 422 and "reason" in empty.text
    no_csrf = await client.post(f"/console/licences/{number}/suspend", data={"reason": "x"})
    assert no_csrf.status_code == 403 and "CONSOLE-CSRF" in no_csrf.text
    suspended = await _post(client, f"/console/licences/{number}/suspend", csrf, reason="end-use check pending")
    assert suspended.status_code == 200 and 'id="state">licence_suspended' in suspended.text
    twice = await _post(client, f"/console/licences/{number}/suspend", csrf, reason="again")
    assert twice.status_code == 409 and "illegal transition" in twice.text
    # A reviewer's own suspension is lifted by one senior person; the licence-review page lists it meanwhile.
    queue = (await client.get("/console/licence-review")).text
    assert f'data-licence="{number}"' in queue and "suspended by a reviewer" in queue
    back = await _post(client, f"/console/licences/{number}/reinstate", csrf, reason="checked")
    assert back.status_code == 200 and 'id="state">approved' in back.text
    csrf = await _sign_in(client, "t-carol")
    revoked = await _post(client, f"/console/licences/{number}/revoke", csrf, reason="false statements")
    assert revoked.status_code == 200 and 'id="state">licence_revoked' in revoked.text
    assert (await service.licence(number)).status.value == "revoked"
    missing = await _post(client, "/console/licences/NOPE-1/revoke", csrf, reason="x")
    assert missing.status_code == 404


async def test_licence_review_queue_reinstate_takes_two_people(stack: Any, hits: Any) -> None:
    service, client = stack
    case_id, number = await _licensed(service, client, await _sign_in(client, "t-alice"))
    case, _, _ = await service.get_case(UUID(case_id))
    rescreen = make_screening(Route.STANDARD, ref=case.external_reference, hits=[hits.control()], is_rescreen=True)
    await service.handle(rescreen, "t.screening")
    csrf_bob = await _sign_in(client, "t-bob")
    page = (await client.get("/console/licence-review")).text
    row = re.search(rf'<tr data-licence="{number}">(.*?)</tr>', page, re.S)
    assert row, page
    days = service.policy.sla.licence_review_working_days
    assert "re-screening found 1 new list hit" in row.group(1) and "C-9" in row.group(1)
    assert f'<td class="num">{days}</td>' in row.group(1)  # the review item's own clock, just opened
    # bob asks; the page shows the request waiting for a second person; bob cannot confirm it himself.
    asked = await _post(client, f"/console/licences/{number}/reinstate", csrf_bob,
                        reason="hit is another company", back="licence-review")
    assert asked.status_code == 200 and "Done: reinstate-requested-a-second-person-confirms" in asked.text
    assert "reinstate requested by bob" in asked.text and "Confirm reinstate" in asked.text
    same = await _post(client, f"/console/licences/{number}/reinstate", csrf_bob, reason="sure", back="licence-review")
    assert same.status_code == 403 and "REV-FOUR-EYES-SAME-PERSON" in same.text and 'id="licence-review"' in same.text
    assert (await service.licence(number)).status.value == "suspended"
    # carol confirms: the licence is active again and the review item closed.
    confirmed = await _post(client, f"/console/licences/{number}/reinstate", await _sign_in(client, "t-carol"),
                            reason="agree", back="licence-review")
    assert confirmed.status_code == 200 and f'data-licence="{number}"' not in confirmed.text
    assert "Done: reinstate." in confirmed.text
    case, _, _ = await service.get_case(UUID(case_id))
    assert case.state.value == "approved" and case.licence_review is not None and not case.licence_review.is_open
    assert (await service.licence(number)).status.value == "active"


def test_application_changes_lists_fields_added_removed_and_changed_and_stays_small() -> None:
    old = {"items": [{"quantity": "10", "unit": "kg"}], "parties": [{"name": "A"}], "note": "x"}
    new = {"items": [{"quantity": "11", "unit": "kg"}, {"quantity": "1", "unit": "t"}], "parties": [],
           "contract": {"number": "C-1"}}
    diff = application_changes(old, new)
    assert diff["more"] == 0
    assert diff["fields"] == [
        {"field": "contract", "change": "added", "to": "{'number': 'C-1'}"},
        {"field": "items[0].quantity", "change": "changed", "from": "10", "to": "11"},
        {"field": "items[1]", "change": "added", "to": "{'quantity': '1', 'unit': 't'}"},
        {"field": "note", "change": "removed", "from": "x"},
        {"field": "parties[0]", "change": "removed", "from": "{'name': 'A'}"},
    ]
    many = application_changes({"k": list(range(100))}, {"k": [i + 1 for i in range(100)]})
    assert len(many["fields"]) == MAX_CHANGES and many["more"] == 100 - MAX_CHANGES
    assert application_changes(old, old) == {"fields": [], "more": 0}


async def test_approve_form_exports_under_a_general_licence_and_shows_its_refusals(stack: Any) -> None:
    # REV-GL-MANUAL from the page: the same domain call as POST /cases/{id}/approve.
    service, client = stack
    items = civilian_application()["items"]
    items[0]["quantity"] = "1200"
    general = await _open(service, Route.STANDARD, items=items)
    csrf = await _sign_in(client, "t-alice")
    await _post(client, f"/console/cases/{general}/approve", csrf, licence_type="general")
    number = (await service.get_case(UUID(general)))[0].licence_number
    assert number

    items[0]["quantity"] = "1000"
    first = await _open(service, Route.STANDARD, items=items, general_licence_number=number)  # queued
    page = (await client.get(f"/console/cases/{first}")).text
    form = page.split('id="form-approve"')[1].split("</form>")[0]
    assert 'name="general_licence_number"' in form and f"the application names {number}" in form
    assert 'name="cap_0" value="1000"' in form  # prefilled from the screened case
    done = await _post(client, f"/console/cases/{first}/approve", csrf, licence_type="single",
                       general_licence_number=number, cap_0="1000")
    assert done.status_code == 200 and 'id="state">approved' in done.text, done.text.split('id="refusal"')[-1][:300]
    usage = await general_licence_usage(service, number)
    assert [i["remaining"] for i in usage["items"]] == ["200"]  # 1200 - 1000 drawn down

    # Another export asking for more than remains is refused on the page; nothing is drawn.
    second = await _open(service, Route.STANDARD, general_licence_number=number)
    over = await _post(client, f"/console/cases/{second}/approve", csrf, licence_type="single",
                       general_licence_number=number, cap_0="500")
    assert over.status_code == 422 and "<strong>REV-GL-OVER-CAP</strong>" in over.text
    assert (await service.get_case(UUID(second)))[0].state.value == "queued"
    assert await general_licence_usage(service, number) == usage
    # A licence the application does not name is refused with its own rule id.
    other = await _post(client, f"/console/cases/{second}/approve", csrf, licence_type="single",
                        general_licence_number="LNT-2026-999999", cap_0="100")
    assert other.status_code == 422 and "<strong>REV-GL-NOT-NAMED</strong>" in other.text
    ok = await _post(client, f"/console/cases/{second}/approve", csrf, licence_type="single",
                     general_licence_number=number, cap_0="200")
    assert 'id="state">approved' in ok.text
