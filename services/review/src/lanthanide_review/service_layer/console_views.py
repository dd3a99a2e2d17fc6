"""Read models for the reviewer console: queue rows, the case page, review performance.

Read only; nothing here decides anything. The queue and the dashboard read the queue projection
(`case_queue`, kept by the store with every case write) in SQL, never the aggregates; the case
page reads its aggregate. Working days come from the same calendar the API and the SLA sweep use.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from lanthanide_review.adapters import queue_queries
from lanthanide_review.domain.dispositions import Disposition, DispositionStatus
from lanthanide_review.domain.licences import LicenceRecord
from lanthanide_review.domain.model import Case
from lanthanide_review.domain.sla import MemoCalendar
from lanthanide_review.domain.states import OPEN_STATES, CaseState
from lanthanide_review.service_layer.handlers import LicenceNotFound, ReviewService

#: Queue columns a reviewer may sort by (query value; "due" is the due date, "flags" red flags
#: plus hits).
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


def _left(calendar: Any, due: date | None, paused_since: date | None, today: date) -> int | None:
    """Working days until `due` (as `SlaClock.working_days_left`: frozen while paused)."""
    if due is None:
        return None
    return int(calendar.working_days_between(paused_since or today, due))


@dataclass(frozen=True)
class QueuePage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int


async def queue_page(service: ReviewService, flt: QueueFilter, page: int = 1, page_size: int = 50) -> QueuePage:
    """One page of open cases, filtered, sorted and counted in SQL on the queue projection
    (`case_queue`): the aggregates' application and screening JSON are never read. A page past
    the last shows the last."""
    total, page, pages, found = await queue_queries.queue_rows(
        service.store.engine, flt, page=page, page_size=page_size, sort_keys=SORT_KEYS,
        open_states=sorted(s.value for s in OPEN_STATES))
    today = service.today()
    calendar = MemoCalendar(service.calendar)
    rows = [{
        "case_id": r.case_id,
        "external_reference": r.external_reference,
        "exporter": r.exporter,
        "state": r.state,
        "route": r.route,
        "queue": r.queue,
        "assignee": r.assignee,
        "red_flags": list(r.red_flag_codes),
        "hits": r.hit_count,
        "countersign_required": r.countersign_required,
        "working_days_left": _left(calendar, r.due_on, r.sla_paused_since, today),
        "due_on": r.due_on,
        "due_on_provisional": bool(r.due_on_provisional),
        "sla_paused": r.sla_paused_since is not None,
        "sla_off_reason": None if r.sla_applies else r.sla_off_reason,
        "received": r.created_at,
    } for r in found]
    return QueuePage(rows=rows, total=total, page=page, pages=pages)


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
    week, green-channel share; overall and by queue.

    Counted in SQL on the queue projection, grouped by the few values the numbers depend on (a
    queue's due dates, pause days, decision durations): a handful of groups, whatever the number
    of cases; the calendar answers each distinct date once."""
    today = service.today()
    sla_days = service.policy.sla.working_days
    calendar: Any = MemoCalendar(service.calendar)
    first_day = today - timedelta(days=days - 1)
    per_day: dict[date, Counter[str]] = {first_day + timedelta(days=i): Counter() for i in range(days)}
    outcomes: set[str] = set()
    week_end = today + timedelta(days=6 - today.weekday())
    queues: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "durations": [], "within": 0, "decided": 0, "green": 0, "open": 0, "breaching": 0, "due_this_week": 0})
    open_groups, decided_groups, day_groups = await queue_queries.performance_groups(
        service.store.engine, open_states=sorted(s.value for s in OPEN_STATES), first_day=first_day, today=today)
    for queue, due, paused_since, count in open_groups:
        left = _left(calendar, due, paused_since, today)
        for key in (queue or "(automatic)", "(all)"):
            g = queues[key]
            g["open"] += count
            if left is not None and left < 0:
                g["breaching"] += count
            elif due is not None and due <= week_end:
                g["due_this_week"] += count
    for queue, route, took, applies, count in decided_groups:
        for key in (queue or "(automatic)", "(all)"):
            g = queues[key]
            g["decided"] += count
            if route == "green_channel":
                g["green"] += count
            if took is not None:
                g["durations"].extend([took] * count)
                if took <= sla_days or not applies:
                    g["within"] += count
    for day, outcome, count in day_groups:
        if day in per_day:
            per_day[day][outcome] += count
            outcomes.add(outcome)
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
    a one-year validity (the domain applies the same defaults when a field is left empty), and the
    general licence the application names, offered (not filled in) for an approval as an export
    under it (REV-GL-MANUAL: the caps are then the quantities drawn down)."""
    app = case.application
    items = []
    for i, item in enumerate(app.get("items", [])):
        items.append({"index": i, "description": item.get("description"),
                      "quantity": str(Decimal(str(item.get("quantity")))), "unit": item.get("unit")})
    end_users = [p["name"] for p in app.get("parties", []) if p.get("role") == "end_user"]
    return {"caps": items, "end_users": end_users, "general_licence_number": app.get("general_licence_number")}


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
