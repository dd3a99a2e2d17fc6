"""The one PRC calendar date of a moment: every rule, clock and validity is evaluated on it.

Asia/Shanghai has no daylight saving: 16:00 UTC and later is already the next PRC day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

PRC = ZoneInfo("Asia/Shanghai")


def prc_date(moment: datetime) -> date:
    """The Asia/Shanghai calendar date of `moment` (a naive moment is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(PRC).date()


def prc_today() -> date:
    """Today on the PRC calendar (for re-screening and what-if defaults, never for intake)."""
    return prc_date(datetime.now(UTC))
