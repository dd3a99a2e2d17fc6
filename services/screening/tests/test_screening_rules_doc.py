"""docs/rules.md is the register of decision rules: every screening rule id the code can emit has a
row there with its source (announcement and article, or the policy data it rests on) and its dates.
Source: the house rule "rules are documented with their source"; MOFCOM/GAC Announcement 2025
No. 18 and the other announcements are cited in those rows."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
RULES_MD = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
CODE = Path(__file__).resolve().parents[1] / "src" / "lanthanide_screening"
EMPTY = {"", "—", "-"}


def _rows() -> dict[str, list[str]]:
    """rule id -> the cells of its first table row, by header name."""
    rows: dict[str, list[str]] = {}
    header: list[str] = []
    for line in RULES_MD.splitlines():
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
            rows.setdefault(m.group(1), [source, dates])
    return rows


def _emitted() -> set[str]:
    ids: set[str] = set()
    for path in CODE.rglob("*"):
        if path.suffix in {".py", ".yaml"}:
            ids |= set(re.findall(r"\b(SCR-[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)\b", path.read_text(encoding="utf-8")))
    # A prefix the code completes (f"SCR-FLAG-TEXT-{kind}") is no rule of its own.
    return {r for r in ids if not any(o.startswith(r + "-") for o in ids)}


def test_every_screening_rule_has_a_row_with_source_and_dates() -> None:
    rows = _rows()
    emitted = _emitted()
    assert len(emitted) > 30  # the scan found the rule ids
    missing = sorted(r for r in emitted if r not in rows)
    assert not missing, f"rule ids with no row in docs/rules.md: {missing}"
    no_source = sorted(r for r in emitted if rows[r][0] in EMPTY)
    no_dates = sorted(r for r in emitted if rows[r][1] in EMPTY)
    assert not no_source, f"rows without a source: {no_source}"
    assert not no_dates, f"rows without dates: {no_dates}"
