"""The queue projection: the slim `case_queue` row of a case (what the console's queue and
dashboard show, filter, sort and count), derived from the aggregate each time the store writes it.

The due date and the working days to a decision need the PRC calendar and the SLA length, so the
projector holds the service's calendar and policy (the store gets it from `ReviewService`); the
working days *left* depend on today and are computed when a page is read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from lanthanide_review.domain.model import Case
from lanthanide_review.domain.sla import MemoCalendar, PrcCalendar


class QueueProjector:
    """Derives `case_queue` rows with one calendar and SLA length (memoised: cases share dates)."""

    def __init__(
        self, calendar: PrcCalendar, sla_working_days: int, timezone: str | ZoneInfo = "Asia/Shanghai"
    ) -> None:
        self.calendar = calendar
        self.sla_working_days = sla_working_days
        self.tz = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
        self.memo = MemoCalendar(calendar)

    @classmethod
    def default(cls) -> QueueProjector:
        """The packaged calendar and routing policy (a store used without a service)."""
        from lanthanide_review.domain.policy import load_policy

        return cls(PrcCalendar(), load_policy().sla.working_days)

    def row(self, case: Case, created_at: datetime) -> dict[str, Any]:
        """The case's `case_queue` row."""
        screening = case.screening or {}
        codes = [str(f["code"]) for f in screening.get("red_flags", [])]
        sla = case.sla
        due = sla.due_date(self.memo, self.sla_working_days)
        provisional = sla.due_date_provisional(self.memo, self.sla_working_days)
        decided_on = case.decided_at.astimezone(self.tz).date() if case.decided_at is not None else None
        took = None
        if decided_on is not None and sla.started_on is not None:
            took = max(0, self.memo.working_days_between(sla.started_on, decided_on) - sla.paused_working_days)
        return {
            "case_id": str(case.case_id),
            "state": case.state.value,
            "route": case.route.value if case.route else None,
            "queue": case.queue,
            "assignee": case.assignee,
            "outcome": case.outcome.value if case.outcome else None,
            "external_reference": case.external_reference,
            "exporter": case.exporter_name,
            "search_text": f"{case.external_reference}\n{case.exporter_name}".casefold(),
            "red_flag_codes": codes,
            "red_flag_count": len(codes),
            "hit_count": len(screening.get("hits", [])),
            "countersign_required": case.countersign_required,
            "sla_started_on": sla.started_on,
            "sla_applies": sla.applies,
            "sla_paused_since": sla.paused_since,
            "sla_paused_working_days": sla.paused_working_days,
            "sla_off_reason": sla.off_reason,
            "due_on": due,
            "due_on_provisional": provisional,
            "decided_on": decided_on,
            "decision_working_days": took,
            "created_at": case.created_at or created_at,
        }
