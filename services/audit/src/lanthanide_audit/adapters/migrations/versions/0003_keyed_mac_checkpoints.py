"""Keyed MAC chain and signed checkpoints: ledger.key_id and the checkpoints table.

Existing rows keep their sha256 hashes (key_id NULL, verified as the legacy prefix of the
chain); rows appended from now on are HMAC-SHA256 under the ledger key named by key_id.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    # A ledger made by create_all while these were new already has them: adopt, don't fail.
    if "key_id" not in {c["name"] for c in inspector.get_columns("ledger")}:
        with op.batch_alter_table("ledger", schema=None) as batch_op:
            batch_op.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
    if "checkpoints" not in set(inspector.get_table_names()):
        op.create_table(
            "checkpoints",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("head_mac", sa.String(length=64), nullable=False),
            sa.Column("at", sa.String(length=40), nullable=False),
            sa.Column("key_id", sa.String(length=32), nullable=True),
            sa.Column("signer", sa.String(length=32), nullable=False),
            sa.Column("signature", sa.String(length=128), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )


def downgrade() -> None:
    op.drop_table("checkpoints")
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.drop_column("key_id")
