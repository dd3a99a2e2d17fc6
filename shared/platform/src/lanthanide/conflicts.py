"""Conflicting duplicates are an alarm, never a quiet dedupe.

Event and decision ids are deterministic, so a second record with a known id is normally the
same event redelivered. The same id with a different payload is a forgery or a bug upstream:
every consumer that dedupes by id reports it here (an ERROR log line and a metric) and keeps
both copies; it never keeps the first and silently drops the second.
"""

from __future__ import annotations

from lanthanide.logging import get_logger
from prometheus_client import Counter

log = get_logger(__name__)

#: Records whose id was already seen with a different payload, by consumer and id kind.
CONFLICTS = Counter(
    "lanthanide_event_conflicts_total",
    "Records whose event id or decision id was already seen with a different payload",
    ["consumer", "id_kind"],
)


def report_conflict(consumer: str, id_kind: str, id_value: str, *, topic: str | None = None,
                    case_id: str | None = None, first: str | None = None, second: str | None = None) -> None:
    """Log the conflict at ERROR (ids and fingerprints only, no personal data) and count it."""
    CONFLICTS.labels(consumer=consumer, id_kind=id_kind).inc()
    log.error("conflicting_duplicate", consumer=consumer, id_kind=id_kind, id=id_value, topic=topic,
              case_id=case_id, first_fingerprint=first, second_fingerprint=second)
