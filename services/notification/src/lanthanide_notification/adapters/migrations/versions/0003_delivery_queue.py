"""The delivery queue: every delivery, its first round included, waits in pending_deliveries.

`rounds` (rounds of attempts made) replaces `retries` (persisted retries made, the first round
having run in the consumer): a queued delivery of revision 0002 had its first round already,
so rounds = retries + 1, except a replay, whose round had not run (rounds = retries). `host`
is the receiver a delivery occupies, for the worker's per-host limit. deliveries.replay names the
operator's replay that gave a logged result ("" for a first delivery), so the outcome re-emitted
for it has that replay's event id.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _host(channel: str, target: str) -> str:
    # lanthanide_notification.domain.model.delivery_host as of this revision (a migration does
    # not import the code it migrates for).
    if channel == "email":
        return "smtp"
    return urlsplit(target).netloc.rsplit("@", 1)[-1].lower()[:300]


def upgrade() -> None:
    bind = op.get_bind()
    columns = {c["name"] for c in sa.inspect(bind).get_columns("pending_deliveries")}
    if "rounds" in columns:  # made by create_all with this revision's shape: adopt it
        return
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replay", sa.String(length=32), nullable=False, server_default=""))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column("replay", server_default=None)
    with op.batch_alter_table("pending_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rounds", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("host", sa.String(length=300), nullable=False, server_default=""))
    table = sa.table("pending_deliveries", sa.column("id", sa.Integer()), sa.column("channel", sa.String()),
                     sa.column("target", sa.String()), sa.column("retries", sa.Integer()),
                     sa.column("replay", sa.String()), sa.column("rounds", sa.Integer()),
                     sa.column("host", sa.String()))
    for row in bind.execute(sa.select(table.c.id, table.c.channel, table.c.target, table.c.retries,
                                      table.c.replay)).all():
        rounds = row.retries if row.replay else row.retries + 1
        bind.execute(table.update().where(table.c.id == row.id).values(
            rounds=rounds, host=_host(row.channel, row.target)))
    with op.batch_alter_table("pending_deliveries", schema=None) as batch_op:
        batch_op.alter_column("rounds", server_default=None)
        batch_op.alter_column("host", server_default=None)
        batch_op.drop_column("retries")
        batch_op.create_index("ix_pending_deliveries_host", ["host"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pending_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retries", sa.Integer(), nullable=False, server_default="0"))
    table = sa.table("pending_deliveries", sa.column("replay", sa.String()), sa.column("rounds", sa.Integer()),
                     sa.column("retries", sa.Integer()))
    op.execute(table.update().where(table.c.replay == "").values(
        retries=sa.case((table.c.rounds > 0, table.c.rounds - 1), else_=0)))
    op.execute(table.update().where(table.c.replay != "").values(retries=table.c.rounds))
    with op.batch_alter_table("pending_deliveries", schema=None) as batch_op:
        batch_op.alter_column("retries", server_default=None)
        batch_op.drop_index("ix_pending_deliveries_host")
        batch_op.drop_column("host")
        batch_op.drop_column("rounds")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("replay")
