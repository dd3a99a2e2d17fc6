"""docs/rules.md is the register of decision rules: every rule id the code can emit has a row there
with its source (announcement and article, or the policy data it rests on) and its dates.
Source: the house rule "every rule that decides has an id documented with its source"; the
announcements (MOFCOM/GAC 2025 No. 18 and the others) are cited in those rows.
One scan for every package that emits rule ids: screening SCR-, review POL-/REV-/LIC-/CONSOLE-,
intake INT-, the shared library SUB-."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EMPTY = {"", "—", "-"}

#: package source folder -> (rule-id prefixes, file suffixes scanned, fewest ids the scan must find)
EMITTERS = {
    "services/screening/src/lanthanide_screening": (("SCR",), {".py", ".yaml"}, 30),
    "services/review/src/lanthanide_review": (("POL", "REV", "LIC", "CONSOLE"), {".py", ".yaml", ".html"}, 30),
    "services/intake/src/lanthanide_intake": (("INT",), {".py"}, 1),
    "shared/contracts/src/lanthanide": (("SUB",), {".py"}, 1),
}


def _rows() -> dict[str, tuple[str, str]]:
    """rule id -> (source, dates) of its first table row in docs/rules.md."""
    rows: dict[str, tuple[str, str]] = {}
    header: list[str] = []
    for line in (ROOT / "docs" / "rules.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = []
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not header:
            header = [c.casefold() for c in cells]
            continue
        if m := re.fullmatch(r"`([A-Z][A-Z0-9-]+)`", cells[0]):
            source = next((cells[i] for i, h in enumerate(header) if h.startswith("source")), "")
            dates = next((cells[i] for i, h in enumerate(header) if h == "dates"), "")
            rows.setdefault(m.group(1), (source, dates))
    return rows


def _emitted(folder: str, prefixes: tuple[str, ...], suffixes: set[str]) -> set[str]:
    rule = re.compile(rf"\b((?:{'|'.join(prefixes)})-[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*)\b")
    ids: set[str] = set()
    for path in (ROOT / folder).rglob("*"):
        if path.suffix in suffixes:
            ids |= set(rule.findall(path.read_text(encoding="utf-8")))
    # A prefix the code completes (f"SCR-FLAG-TEXT-{kind}") is no rule of its own.
    return {r for r in ids if not any(o.startswith(r + "-") for o in ids)}


@pytest.mark.parametrize("folder", sorted(EMITTERS))
def test_every_rule_id_has_a_row_with_source_and_dates(folder: str) -> None:
    prefixes, suffixes, fewest = EMITTERS[folder]
    rows, emitted = _rows(), _emitted(folder, prefixes, suffixes)
    assert len(emitted) >= fewest, sorted(emitted)  # the scan found the rule ids
    missing = sorted(r for r in emitted if r not in rows)
    assert not missing, f"rule ids with no row in docs/rules.md: {missing}"
    assert not sorted(r for r in emitted if rows[r][0] in EMPTY), "rows without a source"
    assert not sorted(r for r in emitted if rows[r][1] in EMPTY), "rows without dates"
