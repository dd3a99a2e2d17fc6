"""The routing policy as versioned data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from lanthanide.contracts import Route
from lanthanide_review.domain.policy import (
    PolicyAction,
    PolicyError,
    load_policy,
    parse_policy,
    routing_change,
)

SHIPPED = load_policy()


def test_the_shipped_policy_covers_every_route_with_stable_rule_ids() -> None:
    ids = {r.route: r.id for r in SHIPPED.rules}
    assert ids == {
        Route.NO_LICENCE_REQUIRED: "POL-AUTO-NLR",
        Route.DENY: "POL-AUTO-DENY",
        Route.GREEN_CHANNEL: "POL-GREEN-CHANNEL",
        Route.STANDARD: "POL-QUEUE-STANDARD",
        Route.ENHANCED: "POL-QUEUE-ENHANCED",
        Route.INCOMPLETE: "POL-INCOMPLETE",
    }
    assert SHIPPED.rule_for(Route.ENHANCED).countersign_required


def _doc(**changes: object) -> dict[str, object]:
    text = Path(__file__).resolve().parents[1] / "src/lanthanide_review/data/routing_policy.yaml"
    data: dict[str, object] = yaml.safe_load(text.read_text())
    data.update(changes)
    return data


def test_a_policy_missing_a_route_is_refused_with_the_route_named() -> None:
    doc = _doc()
    doc["rules"] = [r for r in doc["rules"] if r["route"] != "enhanced"]  # type: ignore[attr-defined]
    with pytest.raises(PolicyError, match=r"no rule for route.*enhanced"):
        parse_policy(yaml.safe_dump(doc), "test.yaml")


def test_unknown_fields_are_refused_with_their_location() -> None:
    with pytest.raises(PolicyError, match="hard_denial"):
        parse_policy(yaml.safe_dump(_doc(hard_denial="auto")), "test.yaml")


def test_reviewer_confirmed_hard_denials_are_queued_and_replay_shows_it() -> None:
    confirmed = parse_policy(yaml.safe_dump(_doc(hard_denials="reviewer_confirmed", version="2026.2")))
    assert confirmed.effective_action(confirmed.rule_for(Route.DENY)) is PolicyAction.QUEUE
    assert routing_change(SHIPPED, confirmed, Route.DENY) == {"action": {"from": "deny", "to": "queue"}}
    assert routing_change(SHIPPED, confirmed, Route.STANDARD) is None
