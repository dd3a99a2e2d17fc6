"""docs/rules.md lists every rule id review can emit (routing policy POL-, casework REV-, licences
and shipments LIC-, console CONSOLE-) with its source and its dates, like screening's rules.
Source: the house rule "every rule that decides has an id documented with its source"."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CODE = Path(__file__).resolve().parents[1] / "src" / "lanthanide_review"
EMPTY = {"", "—", "-"}
RULE = re.compile(r"\b((?:POL|REV|LIC|CONSOLE)-[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*)\b")


def _rows() -> dict[str, tuple[str, str]]:
    """rule id -> (source, dates) of its first row in docs/rules.md."""
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


def _emitted() -> set[str]:
    ids: set[str] = set()
    for path in CODE.rglob("*"):
        if path.suffix in {".py", ".yaml", ".html"}:
            ids |= set(RULE.findall(path.read_text(encoding="utf-8")))
    # A prefix the code completes (f"REV-GL-{kind}") is no rule of its own.
    return {r for r in ids if not any(o.startswith(r + "-") for o in ids)}


def test_every_review_rule_has_a_row_with_source_and_dates() -> None:
    rows, emitted = _rows(), _emitted()
    assert len(emitted) > 30  # the scan found the rule ids
    missing = sorted(r for r in emitted if r not in rows)
    assert not missing, f"review rule ids with no row in docs/rules.md: {missing}"
    assert not sorted(r for r in emitted if rows[r][0] in EMPTY), "rows without a source"
    assert not sorted(r for r in emitted if rows[r][1] in EMPTY), "rows without dates"
