"""leads: the marketing tool's contact key, so a vendor's later events find their lead

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_key", sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f("ix_leads_contact_key"), ["contact_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leads_contact_key"))
        batch_op.drop_column("contact_key")
