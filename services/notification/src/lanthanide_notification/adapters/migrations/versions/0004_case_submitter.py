"""The case's own submitter: case_contacts.submitter (rule SUB-CONTACT-OWNER, issue 14 part 3).

Only the first submitter's resubmissions change a case's contact. Contacts learnt before this
revision name none and behave as before (the next submitter that resubmits becomes the case's).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("case_contacts")}
    if "submitter" in columns:  # made by create_all with this revision's shape: adopt it
        return
    with op.batch_alter_table("case_contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submitter", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_contacts", schema=None) as batch_op:
        batch_op.drop_column("submitter")
