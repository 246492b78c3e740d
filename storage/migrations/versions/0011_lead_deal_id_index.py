"""leads.deal_id indexed: a CRM's deal events find the lead holding their deal

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-11
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # every HubSpot deal event moving a deal back to an open stage asks whether a lead holds
    # the deal (``bot.adapters.hubspot_deals``): one index probe, not a scan of every lead
    op.create_index(op.f("ix_leads_deal_id"), "leads", ["deal_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_leads_deal_id"), table_name="leads")
