"""The topic catalogue: the one place that names Kafka topics."""

from __future__ import annotations

import re
from typing import Final

PREFIX: Final = "lanthanide"


class Topics:
    """Topic names. Key = case_id on every topic, so one case stays ordered on one partition."""

    APPLICATIONS_SUBMITTED: Final = f"{PREFIX}.applications.submitted"
    APPLICATIONS_ACCEPTED: Final = f"{PREFIX}.applications.accepted"
    APPLICATIONS_REJECTED: Final = f"{PREFIX}.applications.rejected"
    SCREENING_COMPLETED: Final = f"{PREFIX}.screening.completed"
    CASE_EVENTS: Final = f"{PREFIX}.cases.events"
    DECISIONS: Final = f"{PREFIX}.decisions"
    NOTIFICATIONS: Final = f"{PREFIX}.notifications"
    REFERENCE_UPDATES: Final = f"{PREFIX}.reference.updates"
    SHIPMENTS_REPORTED: Final = f"{PREFIX}.shipments.reported"
    # Reviewer dispositions of screening hits (review -> screening, audit); issue 14.1.
    DISPOSITIONS: Final = f"{PREFIX}.dispositions"

    # -- audit checkpoints (issue 14.7): signed (position, head MAC) of the ledger
    AUDIT_CHECKPOINTS: Final = f"{PREFIX}.audit.checkpoints"

    @classmethod
    def all(cls) -> tuple[str, ...]:
        """Every business topic (without dead-letter topics)."""
        return tuple(
            v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str)
        )


def dlq(topic: str) -> str:
    """The dead-letter topic for a topic: poison messages with the error and the original bytes."""
    return f"{topic}.dlq"


#: The name of an upstream Kafka submitter: its principal and the suffix of its topic.
SUBMITTER_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def submitter_topic(submitter: str) -> str:
    """The topic only `submitter` may write (a LITERAL ACL for its principal) and intake reads:
    `lanthanide.applications.submitted.<submitter>`. Intake takes the submitter from the topic
    a record came on, never from its payload; `lanthanide.applications.submitted` itself is
    written by intake alone (its HTTP API) on a secured cluster."""
    if not SUBMITTER_NAME.fullmatch(submitter) or submitter == "dlq":
        raise ValueError(
            f"submitter name {submitter!r}: use 1-63 lower-case letters, digits, '-' or '_' (not 'dlq')"
        )
    return f"{Topics.APPLICATIONS_SUBMITTED}.{submitter}"


def all_topics_with_dlq() -> tuple[str, ...]:
    """Every topic the stack uses, dead-letter topics included (for creating them up front)."""
    return Topics.all() + tuple(dlq(t) for t in Topics.all())


#: Which event types travel on which topic (the event catalogue, for docs and schema checks).
TOPIC_EVENTS: Final[dict[str, tuple[str, ...]]] = {
    Topics.APPLICATIONS_SUBMITTED: ("application.submitted",),
    Topics.APPLICATIONS_ACCEPTED: ("application.accepted",),
    Topics.APPLICATIONS_REJECTED: ("application.rejected",),
    Topics.SCREENING_COMPLETED: ("screening.completed",),
    Topics.CASE_EVENTS: ("case.event",),
    Topics.DECISIONS: ("decision.made", "licence.status_changed"),
    Topics.NOTIFICATIONS: ("notification.outcome",),
    Topics.REFERENCE_UPDATES: ("reference.updated",),
    Topics.SHIPMENTS_REPORTED: ("shipment.reported",),
    Topics.AUDIT_CHECKPOINTS: ("audit.checkpoint",),
    Topics.DISPOSITIONS: ("disposition.recorded", "disposition.revoked"),
}

#: Topics each service publishes to (its subscriptions are declared by its FastStream app).
PUBLISHES: Final[dict[str, tuple[str, ...]]] = {
    "intake": (Topics.APPLICATIONS_SUBMITTED, Topics.APPLICATIONS_ACCEPTED, Topics.APPLICATIONS_REJECTED),
    "screening": (Topics.SCREENING_COMPLETED,),
    "review": (Topics.CASE_EVENTS, Topics.DECISIONS, Topics.DISPOSITIONS),
    "notification": (Topics.NOTIFICATIONS,),
    "audit": (Topics.AUDIT_CHECKPOINTS,),
}
