"""The console's queue projection: one slim row per case (issue 18), backfilled from the cases.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_queue",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("route", sa.String(length=32)),
        sa.Column("queue", sa.String(length=40)),
        sa.Column("assignee", sa.String(length=100)),
        sa.Column("outcome", sa.String(length=32)),
        sa.Column("external_reference", sa.String(length=100), nullable=False),
        sa.Column("exporter", sa.String(length=300), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("red_flag_codes", sa.JSON(), nullable=False),
        sa.Column("red_flag_count", sa.Integer(), nullable=False),
        sa.Column("hit_count", sa.Integer(), nullable=False),
        sa.Column("countersign_required", sa.Boolean(), nullable=False),
        sa.Column("sla_started_on", sa.Date()),
        sa.Column("sla_applies", sa.Boolean(), nullable=False),
        sa.Column("sla_paused_since", sa.Date()),
        sa.Column("sla_paused_working_days", sa.Integer(), nullable=False),
        sa.Column("sla_off_reason", sa.Text()),
        sa.Column("due_on", sa.Date()),
        sa.Column("due_on_provisional", sa.Boolean()),
        sa.Column("decided_on", sa.Date()),
        sa.Column("decision_working_days", sa.Integer()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_index("ix_case_queue_state", "case_queue", ["state"])
    op.create_index("ix_case_queue_queue", "case_queue", ["queue"])
    op.create_index("ix_case_queue_due_on", "case_queue", ["due_on"])
    op.create_index("ix_case_queue_decided_on", "case_queue", ["decided_on"])
    _backfill()


def _backfill() -> None:
    """Project every existing case (the packaged calendar and routing policy, as the service
    would; the service rewrites a case's row whenever it writes the case)."""
    from lanthanide_review.adapters import orm
    from lanthanide_review.adapters.case_queue import QueueProjector
    from lanthanide_review.adapters.store import case_from_row

    conn = op.get_bind()
    projector = QueueProjector.default()
    now = datetime.now(UTC)
    last = ""
    while True:  # 500 cases at a time, by key (no cursor left open across the inserts)
        rows = conn.execute(
            sa.select(orm.cases).where(orm.cases.c.case_id > last).order_by(orm.cases.c.case_id).limit(500)
        ).all()
        if not rows:
            return
        conn.execute(sa.insert(orm.case_queue), [projector.row(case_from_row(r), now) for r in rows])
        last = rows[-1].case_id


def downgrade() -> None:
    for name in ("ix_case_queue_decided_on", "ix_case_queue_due_on", "ix_case_queue_queue", "ix_case_queue_state"):
        op.drop_index(name, table_name="case_queue")
    op.drop_table("case_queue")
