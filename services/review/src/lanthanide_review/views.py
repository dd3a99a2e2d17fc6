"""Review's read models and reports: what the reviewer console, the HTTP API and the CLI show.

Read only; nothing here decides anything, and nothing here goes through the unit of work's
deferred writes (cosmicpython's views.py: reads may go straight to the tables).

- The console's queue page and dashboard read the queue projection (`case_queue`, kept by the
  store with every case write) in SQL (`_queue_rows`, `_performance_groups`: filtered, sorted,
  paged and grouped there), never the aggregates: `queue_page`, `performance`.
- The case page: `licence_review_rows`, `parties_with_hits`, `application_versions`,
  `approval_defaults`, `cumulative_for`, `general_licence_usage_for`.
- The review queue and the SLA and policy reports (the HTTP API, the CLI, the metrics gauges):
  `queue`, `licence_review_view`, `sla_report`, `policy_replay`.
- Licence usage reports: `usage` (cumulative quantities per end user and per country across
  every licence of both kinds) and `general_licence_usage` (one general licence's draw-down).

Working days come from the same calendar the API and the SLA sweep use.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from lanthanide.contracts import LicenceType, Route
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from lanthanide_review.adapters import orm
from lanthanide_review.adapters.repositories import CaseRepository
from lanthanide_review.domain.dispositions import Disposition, DispositionStatus
from lanthanide_review.domain.licences import LicenceRecord, format_quantity
from lanthanide_review.domain.model import Case
from lanthanide_review.domain.policy import RoutingPolicy, routing_change
from lanthanide_review.domain.rescreen import LICENCE_REVIEW_QUEUE
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
    total, page, pages, found = await _queue_rows(
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
        cases = await uow.cases.all(states=[CaseState.LICENCE_SUSPENDED])
    rows: list[dict[str, Any]] = []
    for c in cases:
        review = licence_review_view(service, c)
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
    open_groups, decided_groups, day_groups = await _performance_groups(
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
    """The usage rows (`usage(service)`) for this case's end users and their countries."""
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
    remaining per item, the exports under it; `general_licence_usage`): the case's
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
            out.append({"number": number, "usage": await general_licence_usage(service, number), "error": None})
        except LicenceNotFound as exc:
            out.append({"number": number, "usage": None, "error": str(exc)})
    return out


# ---------------------------------------------------------------- the review queue and SLA reports (API, CLI, metrics)


async def queue(service: ReviewService, queue: str | None = None) -> list[dict[str, Any]]:
    """Open cases, most urgent first, with working days left on the clock."""
    async with service.store.unit_of_work() as uow:
        cases = await uow.cases.open()
    today = service.today()
    rows = []
    for case in cases:
        if queue is not None and case.queue != queue:
            continue
        left = case.sla.working_days_left(service.calendar, service.policy.sla.working_days, today)
        due = case.sla.due_date(service.calendar, service.policy.sla.working_days)
        rows.append(
            {
                "case_id": str(case.case_id),
                "state": case.state.value,
                "queue": case.queue,
                "item": "case",
                "route": case.route.value if case.route else None,
                "external_reference": case.external_reference,
                "assignee": case.assignee,
                "countersign_required": case.countersign_required,
                "working_days_left": left,
                "due_on": due.isoformat() if due else None,
                "due_on_provisional": case.sla.due_date_provisional(service.calendar, service.policy.sla.working_days),
                "sla_paused": case.sla.paused_since is not None,
                "sla_off_reason": None if case.sla.applies else case.sla.off_reason,
            }
        )
    if queue in (None, LICENCE_REVIEW_QUEUE):
        async with service.store.unit_of_work() as uow:
            suspended = await uow.cases.all(states=[CaseState.LICENCE_SUSPENDED])
        rows += [
            _licence_review_row(service, c, today) for c in suspended if c.licence_review and c.licence_review.is_open
        ]
    rows.sort(key=lambda r: (r["working_days_left"] is None, r["working_days_left"] or 0))
    return rows


def licence_review_view(service: ReviewService, case: Case) -> dict[str, Any] | None:
    """A case's licence-review item (re-screening suspended its licence) with its clock."""
    item = case.licence_review
    if item is None:
        return None
    days = service.policy.sla.licence_review_working_days
    return {
        **item.to_dict(),
        "open": item.is_open,
        "due_on": item.due_date(service.calendar, days).isoformat(),
        "working_days_left": item.working_days_left(service.calendar, days, service.today()) if item.is_open else None,
    }


def _licence_review_row(service: ReviewService, case: Case, today: date) -> dict[str, Any]:
    """A queue row for an open licence-review item (REV-LICENCE-REVIEW)."""
    item = case.licence_review
    assert item is not None
    days = service.policy.sla.licence_review_working_days
    due = item.due_date(service.calendar, days)
    return {
        "case_id": str(case.case_id),
        "state": case.state.value,
        "queue": LICENCE_REVIEW_QUEUE,
        "item": "licence_review",
        "licence_number": item.licence_number,
        "route": case.route.value if case.route else None,
        "external_reference": case.external_reference,
        "assignee": None,
        "countersign_required": True,  # reinstating takes two people (REV-OVERRIDE-PENDING)
        "working_days_left": item.working_days_left(service.calendar, days, today),
        "due_on": due.isoformat(),
        "due_on_provisional": service.calendar.provisional_between(item.opened_on, due),
        "sla_paused": False,
        "sla_off_reason": None,
    }


async def policy_replay(service: ReviewService, new_policy: RoutingPolicy) -> list[dict[str, Any]]:
    """What `new_policy` would do differently on every stored case (nothing is written)."""
    async with service.store.engine.connect() as conn:
        cases = await CaseRepository(conn).all()
        await conn.rollback()
    changes = []
    for case in cases:
        if case.screening is None:
            continue
        route = Route(case.screening["route"])
        change = routing_change(service.policy, new_policy, route)
        if change is not None:
            changes.append(
                {
                    "case_id": str(case.case_id),
                    "external_reference": case.external_reference,
                    "state": case.state.value,
                    "route": route.value,
                    "decided": case.is_decided,
                    "changes": change,
                }
            )
    return changes


async def sla_report(service: ReviewService) -> list[dict[str, Any]]:
    """Per queue: open cases, due soon, breached, median working days to decision."""
    async with service.store.engine.connect() as conn:
        cases = await CaseRepository(conn).all()
        await conn.rollback()
    today = service.today()
    sla = service.policy.sla
    per_queue: dict[str, dict[str, Any]] = {}
    for case in cases:
        row = per_queue.setdefault(
            case.queue or "(auto)",
            {
                "queue": case.queue or "(auto)",
                "open": 0,
                "due_soon": 0,
                "breached": 0,
                "clock_off": 0,
                "paused": 0,
                "_durations": [],
            },
        )
        if case.state in OPEN_STATES:
            row["open"] += 1
            left = case.sla.working_days_left(service.calendar, sla.working_days, today)
            if not case.sla.applies:
                row["clock_off"] += 1
            elif case.sla.paused_since is not None:
                row["paused"] += 1
            if left is not None and left < 0:
                row["breached"] += 1
            elif left is not None and left <= sla.due_soon_working_days:
                row["due_soon"] += 1
        elif case.decided_at is not None and case.sla.started_on is not None:
            decided_on = case.decided_at.astimezone(service.tz).date()
            row["_durations"].append(
                max(
                    0,
                    service.calendar.working_days_between(case.sla.started_on, decided_on)
                    - case.sla.paused_working_days,
                )
            )
    review_days = sla.licence_review_working_days
    for case in cases:
        item = case.licence_review
        if item is None:
            continue
        row = per_queue.setdefault(
            LICENCE_REVIEW_QUEUE,
            {"queue": LICENCE_REVIEW_QUEUE, "open": 0, "due_soon": 0, "breached": 0, "clock_off": 0,
             "paused": 0, "_durations": []},
        )
        if item.is_open:
            row["open"] += 1
            left = item.working_days_left(service.calendar, review_days, today)
            if left < 0:
                row["breached"] += 1
            elif left <= sla.due_soon_working_days:
                row["due_soon"] += 1
        elif (closed_in := item.working_days_to_close(service.calendar)) is not None:
            row["_durations"].append(closed_in)
    out = []
    for row in sorted(per_queue.values(), key=lambda r: r["queue"]):
        durations = sorted(row.pop("_durations"))
        row["decided"] = len(durations)
        row["median_working_days_to_decision"] = _median(durations)
        out.append(row)
    return out


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    mid = len(values) // 2
    return float(values[mid]) if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


# ---------------------------------------------------------------- licence usage reports


async def usage(service: ReviewService) -> dict[str, Any]:
    """Cumulative quantities per end user and per country, across all licences of both kinds."""
    async with service.store.unit_of_work() as uow:
        rows = await uow.shipments.accepted()
        general = await uow.licences.general()
    return cumulative_usage(rows, general)


async def general_licence_usage(service: ReviewService, number: str) -> dict[str, Any]:
    """One general licence: drawn and remaining per item, and the exports under it."""
    rec = await service.licence(number)
    if rec.licence.type.value != "general":
        raise LicenceNotFound(f"{number} is a {rec.licence.type.value} licence, not a general licence")
    return general_licence_report(rec, service.today())


def general_licence_report(rec: LicenceRecord, today: date) -> dict[str, Any]:
    """Per item: cap, drawn and remaining; and the green-channel exports authorised under it."""
    lic = rec.licence
    items = [
        {
            "item_index": n,
            "description": item.description,
            "control_codes": item.control_codes,
            "unit": item.unit,
            "quantity_cap": format_quantity(item.quantity_cap),
            "drawn": format_quantity(drawn),
            "remaining": format_quantity(item.quantity_cap - drawn),
        }
        for n, (item, drawn) in enumerate(zip(lic.items, rec.drawn, strict=True))
    ]
    exports = [
        {
            "case_id": d["case_id"],
            "external_reference": d["external_reference"],
            "export_licence": d["export_licence"],
            "items": [
                {"item_index": int(n), "quantity": q, "unit": lic.items[int(n)].unit} for n, q in d["items"].items()
            ],
            "end_users": d["end_users"],
            "at": d["at"],
        }
        for d in rec.draws
    ]
    return {
        "number": lic.number,
        "type": lic.type.value,
        "holder": lic.holder,
        "status": rec.effective_status(today).value,
        "valid_from": lic.valid_from.isoformat(),
        "valid_until": lic.valid_until.isoformat(),
        "end_users": lic.end_users,
        "end_user_countries": lic.end_user_countries,
        "items": items,
        "exports": exports,
        "shipments": rec.shipments,
    }


def cumulative_usage(shipments: Sequence[Any], general_licences: Iterable[LicenceRecord]) -> dict[str, Any]:
    """Cumulative quantities per end user and per country (a diversion signal), across single
    licences (accepted shipments) and general licences (green-channel draw-downs).

    A shipment reported against a green-channel export licence is the same quantity its draw
    already counted, so it is not counted again."""
    by_user: dict[tuple[str, str, str], Decimal] = {}
    by_country: dict[tuple[str, str], Decimal] = {}

    def add(end_user: str, country: str, unit: str, qty: Decimal) -> None:
        key_u = (end_user.casefold(), country, unit)
        by_user[key_u] = by_user.get(key_u, Decimal(0)) + qty
        by_country[(country, unit)] = by_country.get((country, unit), Decimal(0)) + qty

    drawn_exports: set[str] = set()
    for rec in general_licences:
        if rec.licence.type is not LicenceType.GENERAL:
            continue
        for d in rec.draws:
            drawn_exports.add(d["export_licence"])
            users = d["end_users"] or [{"name": "", "country": ""}]
            for n, q in d["items"].items():
                # An export to several end users is counted against the first (applications name one).
                add(users[0]["name"], users[0]["country"], rec.licence.items[int(n)].unit, Decimal(q))
    for r in shipments:
        if r.licence_number in drawn_exports:
            continue
        add(r.end_user, r.end_user_country, r.unit, Decimal(r.quantity))
    return {
        "by_end_user": [
            {"end_user": u, "country": c, "unit": unit, "quantity": str(q)}
            for (u, c, unit), q in sorted(by_user.items())
        ],
        "by_country": [{"country": c, "unit": unit, "quantity": str(q)} for (c, unit), q in sorted(by_country.items())],
    }


# ---------------------------------------------------------------- SQL on the queue projection


def _queue_order(flt: Any, sort_keys: tuple[str, ...]) -> list[Any]:
    q = orm.case_queue.c
    sort = flt.sort if flt.sort in sort_keys else "due"
    value: Any = {
        "due": q.due_on, "received": q.created_at, "queue": q.queue, "route": q.route, "state": q.state,
        "flags": q.red_flag_count + q.hit_count, "reference": q.external_reference,
    }[sort]
    # Cases without a value (no clock, no queue) last in either direction; ties by receipt.
    return [value.is_(None), value.desc() if flt.descending else value.asc(), q.created_at, q.case_id]


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _queue_where(flt: Any, open_states: list[str]) -> list[Any]:
    q = orm.case_queue.c
    where: list[Any] = [q.state.in_(open_states)]
    if flt.queue:
        where.append(q.queue == flt.queue)
    if flt.route:
        where.append(q.route == flt.route)
    if flt.state:
        where.append(q.state == flt.state)
    if flt.assignee:
        where.append(q.assignee == flt.assignee)
    if flt.text:
        where.append(q.search_text.like(f"%{_like_escaped(flt.text.casefold())}%", escape="\\"))
    if flt.flagged:
        where.append(q.red_flag_count + q.hit_count > 0)
    return where


async def _queue_rows(
    engine: AsyncEngine, flt: Any, *, page: int, page_size: int, sort_keys: tuple[str, ...], open_states: list[str]
) -> tuple[int, int, int, list[Any]]:
    """(total, page, pages, rows) of open cases matching `flt` (a console QueueFilter), one page
    of them in its order. A page past the last is the last."""
    where = _queue_where(flt, open_states)
    async with engine.connect() as conn:
        total = int(await conn.scalar(select(func.count()).select_from(orm.case_queue).where(*where)) or 0)
        pages = max(1, -(-total // page_size))
        page = min(max(1, page), pages)
        stmt = (select(orm.case_queue).where(*where).order_by(*_queue_order(flt, sort_keys))
                .limit(page_size).offset((page - 1) * page_size))
        found = list((await conn.execute(stmt)).all())
    return total, page, pages, found


async def _performance_groups(
    engine: AsyncEngine, *, open_states: list[str], first_day: date, today: date
) -> tuple[list[Any], list[Any], list[Any]]:
    """The dashboard's grouped counts: open cases by (queue, due date, paused since); decided
    cases by (queue, route, working days to decision, SLA applies); decisions by (day, outcome)."""
    q = orm.case_queue.c
    n = func.count().label("n")
    async with engine.connect() as conn:
        open_groups = (await conn.execute(
            select(q.queue, q.due_on, q.sla_paused_since, n).where(q.state.in_(open_states))
            .group_by(q.queue, q.due_on, q.sla_paused_since))).all()
        decided_groups = (await conn.execute(
            select(q.queue, q.route, q.decision_working_days, q.sla_applies, n)
            .where(q.state.not_in(open_states), q.decided_on.is_not(None))
            .group_by(q.queue, q.route, q.decision_working_days, q.sla_applies))).all()
        day_groups = (await conn.execute(
            select(q.decided_on, q.outcome, n)
            .where(q.decided_on >= first_day, q.decided_on <= today, q.outcome.is_not(None))
            .group_by(q.decided_on, q.outcome))).all()
    return list(open_groups), list(decided_groups), list(day_groups)
