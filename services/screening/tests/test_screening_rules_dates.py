"""Classification and dates (docs/rules.md, "Classification and dates"): one test per rule, each
naming its source, with the case that must fire and the near case that must not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from lanthanide.contracts import ApplicationAccepted, Item, Route
from lanthanide.testing.factories import civilian_application
from lanthanide_screening.adapters.store import ScreeningStore
from lanthanide_screening.domain.classify import classify, no_licence_valid_until
from lanthanide_screening.domain.reference import load_measures
from lanthanide_screening.domain.screen import ScreeningEngine
from lanthanide_screening.entrypoints.http import make_app
from lanthanide_screening.service_layer.handlers import Screening
from lanthanide_screening.settings import ScreeningSettings

MEASURES = load_measures()
Make = Callable[..., ApplicationAccepted]
AFTER_NO_70 = date(2026, 12, 1)  # No. 70's suspension over (the data's assumption)
DURING_NO_70 = date(2026, 6, 1)


def item(**kw: Any) -> Item:
    base: dict[str, Any] = {
        "description": "test item",
        "quantity": "10",
        "unit": "kg",
        "value": "10000",
        "currency": "USD",
    }
    return Item.model_validate(base | kw)


def app_with(items: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    app = civilian_application(**kw)
    app["items"] = [{"quantity": "10", "unit": "kg", "value": "10000", "currency": "USD"} | i for i in items]
    return app


def on(engine: ScreeningEngine, make: Make, app: dict[str, Any], day: date) -> Any:
    return engine.screen(make(app), day)


# ---------------------------------------------------------------- 1. one PRC as-of date


def test_as_of_is_the_prc_receipt_date_across_midnight_in_both_zones() -> None:
    """ECL/Regulations: dates are PRC dates; the as-of date is the receipt date in Asia/Shanghai."""
    app = civilian_application()
    from lanthanide.contracts import Application

    parsed = Application.model_validate(app)
    late = ApplicationAccepted(
        external_reference="R", application=parsed, received_at=datetime(2026, 5, 31, 17, 0, tzinfo=UTC), complete=True
    )
    early = ApplicationAccepted(
        external_reference="R", application=parsed, received_at=datetime(2026, 5, 31, 15, 59, tzinfo=UTC), complete=True
    )
    assert late.as_of_date == date(2026, 6, 1)  # 01:00 in Shanghai: the next PRC day
    assert early.as_of_date == date(2026, 5, 31)  # 23:59 in Shanghai: still the same day
    # Carried, not recomputed: a consumer reading it back gets the same date.
    assert ApplicationAccepted.model_validate_json(late.model_dump_json()).as_of == date(2026, 6, 1)


async def test_screening_uses_the_as_of_date_not_its_own_clock(engine: ScreeningEngine, tmp_path: Path) -> None:
    """A replay or a lagging consumer never moves the as-of date: screened_on is the receipt date."""
    from lanthanide.contracts import Application
    from lanthanide.events import EventFactory

    store = ScreeningStore(f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
    await store.start()
    screening = Screening(ScreeningSettings(), engine, store)
    app = Application.model_validate(civilian_application("ASOF-1"))
    accepted = ApplicationAccepted(
        external_reference="ASOF-1",
        application=app,
        received_at=datetime(2026, 3, 1, 16, 30, tzinfo=UTC),
        complete=True,
    )
    env = EventFactory("intake-test").new("application.accepted", accepted)
    (out,) = await screening.handle(env)
    assert out.envelope.payload.screened_on == date(2026, 3, 2)
    assert out.envelope.payload.as_of_basis == "receipt"
    rescreen = engine.screen(accepted, date(2026, 12, 1), is_rescreen=True)
    assert rescreen.screened_on == date(2026, 12, 1) and rescreen.as_of_basis == "rescreen"
    await store.close()


def test_no_licence_required_states_its_date_and_valid_until(engine: ScreeningEngine, make_accepted: Make) -> None:
    """No. 57 (Ho) is suspended by No. 70 until 2026-11-10: an NLR on 2026-11-10 holds that day only;
    with no measure touching the items (Ce), the policy's default period applies."""
    holmium = app_with(
        [{"description": "Holmium oxide", "form": "oxide", "elements": [{"element": "Ho", "percent": "99"}]}]
    )
    r = on(engine, make_accepted, holmium, date(2026, 11, 10))
    assert r.route is Route.NO_LICENCE_REQUIRED and r.valid_until == date(2026, 11, 10)
    assert "decided for 2026-11-10, valid until 2026-11-10" in r.route_reasons[0]
    assert on(engine, make_accepted, holmium, date(2026, 11, 11)).route is not Route.NO_LICENCE_REQUIRED
    cerium = [item(form="oxide", elements=[{"element": "Ce", "percent": "90"}])]
    assert no_licence_valid_until(AFTER_NO_70, cerium, MEASURES) == date(2027, 3, 1)  # 90 days
    # Before No. 70 ends, a Ho answer is bounded by its end even months ahead.
    ho = [item(form="oxide", elements=[{"element": "Ho", "percent": "99"}])]
    assert no_licence_valid_until(date(2026, 10, 1), ho, MEASURES) == date(2026, 11, 10)


def test_what_if_cli_prints_classification_measures_and_route(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`lanthanide classify APP --on DATE`: the same application answers differently either side of No. 70's end."""
    import json

    from click.testing import CliRunner
    from lanthanide_cli.main import build

    path = tmp_path / "app.json"
    path.write_text(
        json.dumps(
            app_with(
                [{"description": "Erbium oxide", "form": "oxide", "elements": [{"element": "Er", "percent": "99"}]}]
            )
        )
    )
    monkeypatch.setenv("LANTHANIDE_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    before = runner.invoke(build(), ["classify", str(path), "--on", "2026-11-10"])
    after = runner.invoke(build(), ["classify", str(path), "--on", "2026-11-11"])
    assert before.exit_code == 0 and after.exit_code == 0, before.output + after.output
    b = json.loads(before.stdout[before.stdout.index("{") :])
    a = json.loads(after.stdout[after.stdout.index("{") :])
    assert b["route"] == "no_licence_required" and b["as_of"] == "2026-11-10" and b["valid_until"] == "2026-11-10"
    assert a["route"] == "standard" and a["classifications"][0]["control_codes"] == ["1C910.b"]
    no57 = {m["id"]: m for m in a["measures"]}["MOFCOM-2025-57"]
    assert no57["in_force"] and no57["touches_items"]
    assert not {m["id"]: m for m in b["measures"]}["MOFCOM-2025-57"]["in_force"]
    # The route's reasons are structured (rule id, measure, version), not "RULE: text" strings.
    controlled = [r for r in a["reasons"] if r.get("measure_id") == "MOFCOM-2025-57"]
    assert controlled and all(r["code"].startswith("SCR-") and r.get("version") for r in controlled)
    bad = runner.invoke(build(), ["classify", str(path), "--on", "11/11/2026"])
    assert bad.exit_code != 0 and "--on" in bad.output


async def test_what_if_http_needs_a_token_and_creates_no_case(engine: ScreeningEngine, tmp_path: Path) -> None:
    """The screening API's what-if route is authenticated like its other non-health routes."""
    store = ScreeningStore(f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
    await store.start()
    screening = Screening(ScreeningSettings(tokens={"tok-officer": {"user": "officer", "roles": ["exporter"]}}),
                          engine, store)
    body = {"application": civilian_application("WHATIF-HTTP"), "on": "2025-04-03"}
    transport = httpx.ASGITransport(app=make_app(screening, screening.settings.authenticator()))
    async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
        assert (await client.post("/what-if", json=body)).status_code == 401
        assert (await client.post("/screen-name", json={"name": "x"})).status_code == 401
        assert (await client.get("/healthz")).status_code == 200
        ok = await client.post("/what-if", json=body, headers={"Authorization": "Bearer tok-officer"})
        later = await client.post(
            "/what-if", json=body | {"on": "2025-04-04"}, headers={"Authorization": "Bearer tok-officer"}
        )
    assert ok.status_code == 200, ok.text
    # The Dy magnet of the factory application: free the day before No. 18, controlled from it.
    assert ok.json()["route"] == "no_licence_required" and later.json()["route"] == "standard"
    assert await store.cases_to_rescreen(date(2026, 12, 1)) == []
    await store.close()


# ---------------------------------------------------------------- 3. classification


@pytest.mark.parametrize(
    ("description", "hs"),
    [("Dysprosium oxide 99.9 %", None), ("Rare earth powder", "2846901940"), ("Sputtering target", "3824999922")],
)
def test_controlled_material_without_composition_is_incomplete(
    engine: ScreeningEngine, make_accepted: Make, description: str, hs: str | None
) -> None:
    """No. 18: a named controlled element/compound, or a No. 18 reference HS code, without a declared
    composition is incomplete (information requested: composition), never no-licence-required."""
    it: dict[str, Any] = {"description": description, "form": "oxide"} | ({"hs_code": hs} if hs else {})
    r = on(engine, make_accepted, app_with([it]), AFTER_NO_70)
    assert r.route is Route.INCOMPLETE and not r.complete
    assert "items.0.composition:missing" in r.missing_documents
    assert r.classifications[0].information_requested == ["composition"]
    assert "SCR-CLASS-COMPOSITION-MISSING" in r.rule_ids


def test_uncontrolled_material_without_composition_is_not_held_up(engine: ScreeningEngine, make_accepted: Make) -> None:
    """Near case of SCR-CLASS-COMPOSITION-MISSING: cerium oxide (HS 2846101000) is no No. 18 item."""
    r = on(
        engine,
        make_accepted,
        app_with([{"description": "Cerium oxide polishing powder", "form": "oxide", "hs_code": "2846101000"}]),
        AFTER_NO_70,
    )
    assert r.route is Route.NO_LICENCE_REQUIRED and r.complete


@pytest.mark.parametrize(
    ("element", "form", "extra", "description", "code"),
    [
        ("Sm", "magnet", [{"element": "Co", "percent": "60"}], "magnet", "1C902.a"),
        ("Sm", "magnet", [], "Samarium-cobalt magnet", "1C902.a"),
        ("Sm", "magnet", [{"element": "Fe", "percent": "70"}], "Sm-Fe-N bonded magnet", None),
        ("Dy", "magnet", [{"element": "Nd", "percent": "28"}], "magnet", "1C905.a"),
        ("Tb", "magnet", [], "Terbium-iron magnetostrictive magnet", None),
        ("Gd", "magnet", [{"element": "Nd", "percent": "28"}], "NdFeB magnet with gadolinium", None),
        ("Y", "magnet", [], "yttrium magnet", None),
        ("Gd", "oxide", [], "Gadolinium oxide", "1C903.b"),
        ("Dy", "finished_good", [{"element": "Nd", "percent": "28"}], "Traction motor", None),
    ],
)
def test_sub_items_exactly_as_no_18_lists_them(
    element: str, form: str, extra: list[dict[str, str]], description: str, code: str | None
) -> None:
    """No. 18 items I-VII: magnet materials only SmCo (Sm) and NdFeB with Tb/Dy; no magnet entry for
    Gd, Lu, Sc, Y; finished goods are not listed."""
    r = classify(
        item(description=description, form=form, elements=[{"element": element, "percent": "5"}, *extra]),
        AFTER_NO_70,
        MEASURES,
    )
    if code:
        assert r.licence_required and r.control_codes == [code] and r.measure_ids == ["MOFCOM-2025-18"]
    else:
        assert not r.licence_required and "SCR-CLASS-NOT-A-LISTED-FORM" in r.rule_ids


def _foreign(dy_value: str, nd_value: str = "3000") -> Item:
    return item(
        description="NdFeB magnet made in Germany",
        form="magnet",
        foreign_made=True,
        elements=[{"element": "Nd", "percent": "28"}, {"element": "Dy", "percent": "4"}],
        china_origin_materials=[{"element": "Dy", "value": dy_value}, {"element": "Nd", "value": nd_value}],
    )


def test_foreign_made_item_falls_only_under_no_61_with_its_de_minimis() -> None:
    """No. 61 Art. 1: foreign-made Part-2 items need a licence at >= 0.1 % China-origin Part-1 value;
    Nd is not a Part-1 material and is not counted; No. 18 does not apply to foreign-made items."""
    below = classify(_foreign("5"), AFTER_NO_70, MEASURES)  # 5/10000 = 0.05 %, Nd's 3000 not counted
    assert not below.licence_required and below.de_minimis == "below"
    assert below.de_minimis_ratio is not None and float(below.de_minimis_ratio) == pytest.approx(0.0005)
    assert "SCR-CLASS-FOREIGN-BELOW-DE-MINIMIS" in below.rule_ids and "0.05 %" in below.explanation
    assert "MOFCOM-2025-18" not in below.measure_ids
    above = classify(_foreign("10"), AFTER_NO_70, MEASURES)  # exactly 0.1 %
    assert above.licence_required and above.de_minimis == "at_or_above" and above.measure_ids == ["MOFCOM-2025-61"]
    assert "0.1 %" in above.explanation
    suspended = classify(_foreign("10"), DURING_NO_70, MEASURES)
    assert not suspended.licence_required and "suspended by MOFCOM-2025-70" in suspended.explanation


@pytest.mark.parametrize(
    ("element", "day", "measure", "controlled"),
    [
        ("Ho", date(2026, 11, 11), "MOFCOM-2025-57", True),
        ("Ho", date(2026, 11, 10), "MOFCOM-2025-57", False),
        ("Eu", date(2025, 11, 6), "MOFCOM-2025-57", False),
        ("Dy", date(2026, 6, 1), "MOFCOM-2025-18", True),
    ],
)
def test_each_control_cites_the_announcement_that_imposes_it(
    element: str, day: date, measure: str, controlled: bool
) -> None:
    """Ho/Er/Tm/Eu/Yb: No. 57 (in force 2025-11-08, suspended by No. 70 until 2026-11-10); No. 18 not suspended."""
    r = classify(item(form="oxide", elements=[{"element": element, "percent": "99"}]), day, MEASURES)
    assert r.licence_required is controlled
    assert (r.measure_ids == [measure]) if controlled else (measure in r.explanation)


def test_technologies_are_no_62_from_2025_10_09_and_no_70_is_only_a_window() -> None:
    """No. 62 Art. I: 1E902 in force on publication (2025-10-09); No. 70 suspends it from 2025-11-07
    and imposes nothing itself."""
    tech = item(
        description="Rare-earth separation and smelting process know-how", form="technology", quantity="1", unit="set"
    )
    assert "1E902.a" in classify(tech, date(2025, 10, 9), MEASURES).control_codes
    assert "1E902.a" not in classify(tech, date(2025, 10, 8), MEASURES).control_codes
    assert "1E902.a" not in classify(tech, date(2025, 11, 7), MEASURES).control_codes
    no70 = MEASURES.get("MOFCOM-2025-70")
    assert no70 is not None and no70.kind == "suspension" and not no70.controls and not no70.technology_codes


def test_no_56_equipment_is_a_dated_measure() -> None:
    """No. 56 (in force 2025-11-08, suspended by No. 70 until 2026-11-10): listed equipment by description."""
    furnace = item(description="Rare earth metal smelting furnace", form="other", quantity="1", unit="piece")
    assert classify(furnace, date(2026, 11, 11), MEASURES).measure_ids == ["MOFCOM-2025-56"]
    assert not classify(furnace, date(2026, 11, 10), MEASURES).licence_required
    plain = item(description="Industrial furnace for ceramics", form="other", quantity="1", unit="piece")
    assert not classify(plain, date(2026, 11, 11), MEASURES).licence_required


def test_a_technology_application_is_never_no_licence_required(engine: ScreeningEngine, make_accepted: Make) -> None:
    """Catalogue of Technologies Prohibited or Restricted from Export (rare-earth technologies):
    even while No. 62 is suspended, a technology goes to a reviewer."""
    tech = app_with(
        [
            {
                "description": "Rare-earth separation process know-how",
                "form": "technology",
                "quantity": "1",
                "unit": "set",
            }
        ]
    )
    r = on(engine, make_accepted, tech, DURING_NO_70)
    assert r.route is Route.STANDARD and r.licence_required
    assert "CATALOGUE-TECH-EXPORT" in r.classifications[0].measure_ids and "SCR-CLASS-TECH-REVIEW" in r.rule_ids
    other = app_with(
        [{"description": "Warehouse software licence", "form": "technology", "quantity": "1", "unit": "set"}]
    )
    assert on(engine, make_accepted, other, DURING_NO_70).route is Route.STANDARD
    goods = app_with(
        [{"description": "Cerium oxide", "form": "oxide", "elements": [{"element": "Ce", "percent": "90"}]}]
    )
    assert on(engine, make_accepted, goods, DURING_NO_70).route is Route.NO_LICENCE_REQUIRED


# ---------------------------------------------------------------- 4. humanitarian exemption


def test_humanitarian_exemption_applies_only_to_no_61_items(engine: ScreeningEngine, make_accepted: Make) -> None:
    """No. 61 Art. 5: emergency relief by operators abroad, No. 61 items only, reported within 10 working
    days; suspended with No. 61; none under No. 18."""
    magnet = _foreign("50").model_dump(mode="json")
    relief = {
        "category": "humanitarian",
        "description": "MRI magnets for an emergency field hospital after the earthquake",
    }
    app = app_with([magnet], humanitarian=True, end_use=relief)
    app["planned_export_date"] = "2026-12-04"
    r = on(engine, make_accepted, app, AFTER_NO_70)
    assert r.route is Route.NO_LICENCE_REQUIRED and r.exemption is not None
    assert r.exemption.rule_id == "SCR-EXEMPT-HUMANITARIAN" and r.exemption.measure_id == "MOFCOM-2025-61-ART5"
    assert r.exemption.report_within_working_days == 10 and r.exemption.planned_export_date == date(2026, 12, 4)
    # Not humanitarian: the same item needs a licence.
    plain = app_with([magnet])
    assert on(engine, make_accepted, plain, AFTER_NO_70).route is Route.STANDARD
    # Documents are still required: a missing certificate makes it incomplete, exemption or not.
    missing = engine.screen(make_accepted(app, complete=False, missing=["end_user_certificate:missing"]), AFTER_NO_70)
    assert missing.route is Route.INCOMPLETE and missing.exemption is None
