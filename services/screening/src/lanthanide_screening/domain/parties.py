"""Restricted-party screening of every party and every named owner, with the 50% ownership rule.

Rule ids (one per list kind, plus ownership):
  SCR-PARTY-CONTROL-LIST        certain match on the MOFCOM export-control control list
  SCR-PARTY-UNRELIABLE-ENTITY   certain match on the Unreliable Entity List
  SCR-PARTY-COUNTER-SANCTIONS   certain match on the counter-sanctions list
  SCR-PARTY-SANCTIONS           certain match on a sanctions list (UN Security Council, OFAC ...)
  SCR-PARTY-WATCH-LIST          match on the watch list
  SCR-PARTY-OTHER-LIST          match on another loaded list
  SCR-PARTY-OWNED-BY-LISTED     a party owned 50% or more (aggregated, through chains) by listed parties
Possible matches (alert <= score < hard_match) raise SCR-FLAG-RESEMBLES-LISTED instead; a listed
owner below the control share raises SCR-FLAG-MINORITY-LISTED-OWNER; a listing whose measures are
suspended on the screening date raises SCR-FLAG-LISTED-MEASURES-SUSPENDED.

Party indices: 0 is the exporter, i + 1 is application.parties[i].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from lanthanide.contracts import Application, Owner, Party, PartyHit, RedFlag

from lanthanide_screening.domain.reference import Policy
from lanthanide_screening.matching.index import ALGORITHM_VERSION, Match, NameIndex
from lanthanide_screening.matching.normalise import normalise_name

LIST_RULES = {
    "control": "SCR-PARTY-CONTROL-LIST",
    "unreliable_entity": "SCR-PARTY-UNRELIABLE-ENTITY",
    "counter_sanctions": "SCR-PARTY-COUNTER-SANCTIONS",
    "sanctions": "SCR-PARTY-SANCTIONS",
    "watch": "SCR-PARTY-WATCH-LIST",
    "other": "SCR-PARTY-OTHER-LIST",
}
OWNED_RULE = "SCR-PARTY-OWNED-BY-LISTED"

#: (party key, list_id, entry_id) -> True when a reviewer marked the pair a false positive.
IsFalsePositive = Callable[[str, str, str], bool]


def party_key(name: str) -> str:
    """The key dispositions are recorded under: the normalised, order-independent name."""
    n = normalise_name(name)
    return n.sorted_key or (n.han or name.casefold())


@dataclass(slots=True)
class PartyScreening:
    """What party screening found: hits, the rules that fired with their action, and flags."""

    hits: list[PartyHit] = field(default_factory=list)
    # (rule id, action deny|enhanced|standard, human reason)
    findings: list[tuple[str, str, str]] = field(default_factory=list)
    flags: list[RedFlag] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    list_versions: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Screener:
    index: NameIndex
    policy: Policy
    on: date
    is_false_positive: IsFalsePositive
    out: PartyScreening

    def matches(self, name: str, entity_type: str) -> list[Match]:
        found = self.index.search(name, entity_type=entity_type, threshold=self.policy.thresholds.alert, top=10)
        key = party_key(name)
        kept = []
        for m in found:
            if self.is_false_positive(key, m.list_id, m.entry.entry_id):
                self.out.suppressed.append(f"{m.list_id}:{m.entry.entry_id}")
                continue
            kept.append(m)
        return kept

    def record(self, m: Match, role: str, index: int, chain: list[str], share: float | None) -> bool:
        """Record a hit; True when it is a certain, in-force listing that denies."""
        self.out.list_versions[m.list_id] = m.list_version
        self.out.hits.append(
            PartyHit(
                party_role=role,
                party_index=index,
                list_id=m.list_id,
                list_kind=m.list_kind,
                list_version=m.list_version,
                entry_id=m.entry.entry_id,
                matched_name=m.matched.name,
                score=min(1.0, m.score),
                algorithm_version=ALGORITHM_VERSION,
                explanation=m.explanation(),
                via_owner_chain=chain,
                ownership_percent=share,
            )
        )
        who = f"{role} #{index}" + (f" via owners {' > '.join(chain)}" if chain else "")
        action = self.policy.list_actions.get(m.list_kind, "enhanced")
        certain = m.score >= self.policy.thresholds.hard_match
        if not m.entry.in_force_on(self.on):
            self._flag(
                "SCR-FLAG-LISTED-MEASURES-SUSPENDED",
                f"{who} matches {m.list_id}:{m.entry.entry_id} whose measures are suspended or "
                f"stopped on {self.on} (score {m.score:.2f})",
            )
            return False
        if not certain and action == "deny":
            self._flag(
                "SCR-FLAG-RESEMBLES-LISTED",
                f"{who} resembles {m.list_id}:{m.entry.entry_id} (score {m.score:.2f}); "
                f"below the certain-match threshold {self.policy.thresholds.hard_match}",
            )
            return False
        if role == "owner" and action == "deny":
            # A listed owner decides nothing by itself: its share does (owned_share).
            return certain
        rule = LIST_RULES.get(m.list_kind, "SCR-PARTY-OTHER-LIST")
        self.out.findings.append((rule, action, f"{who} matches {m.list_id}:{m.entry.entry_id} (score {m.score:.2f})"))
        return certain and action == "deny"

    def _flag(self, code: str, evidence: str) -> None:
        self.out.flags.append(RedFlag(code=code, description=self.policy.red_flags[code].text, evidence=evidence))

    def owned_share(self, owners: list[Owner], role: str, index: int, chain: list[str]) -> Decimal:
        """Aggregated share held by listed (or listed-owned) owners, screening each owner once."""
        total = Decimal(0)
        for owner in owners:
            path = [*chain, owner.name]
            listed = False
            for m in self.matches(owner.name, owner.entity_type.value):
                listed |= self.record(m, "owner", index, path, float(owner.share_percent))
            if not listed and owner.owners:
                listed = self.owned_share(owner.owners, role, index, path) >= self.policy.ownership_control_percent
            if listed:
                total += owner.share_percent
        return total


def screen_parties(
    app: Application,
    index: NameIndex,
    policy: Policy,
    on: date,
    is_false_positive: IsFalsePositive = lambda _k, _l, _e: False,
) -> PartyScreening:
    """Screen every party and its owner chain against the index."""
    out = PartyScreening()
    s = _Screener(index, policy, on, is_false_positive, out)
    for lst in index.lists:
        out.list_versions[lst.list_id] = lst.version
    for i, party in enumerate(app.all_parties()):
        _screen_party(s, party, i)
    return out


def _screen_party(s: _Screener, party: Party, index: int) -> None:
    role = party.role.value
    names = [party.name] + ([party.name_original_script] if party.name_original_script else [])
    for name in names:
        for m in s.matches(name, party.entity_type.value):
            s.record(m, role, index, [], None)
    if not party.owners:
        return
    share = s.owned_share(party.owners, role, index, [])
    threshold = s.policy.ownership_control_percent
    if share >= threshold:
        s.out.findings.append(
            (OWNED_RULE, "deny", f"{role} #{index} is {share}% owned by listed parties (>= {threshold}%)")
        )
    elif share > 0:
        s._flag(
            "SCR-FLAG-MINORITY-LISTED-OWNER",
            f"{role} #{index} is {share}% owned by listed parties (below {threshold}%)",
        )
