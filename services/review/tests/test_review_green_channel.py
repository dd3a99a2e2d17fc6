"""General licences and the green channel through the review service and its store (SQLite and
PostgreSQL): a general licence issued through the reviewer path covers what was classified, caps
are drawn down by green-channel approvals in the same transaction, sub-items are distinct, an
export is valid no longer than its licence, and concurrent applications cannot both take the
last of a cap."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import lanthanide_cli.main
import pytest
from click.testing import CliRunner
from lanthanide.contracts import (
    LicenceType,
    Route,
)
from lanthanide.dates import prc_today
from lanthanide_review.adapters.store import Store
from lanthanide_review.bootstrap import build_service
from lanthanide_review.domain.licences import LicenceStatus, LicenceTermsError, add_years
from lanthanide_review.domain.model import Case
from lanthanide_review.domain.states import CaseState
from lanthanide_review.service_layer.handlers import ReviewService
from lanthanide_review.settings import ReviewSettings
from lanthanide_review.views import general_licence_usage, usage

# service_fixture provides the `service` fixture.
from .general_licences import (  # noqa: F401
    ALICE,
    SCREENING,
    decision_of,
    issue_general,
    magnet_items,
    outbox,
    service_fixture,
    with_codes,
)


async def _apply(service: ReviewService, screening: Any, number: str, qty: str, code: str = "1C905.a") -> Case:
    env = with_codes(screening(Route.GREEN_CHANNEL, items=magnet_items(qty), general_licence_number=number), code)
    await service.handle(env, SCREENING)
    case, _, _ = await service.get_case(env.case_id)
    return case


async def test_general_licence_issued_by_a_reviewer_carries_the_classified_codes_and_covers(
    service: ReviewService, screening: Any
) -> None:
    number = await issue_general(service, screening)
    gl = await service.licence(number)
    # The applicant typed no control code: the licence carries what screening classified.
    assert gl.licence.type is LicenceType.GENERAL and gl.licence.items[0].control_codes == ["1C905.a"]
    case = await _apply(service, screening, number, "400")
    assert case.state is CaseState.APPROVED
    decision = await decision_of(service, case)
    assert decision.general_licence_number == number
    assert decision.general_licence_usage is not None and decision.general_licence_usage.remaining == [Decimal(600)]
    assert (await service.licence(number)).remaining() == [Decimal(600)]


async def test_three_500kg_applications_under_1000kg_give_two_approvals_and_one_queued(
    service: ReviewService, screening: Any
) -> None:
    number = await issue_general(service, screening)
    cases = [await _apply(service, screening, number, "500") for _ in range(3)]
    assert [c.state for c in cases] == [CaseState.APPROVED, CaseState.APPROVED, CaseState.QUEUED]
    _, history, _ = await service.get_case(cases[2].case_id)
    queued = next(h for h in history if h["kind"] == "queued")
    assert queued["details"]["green_channel_refused"] == "REV-GL-OVER-CAP"
    assert "REV-GL-OVER-CAP" in cases[2].rule_ids
    gl = await service.licence(number)
    assert gl.remaining() == [Decimal(0)] and gl.status is LicenceStatus.EXHAUSTED
    assert [d["case_id"] for d in gl.draws] == [str(cases[0].case_id), str(cases[1].case_id)]


async def test_an_oxide_licence_does_not_cover_magnets(service: ReviewService, screening: Any) -> None:
    number = await issue_general(service, screening, code="1C905.b")
    case = await _apply(service, screening, number, "100", code="1C905.a")
    assert case.state is CaseState.QUEUED and "REV-GL-ITEM-NOT-COVERED" in case.rule_ids
    assert (await service.licence(number)).remaining() == [Decimal(1000)]
    same = await _apply(service, screening, number, "100", code="1C905.b")
    assert same.state is CaseState.APPROVED


async def test_a_green_channel_export_is_valid_no_longer_than_its_general_licence(
    service: ReviewService, screening: Any
) -> None:
    until = prc_today() + timedelta(days=40)
    number = await issue_general(service, screening, valid_until=until)
    case = await _apply(service, screening, number, "100")
    decision = await decision_of(service, case)
    assert decision.licence is not None and decision.licence.number != number
    assert decision.licence.valid_until == until  # not one year: the general licence ends first
    assert any(number in c for c in decision.licence.conditions)


async def test_an_unnamed_end_user_goes_to_a_reviewer(service: ReviewService, screening: Any) -> None:
    number = await issue_general(service, screening)
    env = with_codes(
        screening(
            Route.GREEN_CHANNEL,
            items=magnet_items("100"),
            general_licence_number=number,
            parties=[
                {"role": "importer", "name": "Other Motors SA", "country": "FR"},
                {"role": "end_user", "name": "Other Motors SA", "country": "FR"},
            ],
        ),
        "1C905.a",
    )
    await service.handle(env, SCREENING)
    case, _, _ = await service.get_case(env.case_id)
    assert case.state is CaseState.QUEUED and "REV-GL-END-USER" in case.rule_ids


async def test_two_concurrent_applications_over_the_cap_do_not_both_pass(
    service: ReviewService, screening: Any, db_url: str
) -> None:
    number = await issue_general(service, screening)
    # Both were screened while 1,000 kg remained; together they want 1,200 kg.
    envs = [
        with_codes(screening(Route.GREEN_CHANNEL, items=magnet_items("600"), general_licence_number=number), "1C905.a")
        for _ in range(2)
    ]
    # Two review instances on the same database, each applying one of them at the same time.
    other_store = Store(db_url)
    other = build_service(ReviewSettings(), other_store)
    try:
        await asyncio.gather(service.handle(envs[0], SCREENING), other.handle(envs[1], SCREENING))
    finally:
        await other_store.dispose()
    states = sorted([(await service.get_case(e.case_id))[0].state.value for e in envs])
    assert states == ["approved", "queued"]
    assert (await service.licence(number)).remaining() == [Decimal(400)]


async def test_concurrent_applications_in_one_batch_do_not_both_pass(service: ReviewService, screening: Any) -> None:
    number = await issue_general(service, screening)
    envs = [
        with_codes(screening(Route.GREEN_CHANNEL, items=magnet_items("600"), general_licence_number=number), "1C905.a")
        for _ in range(2)
    ]
    assert await service.handle_batch([(e, SCREENING) for e in envs]) == []
    states = [(await service.get_case(e.case_id))[0].state for e in envs]
    assert states == [CaseState.APPROVED, CaseState.QUEUED]


def test_general_licence_validity_counts_calendar_years() -> None:
    assert add_years(date(2028, 2, 29), 3) == date(2031, 2, 28)
    assert add_years(date(2027, 3, 1), 3) == date(2030, 3, 1)


async def test_a_three_year_general_licence_spanning_29_february_is_issued(
    service: ReviewService, screening: Any
) -> None:
    start = prc_today()
    number = await issue_general(service, screening, valid_until=add_years(start, 3))
    assert (await service.licence(number)).licence.valid_until == add_years(start, 3)
    with pytest.raises(LicenceTermsError) as err:
        await issue_general(service, screening, valid_until=add_years(start, 3) + timedelta(days=1))
    assert err.value.rule_id == "LIC-VALIDITY-TOO-LONG"


async def test_usage_report_per_general_licence_and_cumulative_across_both_kinds(
    service: ReviewService, screening: Any
) -> None:
    number = await issue_general(service, screening)
    first = await _apply(service, screening, number, "300")
    await _apply(service, screening, number, "200")
    report = await general_licence_usage(service, number)
    assert [(i["control_codes"], i["quantity_cap"], i["drawn"], i["remaining"]) for i in report["items"]] == [
        (["1C905.a"], "1000", "500", "500")
    ]
    assert report["exports"][0]["case_id"] == str(first.case_id)
    assert [e["items"][0]["quantity"] for e in report["exports"]] == ["300", "200"]
    totals = await usage(service)
    [de] = [r for r in totals["by_country"] if r["country"] == "DE"]
    assert Decimal(de["quantity"]) == Decimal(500)  # green-channel draws count; no shipment yet
    [user] = totals["by_end_user"]
    assert user["end_user"] == "antriebstechnik nord gmbh" and Decimal(user["quantity"]) == Decimal(500)


def test_licence_usage_command_prints_the_report(
    tmp_path: Path, screening: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'review.db'}"

    async def fill() -> str:
        store = Store(url)
        await store.migrate()
        try:
            svc = build_service(ReviewSettings(), store)
            number = await issue_general(svc, screening)
            await _apply(svc, screening, number, "250")
            return number
        finally:
            await store.dispose()

    number = asyncio.run(fill())
    monkeypatch.setenv("LANTHANIDE_REVIEW_DB_URL", url)
    cli = lanthanide_cli.main.build()
    result = CliRunner().invoke(cli, ["licence", "usage", number, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["items"][0]["remaining"] == "750" and len(report["exports"]) == 1
    table = CliRunner().invoke(cli, ["licence", "usage", number])
    assert table.exit_code == 0 and "750" in table.output
    missing = CliRunner().invoke(cli, ["licence", "usage", "LNT-1999-000001"])
    assert missing.exit_code == 1 and "no licence LNT-1999-000001" in missing.output
