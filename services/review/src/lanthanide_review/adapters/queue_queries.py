"""Queries on the queue projection (`case_queue`): the console's queue pages and dashboard counts
are filtered, sorted, paged and grouped in SQL here, so the service layer never touches SQL."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from lanthanide_review.adapters import orm


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


async def queue_rows(
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


async def performance_groups(
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
