"""The matching library: normalisation, loaders for every format, retrieval and scoring."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from lanthanide_screening.matching.index import build_index
from lanthanide_screening.matching.loaders import (
    PRC_CONTROL,
    PRC_COUNTER,
    PRC_UEL,
    ListFormatError,
    detect_format,
    load_lists,
)
from lanthanide_screening.matching.normalise import normalise_name

from .conftest import shared_data_dir

LISTS = shared_data_dir() / "lists"
# These tests read the raw public sources (LANTHANIDE_SHARED_DATA); the product does not need them.
pytestmark = pytest.mark.skipif(not LISTS.is_dir(), reason=f"raw list sources not found at {LISTS}")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Ganzhou Rare Earth Co., Ltd.", "GANZHOU RARE EARTH COMPANY LIMITED"),
        ("Acme LLC", "ACME, L.L.C."),
        ("ООО Ромашка", "Romashka OOO"),
        ("Müller & Söhne GmbH", "MULLER AND SOHNE GMBH"),
        ("O'Rourke, Beto", "Beto ORourke"),
        ("Αθήνα Shipping", "Athena Shipping"),
    ],
)
def test_variants_normalise_to_the_same_key(a: str, b: str) -> None:
    assert normalise_name(a).sorted_key == normalise_name(b).sorted_key


def test_legal_forms_are_set_aside_and_canonical() -> None:
    n = normalise_name("Hudson Technologies Co., Ltd.")
    assert n.tokens == ("hudson", "technologies") and n.legal_forms == {"ltd"}
    assert normalise_name("AO Kaspersky Lab").legal_forms == {"jsc"}


def test_chinese_names_get_pinyin_tokens_and_a_han_key() -> None:
    n = normalise_name("洛克希德·马丁公司")
    assert n.han == "洛克希德·马丁".replace("·", "") and "luo" in n.tokens


def test_prc_loader_assigns_lists_from_the_announcement_not_the_tag() -> None:
    lists = {lst.list_id: lst for lst in load_lists(LISTS / "prc")}
    assert set(lists) == {PRC_CONTROL, PRC_UEL, PRC_COUNTER}
    control_ids = {e.entry_id for e in lists[PRC_CONTROL].entries}
    # MOFCOM 2025 No. 1 is tagged as counter-sanctions in the data but is a control-list announcement.
    assert "1-lockheed-martin-corporation" in control_ids
    assert not any(e.entry_id == "1-lockheed-martin-corporation" for e in lists[PRC_COUNTER].entries)
    assert len(lists[PRC_CONTROL].entries) == 102  # 101 in all.jsonld + 1 completed from the YAML
    names = {n.name for e in lists[PRC_CONTROL].entries for n in e.names}
    assert "三菱重工海洋机械株式会社" in names
    assert all(lst.version.count("+sha256:") == 1 for lst in lists.values())


def test_prc_suspensions_and_stops_come_from_the_update_announcements() -> None:
    uel = next(lst for lst in load_lists(LISTS / "prc") if lst.list_id == PRC_UEL)
    by_program: dict[str, list] = {}
    for e in uel.entries:
        by_program.setdefault(e.program or "", []).append(e)
    stopped = by_program["〔2025〕8号"]
    assert all(e.stopped_from == date(2025, 8, 12) for e in stopped)
    assert not stopped[0].in_force_on(date(2026, 1, 1)) and stopped[0].in_force_on(date(2025, 5, 1))
    suspended = by_program["〔2025〕7号"][0]
    assert not suspended.in_force_on(date(2025, 6, 1))


def test_ofac_loader_joins_aliases_and_drops_the_eof_byte() -> None:
    [sdn] = load_lists(LISTS / "ofac_sdn_2021-07")
    assert sdn.list_id == "ofac-sdn" and len(sdn.entries) == 8976
    assert sum(len(e.names) - 1 for e in sdn.entries) == 11910
    assert sdn.as_of == date(2021, 7, 1)
    types = {e.entity_type for e in sdn.entries}
    assert types == {"person", "organization", "vessel", "aircraft"}


def test_other_formats_are_detected_and_loaded() -> None:
    [un] = load_lists(LISTS / "un_consolidated" / "UN_consolidated.xml")
    assert len(un.entries) == 1003 and un.as_of == date(2026, 2, 27)
    assert any(n.name_type == "original_script" for e in un.entries for n in e.names)
    [csl] = load_lists(LISTS / "csl_subsets" / "csl_subset_2019.csv")
    assert len(csl.entries) == 115
    [dpl] = load_lists(LISTS / "bis_dpl" / "dpl_2022-09.txt")
    assert 440 <= len(dpl.entries) <= 459
    [cons] = load_lists(LISTS / "ofac_nonsdn_consolidated_2025-12")
    assert cons.list_id == "ofac-nonsdn" and len(cons.entries) == 442


def test_flat_csv_groups_aliases_and_reports_bad_rows(tmp_path: Path) -> None:
    good = tmp_path / "inhouse.csv"
    good.write_text(
        "list_id,entry_id,name,name_type,entity_type,country,program\n"
        "inhouse-watch,1,Red Dragon Trading,primary,organization,HK,KYC\n"
        "inhouse-watch,1,RDT Ltd,aka,organization,HK,KYC\n"
    )
    [lst] = load_lists(good)
    assert lst.kind == "watch" and [n.name for n in lst.entries[0].names] == ["Red Dragon Trading", "RDT Ltd"]
    bad = tmp_path / "bad.csv"
    bad.write_text("list_id,entry_id,name\ninhouse-watch,1,\n")
    with pytest.raises(ListFormatError, match=r"bad.csv:2: empty name"):
        load_lists(bad)
    with pytest.raises(ListFormatError, match="no such file"):
        detect_format(tmp_path / "missing.csv")


@pytest.fixture(scope="module")
def sdn_index():  # type: ignore[no-untyped-def]
    return build_index(load_lists(LISTS / "ofac_sdn_2021-07"))


@pytest.mark.parametrize(
    ("query", "etype", "expected"),
    [
        ("BANCO NACIONAL DE CUBA", "organization", "BANCO NACIONAL DE CUBA"),
        ("Banco Nacional de Kuba", "organization", "BANCO NACIONAL DE CUBA"),  # typo
        ("Nacional de Cuba, Banco", "organization", "BANCO NACIONAL DE CUBA"),  # order
    ],
)
def test_variants_retrieve_the_entry_first(sdn_index, query: str, etype: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    best = sdn_index.search(query, entity_type=etype, top=1)[0]
    assert best.entry.primary_name == expected and best.score >= 0.88


def test_person_name_order_does_not_matter(sdn_index) -> None:  # type: ignore[no-untyped-def]
    entry = next(e for lst in sdn_index.lists for e in lst.entries if e.entity_type == "person")
    last, _, first = entry.primary_name.partition(", ")
    best = sdn_index.search(f"{first} {last}", entity_type="person", top=1)[0]
    assert best.entry.entry_id == entry.entry_id and best.score == 1.0


def test_entity_type_mismatch_is_penalised_and_explained(sdn_index) -> None:  # type: ignore[no-untyped-def]
    vessel = next(e for lst in sdn_index.lists for e in lst.entries if e.entity_type == "vessel")
    m = sdn_index.search(vessel.primary_name, entity_type="organization", top=1)[0]
    assert m.entry.entry_id == vessel.entry_id and m.score < 0.8
    assert "entry is a vessel" in m.explanation()


def test_unrelated_name_finds_nothing_above_the_alert_threshold(sdn_index) -> None:  # type: ignore[no-untyped-def]
    assert sdn_index.search("Antriebstechnik Nord GmbH", entity_type="organization", threshold=0.88) == []
