"""Initial review schema: cases, history, processed events, outbox, licences, shipments.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(36), primary_key=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("route", sa.String(32)),
        sa.Column("queue", sa.String(40)),
        sa.Column("external_reference", sa.String(100), nullable=False),
        sa.Column("exporter", sa.String(300), nullable=False),
        sa.Column("assignee", sa.String(100)),
        sa.Column("outcome", sa.String(32)),
        sa.Column("decision_id", sa.String(36), unique=True),
        sa.Column("licence_number", sa.String(32)),
        sa.Column("application", sa.JSON, nullable=False),
        sa.Column("screening", sa.JSON),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("decided_at", TZ),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_cases_state", "cases", ["state"])
    op.create_table(
        "case_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(40)),
        sa.Column("actor", sa.String(100)),
        sa.Column("from_state", sa.String(32)),
        sa.Column("to_state", sa.String(32)),
        sa.Column("reason", sa.Text),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("occurred_at", TZ, nullable=False),
    )
    op.create_index("ix_case_history_case_id", "case_history", ["case_id"])
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("processed_at", TZ, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("sent_at", TZ),
    )
    op.create_index("ix_outbox_unsent", "outbox", ["sent_at", "id"])
    op.create_table(
        "licences",
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("case_id", sa.String(36), nullable=False, unique=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("holder", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_until", sa.Date, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "shipments",
        sa.Column("shipment_id", sa.String(100), primary_key=True),
        sa.Column("licence_number", sa.String(32), nullable=False),
        sa.Column("item_index", sa.Integer, nullable=False),
        sa.Column("quantity", sa.String(40), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("end_user", sa.String(300), nullable=False),
        sa.Column("end_user_country", sa.String(8), nullable=False),
        sa.Column("shipped_on", sa.Date, nullable=False),
        sa.Column("accepted", sa.Boolean, nullable=False),
        sa.Column("rule_id", sa.String(40)),
        sa.Column("reason", sa.Text),
        sa.Column("recorded_at", TZ, nullable=False),
    )
    op.create_index("ix_shipments_licence_number", "shipments", ["licence_number"])
    op.create_table(
        "licence_counters",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("next_sequence", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("licence_counters", "shipments", "licences", "outbox", "processed_events", "case_history", "cases"):
        op.drop_table(table)
