"""Leads at each point of their life, for the deal-outcome tests (service, webhook, CSV)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.lifecycle import Action, Surface, apply
from bot.services import Services
from storage.models import Lead, LeadEvent, LeadStatus, OutboxMessage

REP = "U0000REP1"


def make_lead(
    services: Services, external_id: str, *, converted: bool = True,
    status: LeadStatus = LeadStatus.WORKING, contact_key: str | None = None,
) -> int:
    """A handed-off lead, worked and (by default) converted to SQL through the lifecycle."""
    now = services.clock.now()
    with services.unit_of_work() as uow:
        lead = Lead(
            external_id=external_id, source="webinar", status=status, contact_key=contact_key,
            qualified_at=now - timedelta(days=3), received_at=now - timedelta(days=3),
            contact_name="Sato Hanako", company_name="Example KK",
            posted_at=now - timedelta(days=3), channel_id="C0000SALES",
            message_ts="1700000000.000100", owner_id=REP if status != LeadStatus.POSTED else None,
            claimed_at=now - timedelta(days=3), touch_count=2, updated_at=now,
        )
        uow.session.add(lead)
        uow.session.flush()
        if converted:
            apply(lead, Action.CONVERT, at=now - timedelta(days=1), surface=Surface.MODAL,
                  actor=REP, data={"bant": ["budget"]})
            lead.decided_at = now - timedelta(days=1)
        uow.session.flush()
        lead_id = lead.id
        uow.commit()
    return lead_id


def lead_row(services: Services, lead_id: int) -> Lead:
    with services.unit_of_work() as uow:
        lead = uow.leads.get(lead_id)
        assert lead is not None
        uow.session.expunge(lead)
        return lead


def outcome_events(services: Services, lead_id: int | None = None) -> list[tuple[str, str]]:
    """(kind, to_status) of every deal-outcome event, oldest first."""
    with services.unit_of_work() as uow:
        query = select(LeadEvent.kind, LeadEvent.to_status).where(
            LeadEvent.kind.in_(["win", "lose", "reopen"])).order_by(LeadEvent.id)
        if lead_id is not None:
            query = query.where(LeadEvent.lead_id == lead_id)
        return [(kind, str(to)) for kind, to in uow.session.execute(query)]


def row_counts(services: Services) -> dict[str, int]:
    """How many events and outbox rows exist, and how many leads carry an outcome."""
    with services.unit_of_work() as uow:
        session = uow.session
        return {
            "events": session.scalar(select(func.count()).select_from(LeadEvent)) or 0,
            "outbox": session.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
            "outcomes": session.scalar(select(func.count()).select_from(Lead)
                                       .where(Lead.outcome_source.is_not(None))) or 0,
        }
