"""Table definitions (SQLAlchemy Core). The Alembic migrations create exactly these tables;
a test compares the migrated schema with this metadata so the two cannot drift."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

cases = Table(
    "cases",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("state", String(32), nullable=False, index=True),
    Column("route", String(32)),
    Column("queue", String(40)),
    Column("external_reference", String(100), nullable=False),
    Column("exporter", String(300), nullable=False),
    Column("assignee", String(100)),
    Column("outcome", String(32)),
    Column("decision_id", String(36), unique=True),
    Column("licence_number", String(32)),
    Column("application", JSON, nullable=False),
    Column("screening", JSON),
    Column("data", JSON, nullable=False),  # the rest of the aggregate (sla, recommendation, ...)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
    Column("version", Integer, nullable=False),
)

case_history = Table(
    "case_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(36), nullable=False, index=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("event_type", String(64), nullable=False),
    Column("kind", String(40)),
    Column("actor", String(100)),
    Column("from_state", String(32)),
    Column("to_state", String(32)),
    Column("reason", Text),
    Column("details", JSON, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("topic", String(200), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("topic", String(200), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Index("ix_outbox_unsent", "sent_at", "id"),
)

licences = Table(
    "licences",
    metadata,
    Column("number", String(32), primary_key=True),
    Column("case_id", String(36), nullable=False, unique=True),
    Column("type", String(16), nullable=False),
    Column("holder", String(300), nullable=False),
    Column("status", String(16), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_until", Date, nullable=False),
    Column("data", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

shipments = Table(
    "shipments",
    metadata,
    Column("shipment_id", String(100), primary_key=True),
    Column("licence_number", String(32), nullable=False, index=True),
    Column("item_index", Integer, nullable=False),
    Column("quantity", String(40), nullable=False),  # exact decimal text
    Column("unit", String(16), nullable=False),
    Column("end_user", String(300), nullable=False),
    Column("end_user_country", String(8), nullable=False),
    Column("shipped_on", Date, nullable=False),
    Column("accepted", Boolean, nullable=False),
    Column("rule_id", String(40)),
    Column("reason", Text),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

licence_counters = Table(
    "licence_counters",
    metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("next_sequence", Integer, nullable=False),
)

# Reviewer dispositions of screening hits (issue 14.1; revision 0002).
dispositions = Table(
    "dispositions",
    metadata,
    Column("disposition_id", String(36), primary_key=True),
    Column("case_id", String(36), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The console's queue projection (issue 18; revision 0003): one slim row per case with what the
# queue and the dashboard show, sort and count, written in the same transaction as the case row
# (CaseRepository.add, written at commit), so pages never read the application or screening JSON.
case_queue = Table(
    "case_queue",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("state", String(32), nullable=False, index=True),
    Column("route", String(32)),
    Column("queue", String(40), index=True),
    Column("assignee", String(100)),
    Column("outcome", String(32)),
    Column("external_reference", String(100), nullable=False),
    Column("exporter", String(300), nullable=False),
    Column("search_text", Text, nullable=False),  # casefolded reference and exporter
    Column("red_flag_codes", JSON, nullable=False),
    Column("red_flag_count", Integer, nullable=False),
    Column("hit_count", Integer, nullable=False),
    Column("countersign_required", Boolean, nullable=False),
    Column("sla_started_on", Date),
    Column("sla_applies", Boolean, nullable=False),
    Column("sla_paused_since", Date),
    Column("sla_paused_working_days", Integer, nullable=False),
    Column("sla_off_reason", Text),
    Column("due_on", Date, index=True),
    Column("due_on_provisional", Boolean),
    Column("decided_on", Date, index=True),  # PRC date of the decision
    Column("decision_working_days", Integer),  # working days from the clock's start to the decision
    Column("created_at", DateTime(timezone=True), nullable=False),
)
