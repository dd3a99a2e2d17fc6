"""What a re-screen found that the case's last screening did not, and the licence-review item a
re-screen opens when it suspends a live licence.

Why compare with the last screening: a list update re-screens every open case and live licence.
A result whose hits and red flags are the ones reviewers already saw is not new evidence, and it
must not throw away their work (a claim, a recommendation awaiting its countersignature).
Rule ids: REV-RESCREEN-UNCHANGED, REV-RESCREEN-NEW-EVIDENCE, REV-LICENCE-REVIEW (docs/rules.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from lanthanide.contracts import PartyHit, RedFlag, Route, ScreeningCompleted

from lanthanide_review.domain.sla import PrcCalendar

#: The queue licence-review items are listed in (GET /queue?queue=licence_review, the SLA report).
LICENCE_REVIEW_QUEUE = "licence_review"


def hit_key(hit: PartyHit | dict[str, Any]) -> tuple[str, int, str, str]:
    """The same hit whatever the list version, score or algorithm: party, list and entry."""
    h = hit if isinstance(hit, dict) else hit.model_dump(mode="json")
    return (str(h["party_role"]), int(h["party_index"]), str(h["list_id"]), str(h["entry_id"]))


def flag_key(flag: RedFlag | dict[str, Any]) -> str:
    """The same red flag whatever its evidence text: its code. The evidence is prose built from the
    screened data (amounts, remaining quantities, dates) and changes between screenings of the same
    problem; a flag reviewers already saw must not reopen a case or suspend a licence (issue 15)."""
    f = flag if isinstance(flag, dict) else flag.model_dump(mode="json")
    return str(f["code"])


@dataclass(frozen=True)
class RescreenNews:
    """The hits and red flags of a re-screen that the previous screening did not have."""

    new_hits: list[PartyHit]
    new_red_flags: list[RedFlag]
    #: The re-screen recommends a denial and the previous screening did not.
    newly_denied: bool

    @property
    def unchanged(self) -> bool:
        return not self.new_hits and not self.new_red_flags and not self.newly_denied

    def evidence(self) -> dict[str, Any]:
        """The new evidence, for the case event and the case view (highlighted for the reviewer)."""
        return {
            "new_hits": [h.model_dump(mode="json") for h in self.new_hits],
            "new_red_flags": [f.model_dump(mode="json") for f in self.new_red_flags],
            "newly_denied": self.newly_denied,
        }

    def summary(self) -> str:
        parts = []
        if self.new_hits:
            parts.append(f"{len(self.new_hits)} new list hit(s)")
        if self.new_red_flags:
            parts.append(f"{len(self.new_red_flags)} new red flag(s)")
        if self.newly_denied:
            parts.append("a denial route")
        return "re-screening found " + ", ".join(parts)


def compare(previous: dict[str, Any] | None, result: ScreeningCompleted) -> RescreenNews:
    """What `result` adds to the `previous` screening (its stored JSON; None: everything is new)."""
    prev = previous or {}
    seen_hits = {hit_key(h) for h in prev.get("hits", []) if not h.get("suppressed")}
    seen_flags = {flag_key(f) for f in prev.get("red_flags", [])}
    return RescreenNews(
        new_hits=[h for h in result.active_hits if hit_key(h) not in seen_hits],  # suppressed hits are no new risk
        new_red_flags=[f for f in result.red_flags if flag_key(f) not in seen_flags],
        newly_denied=result.route is Route.DENY and prev.get("route") != Route.DENY.value,
    )


@dataclass
class LicenceReview:
    """A review item opened when re-screening suspends a live licence; reinstating or revoking
    the licence closes it. Its own clock: `working_days` PRC working days from `opened_on`."""

    licence_number: str
    opened_on: date
    opened_at: datetime
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    closed_at: datetime | None = None
    closed_on: date | None = None
    closed_by: str | None = None
    outcome: str | None = None  # reinstated | revoked

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def due_date(self, calendar: PrcCalendar, working_days: int) -> date:
        return calendar.add_working_days(self.opened_on, working_days)

    def working_days_left(self, calendar: PrcCalendar, working_days: int, today: date) -> int:
        """Working days until the due date (negative when breached)."""
        return calendar.working_days_between(today, self.due_date(calendar, working_days))

    def working_days_to_close(self, calendar: PrcCalendar) -> int | None:
        if self.closed_on is None:
            return None
        return max(0, calendar.working_days_between(self.opened_on, self.closed_on))

    def close(self, outcome: str, by: str, now: datetime, today: date) -> None:
        self.outcome = outcome
        self.closed_by = by
        self.closed_at = now
        self.closed_on = today

    def to_dict(self) -> dict[str, Any]:
        return {
            "licence_number": self.licence_number,
            "opened_on": self.opened_on.isoformat(),
            "opened_at": self.opened_at.isoformat(),
            "reason": self.reason,
            "evidence": self.evidence,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "closed_on": self.closed_on.isoformat() if self.closed_on else None,
            "closed_by": self.closed_by,
            "outcome": self.outcome,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> LicenceReview | None:
        if not data:
            return None
        return cls(
            licence_number=data["licence_number"],
            opened_on=date.fromisoformat(data["opened_on"]),
            opened_at=datetime.fromisoformat(data["opened_at"]),
            reason=data["reason"],
            evidence=dict(data.get("evidence") or {}),
            closed_at=datetime.fromisoformat(data["closed_at"]) if data.get("closed_at") else None,
            closed_on=date.fromisoformat(data["closed_on"]) if data.get("closed_on") else None,
            closed_by=data.get("closed_by"),
            outcome=data.get("outcome"),
        )
