"""Only the case's own submitter changes its contact (rule SUB-CONTACT-OWNER, issue 14 part 3)."""

from __future__ import annotations

import re
from pathlib import Path

from lanthanide.submitters import RULE_CONTACT_OWNER, case_submitter, may_change_contact


def test_only_the_first_submitter_changes_the_contact() -> None:
    assert may_change_contact("api-key:erp-a", "api-key:erp-a")
    assert not may_change_contact("api-key:erp-a", "api-key:erp-b")
    assert not may_change_contact("api-key:erp-a", "kafka:erp-a")  # another credential is another submitter


def test_events_without_a_submitter_behave_as_before() -> None:
    assert may_change_contact(None, "api-key:erp-b")
    assert may_change_contact("api-key:erp-a", None)
    assert may_change_contact(None, None)


def test_the_case_keeps_its_first_known_submitter() -> None:
    assert case_submitter(None, "api-key:erp-a") == "api-key:erp-a"
    assert case_submitter("api-key:erp-a", "api-key:erp-b") == "api-key:erp-a"
    assert case_submitter("api-key:erp-a", None) == "api-key:erp-a"


def test_the_rule_has_a_row_in_the_rules_doc() -> None:
    rules = (Path(__file__).resolve().parents[3] / "docs" / "rules.md").read_text(encoding="utf-8")
    assert re.search(rf"^\| `{RULE_CONTACT_OWNER}` \|", rules, re.M)
