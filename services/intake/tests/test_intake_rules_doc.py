"""Every intake rule id the code can emit has a row in docs/rules.md (one hop from a rejection
to the rule and its source)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CODE = Path(__file__).resolve().parents[1] / "src" / "lanthanide_intake"


def test_every_intake_rule_id_has_a_row() -> None:
    rules = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    emitted = {r for p in CODE.rglob("*.py") for r in re.findall(r"\bINT-[A-Z0-9]+(?:-[A-Z0-9]+)+\b", p.read_text())}
    assert "INT-SUBMITTER-EXPORTER" in emitted
    missing = sorted(r for r in emitted if not re.search(rf"^\| `{r}` \|", rules, re.M))
    assert not missing, f"intake rule ids with no row in docs/rules.md: {missing}"
