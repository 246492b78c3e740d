"""agreement versions and their approvals; the version each lead was handed off under

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = storage.types.UTCDateTime(timezone=True)
STATUSES = "status IN ('proposed', 'active', 'superseded', 'rejected', 'withdrawn')"


def upgrade() -> None:
    op.create_table(
        "agreement_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("policy_text", sa.Text(), nullable=False),
        sa.Column("policy_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("proposer", sa.String(64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("effective_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint(STATUSES, name=op.f("ck_agreement_versions_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_versions")),
        sa.UniqueConstraint("number", name=op.f("uq_agreement_versions_number")),
    )
    op.create_index(op.f("ix_agreement_versions_policy_hash"), "agreement_versions",
                    ["policy_hash"])
    op.create_table(
        "agreement_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("side", sa.String(20), nullable=False),
        sa.Column("approved_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("side IN ('marketing', 'sales')",
                           name=op.f("ck_agreement_approvals_side")),
        sa.ForeignKeyConstraint(
            ["version_id"], ["agreement_versions.id"], ondelete="CASCADE",
            name=op.f("fk_agreement_approvals_version_id_agreement_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_approvals")),
        sa.UniqueConstraint("version_id", "user_id",
                            name=op.f("uq_agreement_approvals_version_id_user_id")),
    )
    # plain ALTER TABLE on both databases, as 0006 (no rebuild of ``leads`` on SQLite)
    op.add_column("leads", sa.Column("agreement_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("leads", "agreement_version")
    op.drop_table("agreement_approvals")
    op.drop_index(op.f("ix_agreement_versions_policy_hash"), table_name="agreement_versions")
    op.drop_table("agreement_versions")
