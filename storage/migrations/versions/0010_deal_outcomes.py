"""deal outcomes: won / lost SQLs with their deal's id, amount, currency, close and loss reason

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = storage.types.UTCDateTime(timezone=True)
COLUMNS = (
    ("deal_id", sa.String(200)),
    ("deal_amount", storage.types.Money()),
    ("deal_currency", sa.String(3)),
    ("closed_at", UTC_DATETIME),
    ("loss_reason", sa.String(64)),
    ("loss_reason_text", sa.String(200)),
    ("loss_note", sa.Text()),
    ("outcome_source", sa.String(20)),
)


def upgrade() -> None:
    # ``leads.status`` has no CHECK constraint (the states live in ``LeadStatus``), so "won" and
    # "lost" need no change to it; the columns are plain ALTER TABLE on both databases, as 0006
    # (no rebuild of ``leads`` on SQLite)
    for name, type_ in COLUMNS:
        op.add_column("leads", sa.Column(name, type_, nullable=True))
    op.create_index(op.f("ix_leads_closed_at"), "leads", ["closed_at"])


def downgrade() -> None:
    # leads that closed go back to being SQLs: the state the schema before this one knows
    op.execute("UPDATE leads SET status = 'converted' WHERE status IN ('won', 'lost')")
    op.drop_index(op.f("ix_leads_closed_at"), table_name="leads")
    for name, _ in reversed(COLUMNS):
        op.drop_column("leads", name)
