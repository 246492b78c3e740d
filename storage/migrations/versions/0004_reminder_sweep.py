"""reminder sweep: next due instant and handled notices; report indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lead_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("clock", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("deadline", UTC_DATETIME, nullable=False),
        sa.Column("planned_at", UTC_DATETIME, nullable=False),
        sa.Column("handled_at", UTC_DATETIME, nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("late", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_lead_notices_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_notices")),
        sa.UniqueConstraint("lead_id", "key", name=op.f("uq_lead_notices_lead_id_key")),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_touch_at", UTC_DATETIME, nullable=True))
        batch_op.add_column(sa.Column("next_due_at", UTC_DATETIME, nullable=True))
        batch_op.create_index(batch_op.f("ix_leads_next_due_at"), ["next_due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_leads_posted_at"), ["posted_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_leads_decided_at"), ["decided_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leads_decided_at"))
        batch_op.drop_index(batch_op.f("ix_leads_posted_at"))
        batch_op.drop_index(batch_op.f("ix_leads_next_due_at"))
        batch_op.drop_column("next_due_at")
        batch_op.drop_column("last_touch_at")
    op.drop_table("lead_notices")
