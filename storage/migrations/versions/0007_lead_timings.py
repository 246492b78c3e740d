"""leads: business-time facts and the first breach, stored for the reports

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    # plain ALTER TABLE on both databases, as 0006 (no rebuild of ``leads`` on SQLite)
    op.add_column("leads", sa.Column("first_contact_due_at", UTC_DATETIME, nullable=True))
    op.add_column("leads", sa.Column("claim_business_us", sa.BigInteger(), nullable=True))
    op.add_column("leads", sa.Column("contact_business_us", sa.BigInteger(), nullable=True))
    op.add_column("leads", sa.Column("timing_basis", sa.String(32), nullable=True))
    op.add_column("leads", sa.Column("first_breach_at", UTC_DATETIME, nullable=True))
    # the business-time facts need the calendar: the bot stamps them at its next start
    # (``bot.timings.restamp_all``); the first breach is in the audit trail already
    op.execute(
        "UPDATE leads SET first_breach_at = (SELECT min(e.at) FROM lead_events e"
        " WHERE e.lead_id = leads.id AND e.kind = 'breach')"
        " WHERE EXISTS (SELECT 1 FROM lead_events e"
        " WHERE e.lead_id = leads.id AND e.kind = 'breach')"
    )
    # the open-breaches list, oldest first (as ``storage.models.OPEN_BREACHED``)
    where = sa.text("first_breach_at IS NOT NULL AND status IN ('posted', 'claimed', 'working')")
    op.create_index("ix_leads_open_breaches", "leads", ["first_breach_at", "id"],
                    postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    op.drop_index("ix_leads_open_breaches", table_name="leads")
    for column in ("first_breach_at", "timing_basis", "contact_business_us",
                   "claim_business_us", "first_contact_due_at"):
        op.drop_column("leads", column)
