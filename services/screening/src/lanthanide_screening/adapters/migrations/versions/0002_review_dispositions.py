"""Dispositions come from review's events: the table keyed by disposition id, with the list
version judged against and the expiry; the old table (filled by an unauthenticated HTTP route
whose verdicts named no list version) is dropped, its rows are void.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "screening_dispositions" in existing:
        op.drop_table("screening_dispositions")
    if "screening_review_dispositions" in existing:
        return  # made by create_all while this table was new: adopt it
    op.create_table(
        "screening_review_dispositions",
        sa.Column("disposition_id", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.Column("party_key", sa.String(length=300), nullable=False),
        sa.Column("list_id", sa.String(length=100), nullable=False),
        sa.Column("entry_id", sa.String(length=200), nullable=False),
        sa.Column("list_version", sa.String(length=200), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recorded_json", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("disposition_id"),
    )
    op.create_index(
        "ix_screening_review_dispositions_pair",
        "screening_review_dispositions",
        ["party_key", "list_id", "entry_id"],
    )


def downgrade() -> None:
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
    op.drop_index("ix_screening_review_dispositions_pair", table_name="screening_review_dispositions")
    op.drop_table("screening_review_dispositions")
