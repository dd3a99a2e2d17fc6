"""The schema compatibility gate: each event's JSON Schema against the one committed in
docs/schemas. A change that would break an existing reader (a field removed or retyped, a field
newly required) fails unless the contracts' major version (SCHEMA_VERSION) is bumped; additive
changes pass. `make docs` re-exports the committed schemas."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from lanthanide.contracts.envelope import SCHEMA_VERSION
from lanthanide.contracts.events import EVENT_TYPES
from lanthanide.schema import breaking_changes, compatibility_report, event_schema

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def test_no_breaking_change_without_a_major_version_bump() -> None:
    report = list(compatibility_report(COMMITTED))
    assert {event for event, *_ in report} == set(EVENT_TYPES), "docs/schemas misses events: run `make docs`"
    unbumped = {event: changes for event, changes, committed, current in report if changes and current <= committed}
    assert not unbumped, (
        f"breaking schema changes within major version {SCHEMA_VERSION}: {unbumped}; make them additive "
        "(optional fields with defaults) or bump SCHEMA_VERSION and re-run `make docs`"
    )


def test_committed_schemas_are_current() -> None:
    for event_type in EVENT_TYPES:
        committed = json.loads((COMMITTED / f"{event_type}.schema.json").read_text())
        assert committed == event_schema(event_type), f"docs/schemas/{event_type} is stale: run `make docs`"


def _decision() -> dict[str, Any]:
    return copy.deepcopy(event_schema("decision.made"))


def test_the_gate_sees_removed_retyped_and_newly_required_fields() -> None:
    old = _decision()
    payload = old["$defs"]["DecisionMade"]
    removed = copy.deepcopy(old)
    del removed["$defs"]["DecisionMade"]["properties"]["external_reference"]
    assert breaking_changes(old, removed) == ["payload.external_reference: removed"]
    retyped = copy.deepcopy(old)
    retyped["$defs"]["DecisionMade"]["properties"]["decided_by"] = {"type": "integer"}
    assert breaking_changes(old, retyped) == ["payload.decided_by: type ['string'] -> ['integer']"]
    required = copy.deepcopy(old)
    assert "countersigned_by" not in payload.get("required", [])
    required["$defs"]["DecisionMade"]["required"].append("countersigned_by")
    assert breaking_changes(old, required) == ["payload.countersigned_by: newly required"]
    nested = copy.deepcopy(old)
    del nested["$defs"]["Licence"]["properties"]["number"]
    assert breaking_changes(old, nested) == ["payload.licence.number: removed"]


def test_additive_changes_pass_the_gate() -> None:
    old = _decision()
    new = copy.deepcopy(old)
    new["$defs"]["DecisionMade"]["properties"]["appeal_until"] = {
        "anyOf": [{"format": "date", "type": "string"}, {"type": "null"}], "default": None,
    }
    new["properties"]["new_envelope_field"] = {"type": "string", "default": ""}
    route = new["$defs"]["Route"]
    route["enum"] = [*route["enum"], "a-new-route"]
    new["$defs"]["DecisionMade"]["description"] = "changed words"
    assert breaking_changes(old, new) == []
