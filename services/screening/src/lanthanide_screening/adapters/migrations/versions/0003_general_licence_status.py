"""General licences carry the status review publishes (licence.status_changed): a suspended or
revoked general licence covers nothing, so no application is routed to the green channel under
it (issue 15).

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
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("screening_general_licences")}
    if "status" in columns:
        return  # made by create_all while this column was new: adopt it
    with op.batch_alter_table("screening_general_licences") as batch:
        batch.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="active"))


def downgrade() -> None:
    with op.batch_alter_table("screening_general_licences") as batch:
        batch.drop_column("status")
