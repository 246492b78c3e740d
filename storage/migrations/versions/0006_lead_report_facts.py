"""leads: the first claim and whether there is behaviour history, stored for the reports

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = storage.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    # plain ALTER TABLE on both databases: SQLite's batch mode would rebuild ``leads`` (for a
    # default given as an expression), and dropping the old table cascades to its children
    op.add_column("leads", sa.Column("first_claimed_at", UTC_DATETIME, nullable=True))
    op.add_column("leads", sa.Column(
        "has_history", sa.Boolean(), nullable=False,
        server_default="0" if _sqlite() else sa.false()))
    # set-based backfill from the audit trail (the same facts the reports derived before);
    # the stored representation of ``at`` is copied as is, so both databases read it back alike
    op.execute(
        "UPDATE leads SET first_claimed_at = (SELECT min(e.at) FROM lead_events e"
        " WHERE e.lead_id = leads.id AND e.kind = 'claim')"
        " WHERE EXISTS (SELECT 1 FROM lead_events e"
        " WHERE e.lead_id = leads.id AND e.kind = 'claim')"
    )
    op.execute(
        "UPDATE leads SET has_history = " + ("1" if _sqlite() else "true")
        + " WHERE EXISTS (SELECT 1 FROM activities a WHERE a.lead_id = leads.id)"
    )


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35), not a rebuild of ``leads`` (see upgrade)
    op.drop_column("leads", "has_history")
    op.drop_column("leads", "first_claimed_at")
