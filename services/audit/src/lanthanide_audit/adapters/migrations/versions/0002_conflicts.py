"""Conflicting duplicates are kept, never dropped: the conflicts and decision_ids tables.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A ledger made by create_all while these tables were new already has them: adopt, don't fail.
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "conflicts" in existing and "decision_ids" in existing:
        return
    op.create_table(
        "conflicts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id_kind", sa.String(length=16), nullable=False),
        sa.Column("conflict_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("first_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.Integer(), nullable=False),
        sa.Column("canonical", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("conflicts", schema=None) as batch_op:
        batch_op.create_index("ux_conflicts_id_fp", ["id_kind", "conflict_id", "fingerprint"], unique=True)
    op.create_table(
        "decision_ids",
        sa.Column("decision_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("decision_id"),
    )


def downgrade() -> None:
    op.drop_table("decision_ids")
    with op.batch_alter_table("conflicts", schema=None) as batch_op:
        batch_op.drop_index("ux_conflicts_id_fp")
    op.drop_table("conflicts")
