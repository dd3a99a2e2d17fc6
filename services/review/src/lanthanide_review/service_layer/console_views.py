"""Read models for the reviewer console: queue rows, the case page, review performance.

Read only; every number comes from the case aggregate and the same SLA clock and calendar the
API and the SLA sweep use (nothing here decides anything).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from lanthanide_review.domain.dispositions import Disposition, DispositionStatus
from lanthanide_review.domain.licences import LicenceRecord
from lanthanide_review.domain.model import Case
from lanthanide_review.domain.sla import PrcCalendar
from lanthanide_review.domain.states import OPEN_STATES, CaseState
from lanthanide_review.service_layer.handlers import LicenceNotFound, ReviewService

#: Queue columns a reviewer may sort by (query value -> sort key on a row).
SORT_KEYS = ("due", "received", "queue", "route", "state", "flags", "reference")


@dataclass(frozen=True)
class QueueFilter:
    queue: str | None = None
    route: str | None = None
    state: str | None = None
    assignee: str | None = None
    text: str | None = None
    flagged: bool = False
    sort: str = "due"
    descending: bool = False


class MemoCalendar:
    """The service's PRC calendar with its answers remembered for one page render: thousands of
    cases share a handful of start dates, and the SLA clock asks the same questions for each."""

    def __init__(self, calendar: PrcCalendar) -> None:
        self.add_working_days = lru_cache(maxsize=None)(calendar.add_working_days)
        self.working_days_between = lru_cache(maxsize=None)(calendar.working_days_between)
        self.provisional_between = lru_cache(maxsize=None)(calendar.provisional_between)
        self.is_working_day = lru_cache(maxsize=None)(calendar.is_working_day)


def queue_row(case: Case, service: ReviewService, today: date, calendar: Any = None) -> dict[str, Any]:
    days = service.policy.sla.working_days
    screening = case.screening or {}
    calendar = calendar or service.calendar
    due = case.sla.due_date(calendar, days)
    return {
        "case_id": str(case.case_id),
        "external_reference": case.external_reference,
        "exporter": case.exporter_name,
        "state": case.state.value,
        "route": case.route.value if case.route else None,
        "queue": case.queue,
        "assignee": case.assignee,
        "red_flags": [f["code"] for f in screening.get("red_flags", [])],
        "hits": len(screening.get("hits", [])),
        "countersign_required": case.countersign_required,
        "working_days_left": case.sla.working_days_left(calendar, days, today),
        "due_on": due,
        "due_on_provisional": bool(case.sla.due_date_provisional(calendar, days)),
        "sla_paused": case.sla.paused_since is not None,
        "sla_off_reason": None if case.sla.applies else case.sla.off_reason,
        "received": case.created_at,
    }


def _sort_key(sort: str) -> Any:
    def key(row: dict[str, Any]) -> Any:
        if sort == "due":
            left = row["working_days_left"]
            return (left is None, left if left is not None else 0)
        if sort == "received":
            return row["received"].isoformat() if row["received"] else ""
        if sort == "flags":
            return (len(row["red_flags"]) + row["hits"],)
        if sort == "reference":
            return row["external_reference"]
        return row[sort] or ""

    return key


async def queue_rows(service: ReviewService, flt: QueueFilter) -> list[dict[str, Any]]:
    """Open cases, filtered and sorted."""
    async with service.store.unit_of_work() as uow:
        cases = await uow.open_cases()
    today = service.today()
    rows = []
    needle = flt.text.casefold() if flt.text else None
    calendar = MemoCalendar(service.calendar)
    for case in cases:
        if flt.queue and case.queue != flt.queue:
            continue
        if flt.route and (case.route.value if case.route else None) != flt.route:
            continue
        if flt.state and case.state.value != flt.state:
            continue
        if flt.assignee and case.assignee != flt.assignee:
            continue
        if needle and needle not in case.external_reference.casefold() and needle not in case.exporter_name.casefold():
            continue
        row = queue_row(case, service, today, calendar)
        if flt.flagged and not (row["red_flags"] or row["hits"]):
            continue
        rows.append(row)
    sort = flt.sort if flt.sort in SORT_KEYS else "due"
    rows.sort(key=_sort_key(sort), reverse=flt.descending)
    return rows


async def licence_review_rows(service: ReviewService) -> list[dict[str, Any]]:
    """The licence-review queue: licences that re-screening (or a reviewer) suspended, waiting
    for a reinstate or a revoke, most urgent first. Each row has its review item (why re-screening
    suspended it, the new evidence, its own SLA from `ReviewService.licence_review_view`) and the
    reinstate a first person requested when a second must confirm it (REV-OVERRIDE-PENDING)."""
    async with service.store.unit_of_work() as uow:
        cases = await uow.cases(states=[CaseState.LICENCE_SUSPENDED])
    rows: list[dict[str, Any]] = []
    for c in cases:
        review = service.licence_review_view(c)
        rows.append({
            "case_id": str(c.case_id), "external_reference": c.external_reference, "exporter": c.exporter_name,
            "licence_number": c.licence_number, "suspended_by": c.licence_suspended_by,
            "review": review if review and review["open"] else None,
            "pending_override": c.pending_override,
        })
    rows.sort(key=lambda r: (r["review"] is None, r["review"]["working_days_left"] if r["review"] else 0))
    return rows


def quantile(values: list[int], q: float) -> float | None:
    """Linear-interpolated quantile (q in [0, 1]) of sorted values; None when empty."""
    if not values:
        return None
    pos = (len(values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(values[lo] + (values[hi] - values[lo]) * (pos - lo))


async def performance(service: ReviewService, days: int = 30) -> dict[str, Any]:
    """Review performance: decisions per day by outcome (last `days` PRC days), working days to
    decision (median, 90th percentile), share decided within the SLA, cases breaching or due this
    week, green-channel share; overall and by queue."""
    async with service.store.unit_of_work() as uow:
        cases = await uow.cases()
    today = service.today()
    sla_days = service.policy.sla.working_days
    calendar: Any = MemoCalendar(service.calendar)
    first_day = today - timedelta(days=days - 1)
    per_day: dict[date, Counter[str]] = {first_day + timedelta(days=i): Counter() for i in range(days)}
    outcomes: set[str] = set()
    week_end = today + timedelta(days=6 - today.weekday())
    queues: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "durations": [], "within": 0, "decided": 0, "green": 0, "open": 0, "breaching": 0, "due_this_week": 0})
    for case in cases:
        name = case.queue or "(automatic)"
        for key in (name, "(all)"):
            q = queues[key]
            if case.state in OPEN_STATES:
                q["open"] += 1
                left = case.sla.working_days_left(calendar, sla_days, today)
                due = case.sla.due_date(calendar, sla_days)
                if left is not None and left < 0:
                    q["breaching"] += 1
                elif due is not None and due <= week_end:
                    q["due_this_week"] += 1
                continue
            if case.decided_at is None:
                continue
            q["decided"] += 1
            if case.route is not None and case.route.value == "green_channel":
                q["green"] += 1
            if case.sla.started_on is not None:
                decided_on = case.decided_at.astimezone(service.tz).date()
                took = max(0, calendar.working_days_between(case.sla.started_on, decided_on)
                           - case.sla.paused_working_days)
                q["durations"].append(took)
                if took <= sla_days or not case.sla.applies:
                    q["within"] += 1
        if case.decided_at is not None and case.outcome is not None:
            day = case.decided_at.astimezone(service.tz).date()
            if day in per_day:
                per_day[day][case.outcome.value] += 1
                outcomes.add(case.outcome.value)
    by_queue = []
    for name, q in sorted(queues.items(), key=lambda kv: (kv[0] != "(all)", kv[0])):
        durations = sorted(q["durations"])
        by_queue.append({
            "queue": name, "open": q["open"], "decided": q["decided"],
            "breaching": q["breaching"], "due_this_week": q["due_this_week"],
            "median_working_days": quantile(durations, 0.5),
            "p90_working_days": quantile(durations, 0.9),
            "within_sla_share": (q["within"] / len(durations)) if durations else None,
            "green_channel_share": (q["green"] / q["decided"]) if q["decided"] else None,
        })
    return {
        "today": today,
        "sla_working_days": sla_days,
        "outcomes": sorted(outcomes),
        "per_day": [{"day": d, "counts": dict(c)} for d, c in sorted(per_day.items())],
        "by_queue": by_queue,
    }


def cumulative_for(usage: dict[str, Any], case: Case) -> dict[str, list[dict[str, Any]]]:
    """The usage rows (service.usage()) for this case's end users and their countries."""
    app = case.application
    end_users = {p["name"].casefold(): p.get("country") for p in app.get("parties", []) if p.get("role") == "end_user"}
    countries = set(end_users.values())
    return {
        "by_end_user": [r for r in usage["by_end_user"] if r["end_user"] in end_users],
        "by_country": [r for r in usage["by_country"] if r["country"] in countries],
    }


def approval_defaults(case: Case) -> dict[str, Any]:
    """What the approve form is prefilled with: the screened application's items, end users and
    a one-year validity (the domain applies the same defaults when a field is left empty)."""
    app = case.application
    items = []
    for i, item in enumerate(app.get("items", [])):
        items.append({"index": i, "description": item.get("description"),
                      "quantity": str(Decimal(str(item.get("quantity")))), "unit": item.get("unit")})
    end_users = [p["name"] for p in app.get("parties", []) if p.get("role") == "end_user"]
    return {"caps": items, "end_users": end_users}


def parties_with_hits(case: Case, dispositions: Sequence[Disposition] = ()) -> list[dict[str, Any]]:
    """Every screened party (in screening's order: `Application.all_parties()`, which
    `PartyHit.party_index` counts in) with its own hits; owner hits go with the party they own.

    Each hit carries `disposition`: for a suppressed hit, review's record of the disposition that
    suppressed it (who proposed and approved it, the list version, the expiry); for an active
    hit, a disposition of it at its list version that is pending (waiting for its senior second
    person) or recorded (screening applies it from the case's next screening): then no new one is
    offered."""
    hits = (case.screening or {}).get("hits", [])
    by_id = {d.disposition_id: d for d in dispositions}
    pending = {(d.party_index, d.list_id, d.entry_id, d.list_version): d for d in dispositions
               if d.status is not DispositionStatus.REVOKED}
    out = []
    for i, party in enumerate(case.app.all_parties()):
        own = []
        for h in hits:
            if h["party_index"] != i:
                continue
            found = (by_id.get(h["disposition_id"]) if h.get("suppressed") and h.get("disposition_id")
                     else pending.get((i, h["list_id"], h["entry_id"], h["list_version"])))
            own.append({**h, "disposition": found})
        out.append({
            "index": i,
            "party": party.model_dump(mode="json"),
            "hits": [h for h in own if h["party_role"] != "owner"],
            "owner_hits": [h for h in own if h["party_role"] == "owner"],
        })
    return out


def application_versions(case: Case, history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The case's application versions, oldest first: each version's number, when it arrived
    and what it changed from the one before (field level, from its AMENDED case event; versions
    recorded before the diff was kept show `changes` None)."""
    received = next((h for h in history if h["kind"] == "received"), None)
    versions: list[dict[str, Any]] = [{
        "version": 1, "at": received["occurred_at"] if received else case.created_at, "changes": None,
        "reason": "submitted",
    }]
    for h in history:
        details = h.get("details") or {}
        if h["kind"] == "amended" and details.get("application_version"):
            versions.append({"version": int(details["application_version"]), "at": h["occurred_at"],
                             "changes": details.get("changes"), "reason": h.get("reason"),
                             "voided": details.get("voided") or []})
    if versions[-1]["version"] < case.application_version:
        versions.append({"version": case.application_version, "at": case.updated_at, "changes": None,
                         "reason": "resubmitted"})
    return versions


async def general_licence_usage_for(
    service: ReviewService, case: Case, licence: LicenceRecord | None
) -> list[dict[str, Any]]:
    """The general licences this case is about or under, each with its usage report (drawn and
    remaining per item, the exports under it; `ReviewService.general_licence_usage`): the case's
    own licence when it is general, and the general licence its application draws on."""
    numbers = []
    if licence is not None and licence.licence.type.value == "general":
        numbers.append(licence.licence.number)
    claimed = case.application.get("general_licence_number")
    if claimed and claimed not in numbers:
        numbers.append(claimed)
    out = []
    for number in numbers:
        try:
            out.append({"number": number, "usage": await service.general_licence_usage(number), "error": None})
        except LicenceNotFound as exc:
            out.append({"number": number, "usage": None, "error": str(exc)})
    return out
