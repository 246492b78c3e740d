"""An agreement's versions as the proposal workflow leaves them: approvers, approvals, the
"in effect" posts queued."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.services import Services
from storage.models import AgreementApproval, AgreementVersion, OutboxMessage

MARKETING_APPROVER = "U0MKTAPPR1"
SALES_APPROVER = "U0SALAPPR1"


def versions(services: Services) -> list[tuple[int, str]]:
    with services.unit_of_work() as uow:
        rows = uow.session.scalars(select(AgreementVersion).order_by(AgreementVersion.number))
        return [(v.number, str(v.status)) for v in rows]


def approve(services: Services, number: int, side: str, user: str, at: datetime,
            effective_at: datetime | None = None) -> None:
    """What the proposal workflow records when an approver presses Approve."""
    with services.unit_of_work() as uow:
        version = uow.agreements.by_number(number)
        assert version is not None
        uow.session.add(AgreementApproval(version_id=version.id, user_id=user, side=side,
                                          approved_at=at))
        if effective_at is not None:
            version.effective_at = effective_at
        uow.commit()


def in_effect_rows(services: Services) -> list[str]:
    with services.unit_of_work() as uow:
        return sorted(uow.session.scalars(
            select(OutboxMessage.idempotency_key)
            .where(OutboxMessage.idempotency_key.like("agreement:%:in-effect:%"))))
