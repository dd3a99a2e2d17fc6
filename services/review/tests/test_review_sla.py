"""The PRC working-day calendar and the SLA clock, against known 2025/2026 dates."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import pytest
from lanthanide_review.domain.sla import PrcCalendar, SlaClock, load_supplement

CAL = PrcCalendar()


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2025, 1, 28), date(2025, 2, 4)),  # Spring Festival 2025
        (date(2025, 10, 1), date(2025, 10, 8)),  # National Day + Mid-Autumn 2025
        (date(2026, 2, 15), date(2026, 2, 23)),  # Spring Festival 2026 (9 days)
        (date(2026, 10, 1), date(2026, 10, 7)),  # National Day 2026
    ],
)
def test_official_breaks_are_days_off(first: date, last: date) -> None:
    assert not any(CAL.is_working_day(d) for d in _span(first, last))


@pytest.mark.parametrize(
    "day",
    [
        date(2025, 1, 26),
        date(2025, 2, 8),
        date(2025, 9, 28),
        date(2025, 10, 11),
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    ],
)
def test_make_up_weekend_days_are_working_days(day: date) -> None:
    assert day.weekday() >= 5
    assert CAL.is_working_day(day)


def test_ordinary_weekends_and_weekdays() -> None:
    assert not CAL.is_working_day(date(2026, 3, 7))  # a Saturday
    assert CAL.is_working_day(date(2026, 3, 9))  # a Monday


def test_official_years_are_data_and_agree_with_the_library_where_it_has_them() -> None:
    """Source: State Council General Office notices 国办发明电〔2024〕12号 (2025) and 〔2025〕7号 (2026).

    The make-up working days are data (data/prc_calendar.yaml); the `holidays` release carries the
    same days for those years, and a year without official data (2027) has none."""
    for year in (2025, 2026):
        lib = holidays.China(years=year)
        library_days = {d for d in getattr(lib, "weekend_workdays", set()) if d.year == year}
        assert CAL.is_official(year)
        assert library_days == {d for d in load_supplement()[year].working_weekend_days}
    assert CAL.is_working_day(date(2026, 2, 14)) and CAL.is_working_day(date(2025, 9, 28))
    assert not CAL.is_official(2027)


def test_add_working_days_across_national_day_and_its_make_up_days() -> None:
    # From Mon 2026-09-14: Sun 09-20 counts, 09-25 and 10-01..07 do not, Sat 10-10 counts.
    assert CAL.add_working_days(date(2026, 9, 14), 45) == date(2026, 11, 20)
    assert CAL.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert CAL.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 14)
    assert CAL.add_working_days(date(2026, 2, 14), 1) == date(2026, 2, 24)


def test_working_days_between_is_signed() -> None:
    assert CAL.working_days_between(date(2026, 9, 30), date(2026, 10, 12)) == 4
    assert CAL.working_days_between(date(2026, 10, 12), date(2026, 9, 30)) == -4
    assert CAL.working_days_between(date(2026, 10, 12), date(2026, 10, 12)) == 0


def test_the_clock_pauses_while_information_is_requested() -> None:
    clock = SlaClock()
    clock.start(date(2026, 9, 14))
    assert clock.due_date(CAL, 45) == date(2026, 11, 20)
    clock.pause(date(2026, 9, 30))
    # Time stands still while paused.
    assert clock.working_days_left(CAL, 45, date(2026, 10, 30)) == clock.working_days_left(CAL, 45, date(2026, 9, 30))
    clock.resume(CAL, date(2026, 10, 12))  # 4 working days paused: 10-08, 10-09, 10-10, 10-12
    assert clock.paused_working_days == 4
    assert clock.due_date(CAL, 45) == date(2026, 11, 26)
    assert clock.working_days_left(CAL, 45, date(2026, 11, 27)) == -1


def test_a_switched_off_clock_has_no_due_date() -> None:
    clock = SlaClock()
    clock.start(date(2026, 9, 14))
    clock.switch_off("watch list")
    assert clock.due_date(CAL, 45) is None
    assert clock.working_days_left(CAL, 45, date(2027, 1, 1)) is None
    assert SlaClock.from_dict(clock.to_dict()) == clock


def test_priming_loads_the_library_years_without_official_data_and_changes_no_answer() -> None:
    years = range(2025, 2030)
    primed = PrcCalendar()
    primed.prime(2025, years=5)
    assert set(primed._library) == {y for y in years if not primed.is_official(y)} != set()
    fresh = PrcCalendar()
    days = [date(2025, 1, 1) + timedelta(days=i) for i in range(5 * 366)]
    assert [primed.is_working_day(d) for d in days] == [fresh.is_working_day(d) for d in days]
