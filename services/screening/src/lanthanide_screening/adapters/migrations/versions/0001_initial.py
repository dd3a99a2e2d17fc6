"""Initial screening schema: the tables the store made with create_all before migrations.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "screening_cases",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("correlation_id", sa.String(length=36), nullable=False),
        sa.Column("accepted_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("licence_valid_until", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_table(
        "screening_dispositions",
        sa.Column("party_key", sa.String(length=300), nullable=False),
        sa.Column("list_id", sa.String(length=100), nullable=False),
        sa.Column("entry_id", sa.String(length=200), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reviewer", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("party_key", "list_id", "entry_id"),
    )
    op.create_table(
        "screening_general_licences",
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("licence_json", sa.Text(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )


def downgrade() -> None:
    op.drop_table("screening_general_licences")
    op.drop_table("screening_dispositions")
    op.drop_table("screening_cases")
