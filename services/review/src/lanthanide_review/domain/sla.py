"""The review clock: 45 PRC working days from the acceptance of a complete application.

Working days follow the PRC calendar: weekends and public holidays are off, and the official
adjusted working weekends ("make-up" Saturdays/Sundays around Spring Festival, National Day,
...) are working days. Each year's official arrangement is data (data/prc_calendar.yaml, with
its legal source); a year without it falls back to `holidays.China`, and a due date reached
through such a year is provisional (`SlaClock.due_date_provisional`). The clock starts on the
application's as-of date (its PRC receipt date), pauses while a request for information is open
and does not run at all for watch-list or referred cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

import holidays
import yaml


@dataclass(frozen=True)
class CalendarYear:
    """One year's official arrangement: every day off and every make-up working weekend day."""

    days_off: frozenset[date]
    working_weekend_days: frozenset[date]
    source: str


class PrcCalendar:
    """PRC working days: holidays off, weekends off unless officially made working days."""

    def __init__(self, supplement: dict[int, CalendarYear] | None = None) -> None:
        self._supplement = supplement if supplement is not None else load_supplement()
        self._library: dict[int, tuple[frozenset[date], frozenset[date]]] = {}

    def _library_year(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        if year not in self._library:
            cn = holidays.country_holidays("CN", years=year)
            off = frozenset(d for d in cn if d.year == year)
            workdays = frozenset(d for d in getattr(cn, "weekend_workdays", ()) if d.year == year)
            self._library[year] = (off, workdays)
        return self._library[year]

    def prime(self, from_year: int, years: int = 3) -> None:
        """Load the library's tables now for `years` years from `from_year` that have no official
        data (a service starting: this PRC year and the next two, where new due dates fall), so
        the one-time cost (holidays' CN tables, about half a CPU second) is paid at start-up
        rather than by the first event whose due date crosses into such a year."""
        for year in range(from_year, from_year + years):
            if year not in self._supplement:
                self._library_year(year)

    def is_official(self, year: int) -> bool:
        """Whether the year's official arrangement (State Council notice) is in the data."""
        return year in self._supplement

    def provisional_between(self, start: date, end: date) -> bool:
        """True when a year from `start` to `end` has no official data: dates counted across it may move."""
        lo, hi = min(start, end), max(start, end)
        return any(not self.is_official(y) for y in range(lo.year, hi.year + 1))

    def is_working_day(self, day: date) -> bool:
        """True for a PRC working day."""
        if day.year in self._supplement:
            year = self._supplement[day.year]
            off, make_up = year.days_off, year.working_weekend_days
        else:
            off, make_up = self._library_year(day.year)
        if day in make_up:
            return True
        if day in off:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: date, n: int) -> date:
        """The date of the n-th working day after `start` (start itself is not counted)."""
        day = start
        counted = 0
        while counted < n:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative when end is before start."""
        if end == start:
            return 0
        lo, hi, sign = (start, end, 1) if end > start else (end, start, -1)
        count = 0
        day = lo
        while day < hi:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return sign * count


class MemoCalendar:
    """The service's PRC calendar with its answers remembered for one page render: thousands of
    cases share a handful of start dates, and the SLA clock asks the same questions for each."""

    def __init__(self, calendar: PrcCalendar) -> None:
        self.add_working_days = lru_cache(maxsize=None)(calendar.add_working_days)
        self.working_days_between = lru_cache(maxsize=None)(calendar.working_days_between)
        self.provisional_between = lru_cache(maxsize=None)(calendar.provisional_between)
        self.is_working_day = lru_cache(maxsize=None)(calendar.is_working_day)


def _parse_year(raw: dict[str, Any]) -> CalendarYear:
    off: set[date] = set()
    for span in raw["days_off"]:
        day, last = span["from"], span["to"]
        if last < day:
            raise ValueError(f"prc calendar: span {span} ends before it starts")
        while day <= last:
            off.add(day)
            day += timedelta(days=1)
    return CalendarYear(
        days_off=frozenset(off),
        working_weekend_days=frozenset(raw["working_weekend_days"]),
        source=str(raw["source"]),
    )


@lru_cache(maxsize=1)
def load_supplement() -> dict[int, CalendarYear]:
    """The dated supplement shipped with the package (years the library does not model)."""
    text = resources.files("lanthanide_review").joinpath("data/prc_calendar.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return {int(year): _parse_year(raw) for year, raw in data["years"].items()}


@dataclass
class SlaClock:
    """The state of one case's clock. Dates are PRC calendar dates."""

    started_on: date | None = None
    applies: bool = True
    paused_since: date | None = None
    paused_working_days: int = 0
    warnings_sent: list[int] = field(default_factory=list)
    off_reason: str | None = None

    @property
    def running(self) -> bool:
        return self.applies and self.started_on is not None and self.paused_since is None

    def start(self, today: date) -> None:
        """Start the clock (idempotent: a resubmission does not restart it)."""
        if self.started_on is None:
            self.started_on = today

    def pause(self, today: date) -> None:
        if self.started_on is not None and self.paused_since is None:
            self.paused_since = today

    def resume(self, calendar: PrcCalendar, today: date) -> None:
        """End a pause: the working days it lasted are added to the due date."""
        if self.paused_since is not None:
            self.paused_working_days += max(0, calendar.working_days_between(self.paused_since, today))
            self.paused_since = None

    def switch_off(self, reason: str) -> None:
        """Watch-list and referred cases: the time limit does not apply."""
        self.applies = False
        self.off_reason = reason

    def due_date(self, calendar: PrcCalendar | MemoCalendar, working_days: int) -> date | None:
        """The decision due date, or None when the clock has not started or does not apply."""
        if not self.applies or self.started_on is None:
            return None
        return calendar.add_working_days(self.started_on, working_days + self.paused_working_days)

    def due_date_provisional(self, calendar: PrcCalendar | MemoCalendar, working_days: int) -> bool | None:
        """Whether the due date counts through a year without official calendar data (None without a due date)."""
        due = self.due_date(calendar, working_days)
        if due is None or self.started_on is None:
            return None
        return calendar.provisional_between(self.started_on, due)

    def working_days_left(self, calendar: PrcCalendar | MemoCalendar, working_days: int, today: date) -> int | None:
        """Working days until the due date (negative when breached); None without a clock.

        While paused, time stands still at the day the pause began.
        """
        due = self.due_date(calendar, working_days)
        if due is None:
            return None
        as_of = self.paused_since or today
        return calendar.working_days_between(as_of, due)

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_on": self.started_on.isoformat() if self.started_on else None,
            "applies": self.applies,
            "paused_since": self.paused_since.isoformat() if self.paused_since else None,
            "paused_working_days": self.paused_working_days,
            "warnings_sent": list(self.warnings_sent),
            "off_reason": self.off_reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SlaClock:
        if not data:
            return cls()
        return cls(
            started_on=date.fromisoformat(data["started_on"]) if data.get("started_on") else None,
            applies=bool(data.get("applies", True)),
            paused_since=(date.fromisoformat(data["paused_since"]) if data.get("paused_since") else None),
            paused_working_days=int(data.get("paused_working_days", 0)),
            warnings_sent=[int(x) for x in data.get("warnings_sent", [])],
            off_reason=data.get("off_reason"),
        )
