"""Restricted-party screening of every party and every named owner, with the 50% ownership rule.

Rule ids (one per list kind, plus ownership and the watch-list consequences):
  SCR-PARTY-CONTROL-LIST        certain match on the MOFCOM export-control control list, measures in force
  SCR-PARTY-UNRELIABLE-ENTITY   certain match on the Unreliable Entity List, measures in force
  SCR-PARTY-COUNTER-SANCTIONS   certain match on the counter-sanctions list
  SCR-PARTY-SANCTIONS           certain match on a sanctions list (UN Security Council, OFAC ...)
  SCR-PARTY-WATCH-LIST          match on the watch list (MOFCOM 2026 No. 12; Regulations Art. 26)
  SCR-PARTY-OTHER-LIST          match on another loaded list
  SCR-PARTY-OWNED-BY-LISTED     50 % or more held by a control-list party (No. 61 Art. 2, while in force)
  SCR-PARTY-OWNED-BY-WATCH-LISTED  50 % or more held by a watch-list party (idem): as a watch-list party
  SCR-PARTY-WATCH-LIST-DOCUMENTS   watch-list party: a risk-assessment report and a compliance
                                   commitment are required documents
  SCR-PARTY-WATCH-LIST-NO-GENERAL-LICENCE  watch-list party: no general licence (green channel refused)
Possible matches (alert <= score < hard_match) raise SCR-FLAG-RESEMBLES-LISTED instead; a listed
owner below the control share raises SCR-FLAG-MINORITY-LISTED-OWNER; a listing whose measures are
not in force on the screening date (suspended, stopped, lifted) raises
SCR-FLAG-LISTED-MEASURES-SUSPENDED with the entry's dated measure history as evidence, never a
denial; a majority owner the 50 % rule does not reach raises SCR-FLAG-LISTED-OWNER; different listed
owners together at the control share raise SCR-FLAG-AGGREGATED-LISTED-OWNERS unless the policy
aggregates them.

Chains: control passes down a chain, shares are not multiplied. An owner that is itself held at or
above the control share by a listed party stands for that party; its whole share counts.

Party indices: 0 is the exporter, i + 1 is application.parties[i].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from lanthanide.contracts import Application, DocumentKind, Owner, Party, PartyHit, Reason, RedFlag

from lanthanide_screening.domain.reference import Policy
from lanthanide_screening.matching.index import ALGORITHM_VERSION, Match, NameIndex
from lanthanide_screening.matching.model import list_name
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
OWNED_WATCH_RULE = "SCR-PARTY-OWNED-BY-WATCH-LISTED"
WATCH_DOCUMENTS_RULE = "SCR-PARTY-WATCH-LIST-DOCUMENTS"
WATCH_NO_GENERAL_LICENCE_RULE = "SCR-PARTY-WATCH-LIST-NO-GENERAL-LICENCE"
#: The roles the watch-list consequences attach to: "importers and end users" (Regulations Art. 26).
WATCH_ROLES = ("importer", "end_user")
#: What a watch-list party's exporter must add (MOFCOM 2026 No. 12; Regulations Art. 26).
WATCH_DOCUMENTS = (DocumentKind.RISK_ASSESSMENT, DocumentKind.COMPLIANCE_COMMITMENT)



@dataclass(frozen=True, slots=True)
class Suppression:
    """A reviewer disposition that applies to a hit: which one, and who recorded it."""

    disposition_id: str
    approved_by: tuple[str, ...]


#: (party key, list_id, entry_id, list_version, date) -> the disposition that suppresses the hit
#: on that date, if any (a disposition applies only to the list version it was judged against,
#: until its expiry).
FindDisposition = Callable[[str, str, str, str, date], "Suppression | None"]


def no_dispositions(_key: str, _list: str, _entry: str, _version: str, _on: date) -> Suppression | None:
    return None


def party_key(name: str) -> str:
    """The key dispositions are recorded under: the normalised, order-independent name."""
    n = normalise_name(name)
    return n.sorted_key or (n.han or name.casefold())


@dataclass(slots=True)
class PartyScreening:
    """What party screening found: hits, the rules that fired with their action, and flags."""

    hits: list[PartyHit] = field(default_factory=list)
    #: The rules that fired, each naming the list, entry, list version and measure it rests on.
    findings: list[Reason] = field(default_factory=list)
    flags: list[RedFlag] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    list_versions: dict[str, str] = field(default_factory=dict)
    #: Documents the application lacks because a party is (or is held by) a watch-list party.
    missing_documents: list[str] = field(default_factory=list)
    #: The importer or end user is (or is 50 %-held by) a watch-list party: no general licence,
    #: two more documents; review switches the clock off on the watch-list hit.
    watch_listed: bool = False
    #: The watch-list entries behind `watch_listed` (list reference fields only), for its reasons.
    watch_hits: list[Reason] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Holder:
    """A listed party standing behind an owner: which entry, on which list kind."""

    key: str  # list_id:entry_id
    kind: str


@dataclass(slots=True)
class _Screener:
    index: NameIndex
    policy: Policy
    on: date
    find_disposition: FindDisposition
    out: PartyScreening
    ownership_in_force: bool
    #: "list_id:entry_id" -> the owner's match standing for that listed party (for its reasons).
    holders: dict[str, Match] = field(default_factory=dict)

    def reason(self, rule: str, action: str, text: str, m: Match, role: str, index: int) -> Reason:
        """A party-based reason: the list entry, list name and version, and the entry's measure."""
        return Reason(
            code=rule,
            action=action,
            text=text,
            evidence=[m.explanation()],
            source=m.entry.source,
            measure_id=m.entry.measure_on(self.on),
            list_id=m.list_id,
            entry_id=m.entry.entry_id,
            version=m.list_version,
            list_name=list_name(m.list_id, m.list_kind),
            party_role=role,
            party_index=index,
            score=min(1.0, m.score),
        )

    def matches(self, name: str, entity_type: str) -> list[tuple[Match, Suppression | None]]:
        """The name's matches, each with the disposition that suppresses it (if any)."""
        found = self.index.search(name, entity_type=entity_type, threshold=self.policy.thresholds.alert, top=10)
        key = party_key(name)
        return [(m, self.find_disposition(key, m.list_id, m.entry.entry_id, m.list_version, self.on)) for m in found]

    def suppressed_hit(
        self, m: Match, sup: Suppression, role: str, index: int, chain: list[str], share: float | None
    ) -> None:
        """A hit a disposition suppresses: kept in the result (marked), drives no rule or flag."""
        self.out.suppressed.append(f"{m.list_id}:{m.entry.entry_id}")
        self._hit(m, role, index, chain, share, sup)

    def _hit(
        self, m: Match, role: str, index: int, chain: list[str], share: float | None, sup: Suppression | None = None
    ) -> str:
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
                score_parts={k: round(float(v), 4) for k, v in m.parts.items()},
                via_owner_chain=chain,
                ownership_percent=share,
                certain=m.score >= self.policy.thresholds.hard_match,
                suppressed=sup is not None,
                disposition_id=sup.disposition_id if sup else None,
                approved_by=list(sup.approved_by) if sup else [],
            )
        )
        return f"{role} #{index}" + (f" via owners {' > '.join(chain)}" if chain else "")

    def _not_in_force(self, m: Match, who: str) -> bool:
        """Flag a listing whose measures do not apply on the date; True when that is so."""
        if m.entry.in_force_on(self.on):
            return False
        history = "; ".join(c.describe() for c in m.entry.history) or (
            f"suspended {m.entry.suspended}, stopped from {m.entry.stopped_from}"
        )
        self._flag(
            "SCR-FLAG-LISTED-MEASURES-SUSPENDED",
            f"{who} matches {m.list_id}:{m.entry.entry_id} whose measures are not in force on {self.on} "
            f"(score {m.score:.2f}); measure history: {history}",
        )
        return True

    def record(self, m: Match, role: str, index: int) -> None:
        """A party's own match: the finding its list kind calls for, or a flag."""
        who = self._hit(m, role, index, [], None)
        if self._not_in_force(m, who):
            return
        action = self.policy.list_actions.get(m.list_kind, "enhanced")
        certain = m.score >= self.policy.thresholds.hard_match
        if not certain and action == "deny":
            self._flag(
                "SCR-FLAG-RESEMBLES-LISTED",
                f"{who} resembles {m.list_id}:{m.entry.entry_id} (score {m.score:.2f}); "
                f"below the certain-match threshold {self.policy.thresholds.hard_match}",
            )
            return
        rule = LIST_RULES.get(m.list_kind, "SCR-PARTY-OTHER-LIST")
        text = f"{who} matches {m.list_id}:{m.entry.entry_id} (score {m.score:.2f})"
        reason = self.reason(rule, action, text, m, role, index)
        self.out.findings.append(reason)
        if m.list_kind == "watch" and role in WATCH_ROLES:
            self.out.watch_listed = True
            self.out.watch_hits.append(reason)

    def owner_holder(self, m: Match, index: int, chain: list[str], share: float) -> _Holder | None:
        """An owner's match: the listed party it stands for, when the match is certain and in force."""
        who = self._hit(m, "owner", index, chain, share)
        if self._not_in_force(m, who):
            return None
        if m.score < self.policy.thresholds.hard_match:
            self._flag(
                "SCR-FLAG-RESEMBLES-LISTED", f"{who} resembles {m.list_id}:{m.entry.entry_id} (score {m.score:.2f})"
            )
            return None
        key = f"{m.list_id}:{m.entry.entry_id}"
        self.holders.setdefault(key, m)
        return _Holder(key, m.list_kind)

    def _flag(self, code: str, evidence: str) -> None:
        self.out.flags.append(RedFlag(code=code, description=self.policy.red_flags[code].text, evidence=evidence))

    def holdings(self, owners: list[Owner], index: int, chain: list[str]) -> dict[_Holder, Decimal]:
        """Share of the owned party held by each listed party, directly or through a chain in which
        every link is held at or above the control share (control passes; shares do not multiply)."""
        threshold = self.policy.ownership_control_percent
        held: dict[_Holder, Decimal] = {}
        for owner in owners:
            path = [*chain, owner.name]
            behind: set[_Holder] = set()
            for m, sup in self.matches(owner.name, owner.entity_type.value):
                if sup is not None:
                    self.suppressed_hit(m, sup, "owner", index, path, float(owner.share_percent))
                    continue
                holder = self.owner_holder(m, index, path, float(owner.share_percent))
                if holder is not None:
                    behind.add(holder)
            if not behind and owner.owners:
                behind = {h for h, share in self.holdings(owner.owners, index, path).items() if share >= threshold}
            for holder in behind:
                held[holder] = held.get(holder, Decimal(0)) + owner.share_percent
        return held


def screen_parties(
    app: Application,
    index: NameIndex,
    policy: Policy,
    on: date,
    find_disposition: FindDisposition = no_dispositions,
    *,
    ownership_in_force: bool = True,
) -> PartyScreening:
    """Screen every party and its owner chain against the index on a date.

    `ownership_in_force`: whether the 50 % rule's measure (policy.ownership_rule.measure) is in
    force on that date; the caller looks it up in the measures."""
    out = PartyScreening()
    s = _Screener(index, policy, on, find_disposition, out, ownership_in_force)
    for lst in index.lists:
        out.list_versions[lst.list_id] = lst.version
    for i, party in enumerate(app.all_parties()):
        _screen_party(s, party, i)
    if out.watch_listed:
        _watch_list_consequences(app, out)
    return out


def _screen_party(s: _Screener, party: Party, index: int) -> None:
    role = party.role.value
    names = [party.name] + ([party.name_original_script] if party.name_original_script else [])
    for name in names:
        for m, sup in s.matches(name, party.entity_type.value):
            if sup is not None:
                s.suppressed_hit(m, sup, role, index, [], None)
            else:
                s.record(m, role, index)
    if party.owners:
        _ownership(s, s.holdings(party.owners, index, []), role, index)


def _ownership(s: _Screener, held: dict[_Holder, Decimal], role: str, index: int) -> None:
    """Apply the 50 % rule (No. 61 Art. 2) to what listed parties hold of one party."""
    rule = s.policy.ownership_rule
    threshold = s.policy.ownership_control_percent
    who = f"{role} #{index}"
    reached = {h: share for h, share in held.items() if share >= threshold}
    covered = {h: share for h, share in reached.items() if s.ownership_in_force and h.kind in rule.list_kinds}
    for h, share in reached.items():
        if h in covered:
            continue
        why = (
            f"the 50% rule ({rule.source}) is not in force on {s.on}"
            if h.kind in rule.list_kinds
            else f"the 50% rule ({rule.source}) does not extend to the {h.kind} list"
        )
        s._flag("SCR-FLAG-LISTED-OWNER", f"{who} is {share}% held by {h.key}; {why}")
    if not reached and held:
        total = sum(held.values(), Decimal(0))
        if total >= threshold and len(held) > 1:
            holders = ", ".join(f"{h.key} {share}%" for h, share in held.items())
            if s.ownership_in_force and rule.aggregate_listed_owners and all(h.kind in rule.list_kinds for h in held):
                kind = "control" if any(h.kind == "control" for h in held) else "watch"
                covered = {_Holder(" + ".join(sorted(h.key for h in held)), kind): total}
            else:
                s._flag(
                    "SCR-FLAG-AGGREGATED-LISTED-OWNERS",
                    f"{who} is {total}% held by different listed owners together ({holders}); no single one "
                    f"holds {threshold}% (aggregation is off in the policy)"
                    if not rule.aggregate_listed_owners
                    else f"{who} is {total}% held by different listed owners together ({holders})",
                )
        else:
            s._flag(
                "SCR-FLAG-MINORITY-LISTED-OWNER",
                f"{who} is {total}% owned by listed parties (below {threshold}%)",
            )
    for h, share in covered.items():
        code, action = (OWNED_WATCH_RULE, "enhanced") if h.kind == "watch" else (OWNED_RULE, "deny")
        kind = "watch-list" if h.kind == "watch" else "listed"
        text = f"{who} is {share}% held by {kind} party {h.key} (>= {threshold}%, {rule.source})"
        # One reason per listed holder (an aggregated holder names several entries).
        for key in h.key.split(" + "):
            m = s.holders[key]
            reason = s.reason(code, action, text, m, role, index).model_copy(
                update={"measure_id": rule.measure, "source": rule.source}
            )
            s.out.findings.append(reason)
            if h.kind == "watch" and role in WATCH_ROLES:
                s.out.watch_listed = True
                s.out.watch_hits.append(reason)


def _watch_list_consequences(app: Application, out: PartyScreening) -> None:
    """MOFCOM 2026 No. 12 / Regulations Art. 26: no general licence; two documents required."""
    have = {d.kind for d in app.documents}
    missing = [k.value for k in WATCH_DOCUMENTS if k not in have]
    basis = out.watch_hits[0]  # the first watch-list entry the consequences rest on
    if missing:
        out.missing_documents.extend(missing)
        text = f"a watch-list party requires {', '.join(missing)} (not provided)"
        out.findings.append(basis.model_copy(update={"code": WATCH_DOCUMENTS_RULE, "action": "enhanced", "text": text}))
    if app.general_licence_number:
        text = f"general licence {app.general_licence_number} cannot be used for a watch-list party"
        out.findings.append(
            basis.model_copy(update={"code": WATCH_NO_GENERAL_LICENCE_RULE, "action": "enhanced", "text": text})
        )
