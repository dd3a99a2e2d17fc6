"""The routing policy: versioned data (YAML) that maps a screening route to what review does.

Rule ids ("POL-AUTO-DENY", ...) are stable strings: they go into DecisionMade.rule_ids and case
events so a reader finds the rule that decided a case in one hop.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Literal, Self

import yaml
from lanthanide.contracts import LicenceType, Route
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class PolicyAction(StrEnum):
    DECIDE_NO_LICENCE_REQUIRED = "decide_no_licence_required"
    DENY = "deny"
    APPROVE = "approve"
    QUEUE = "queue"
    REQUEST_INFORMATION = "request_information"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyRule(_Strict):
    id: str = Field(pattern=r"^POL-[A-Z0-9-]+$")
    route: Route
    action: PolicyAction
    queue: str | None = None
    countersign_required: bool = False
    licence_type: LicenceType = LicenceType.SINGLE
    licence_validity_days: int = Field(default=365, gt=0)
    description: str = ""


class SlaPolicy(_Strict):
    working_days: int = Field(default=45, gt=0)
    warning_thresholds: list[int] = Field(default_factory=lambda: [10, 5, 0])
    due_soon_working_days: int = Field(default=5, ge=0)
    clock_off_list_kinds: list[str] = Field(default_factory=lambda: ["watch"])
    #: PRC working days to close a licence-review item (re-screening suspended a licence).
    licence_review_working_days: int = Field(default=10, gt=0)


class LicencePolicy(_Strict):
    single_max_validity_days: int = Field(default=365, gt=0)
    general_max_validity_days: int = Field(default=1095, gt=0)
    #: General licences count calendar years (Regulations: at most 3 years), not days.
    general_max_validity_years: int = Field(default=3, gt=0, le=3)
    single_consumed_by_first_shipment: bool = True


class RoutingPolicy(_Strict):
    """One version of the policy. Every Route must have exactly one rule."""

    version: str = Field(min_length=1)
    effective_from: date
    hard_denials: Literal["auto", "reviewer_confirmed"] = "auto"
    rules: list[PolicyRule]
    sla: SlaPolicy = Field(default_factory=SlaPolicy)
    licences: LicencePolicy = Field(default_factory=LicencePolicy)

    @model_validator(mode="after")
    def _one_rule_per_route(self) -> Self:
        routes = [r.route for r in self.rules]
        missing = sorted(set(Route) - set(routes))
        duplicated = sorted({r for r in routes if routes.count(r) > 1})
        if missing:
            raise ValueError(f"rules: no rule for route(s) {', '.join(missing)}")
        if duplicated:
            raise ValueError(f"rules: more than one rule for route(s) {', '.join(duplicated)}")
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError("rules: rule ids must be unique")
        return self

    def rule_for(self, route: Route) -> PolicyRule:
        """The rule that applies to a route (the validator guarantees there is one)."""
        return next(r for r in self.rules if r.route is route)

    def effective_action(self, rule: PolicyRule) -> PolicyAction:
        """The action after the hard-denial setting: a reviewer-confirmed denial is queued."""
        if rule.action is PolicyAction.DENY and self.hard_denials == "reviewer_confirmed":
            return PolicyAction.QUEUE
        return rule.action


class PolicyError(ValueError):
    """The policy file is not valid; the message names the file and the fields."""


def parse_policy(text: str, origin: str = "<policy>") -> RoutingPolicy:
    """Parse and validate a policy document; PolicyError says where it is wrong."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{origin}: not valid YAML: {exc}") from None
    try:
        return RoutingPolicy.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"{origin}: invalid routing policy: {details}") from None


def load_policy(path: Path | None = None) -> RoutingPolicy:
    """The policy from a file, or the one shipped in the package when no path is given."""
    if path is None:
        text = resources.files("lanthanide_review").joinpath("data/routing_policy.yaml").read_text(encoding="utf-8")
        return parse_policy(text, "lanthanide_review/data/routing_policy.yaml")
    return parse_policy(path.read_text(encoding="utf-8"), str(path))


def routing_outcome(policy: RoutingPolicy, route: Route) -> dict[str, object]:
    """What a policy does with a route: rule id, effective action, queue, countersign."""
    rule = policy.rule_for(route)
    return {
        "rule_id": rule.id,
        "action": policy.effective_action(rule).value,
        "queue": rule.queue,
        "countersign_required": rule.countersign_required,
    }


def routing_change(old: RoutingPolicy, new: RoutingPolicy, route: Route) -> dict[str, dict[str, object]] | None:
    """The difference between two policies for one route, or None when they agree."""
    before, after = routing_outcome(old, route), routing_outcome(new, route)
    changed = {k: {"from": before[k], "to": after[k]} for k in before if before[k] != after[k]}
    return changed or None
