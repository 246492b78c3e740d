"""Leads as tests need them: the SPEC's example payload, leads queued through intake, leads
seeded at a point of their life, and what the database holds afterwards."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from bot.intake import accept, parse_data
from bot.lifecycle import Action, Surface, apply
from bot.services import Services
from storage.models import Activity, Lead, LeadEvent, LeadStatus, OutboxMessage
from tests.harness.people import CHANNEL, REP1

# SPEC section 3, verbatim.
SPEC_EXAMPLE = """{
  "external_id": "hubspot-20391",
  "source": "hubspot",
  "qualified_at": "2026-11-24T09:12:00+09:00",
  "contact": {"name": "Sato Hanako", "email": "hanako@example.co.jp", "title": "営業部長", "phone": "+81-3-0000-0000"},
  "company": {"name": "Example KK", "industry": "manufacturing", "employees": 250, "domain": "example.co.jp"},
  "score": 72,
  "activities": [
    {"type": "page_view", "at": "2026-11-20T10:01:00+09:00", "detail": "/pricing"},
    {"type": "download", "at": "2026-11-21T15:30:00+09:00", "detail": "SLA whitepaper"},
    {"type": "webinar", "at": "2026-11-22T14:00:00+09:00", "detail": "Sales x Marketing alignment"}
  ]
}"""  # noqa: E501
EXAMPLE: dict[str, Any] = json.loads(SPEC_EXAMPLE)


def lead(**changes: Any) -> dict[str, Any]:
    """The SPEC's example payload with ``changes``."""
    body = copy.deepcopy(EXAMPLE)
    body.update(changes)
    return body


def not_qualified() -> dict[str, Any]:
    return lead(external_id="hubspot-20392", activities=[], score=0)


def spec_lead(external_id: str = "hubspot-20391", **changes: object) -> dict:
    lead = {
        "external_id": external_id,
        "source": "hubspot",
        "qualified_at": "2026-11-24T09:12:00+09:00",
        "contact": {"name": "Sato Hanako", "email": "hanako@example.co.jp", "title": "営業部長",
                    "phone": "+81-3-0000-0000"},
        "company": {"name": "Example KK", "industry": "manufacturing", "employees": 250,
                    "domain": "example.co.jp"},
        "score": 72,
        "activities": [
            {"type": "page_view", "at": "2026-11-20T10:01:00+09:00", "detail": "/pricing"},
            {"type": "download", "at": "2026-11-21T15:30:00+09:00", "detail": "SLA whitepaper"},
            {"type": "webinar", "at": "2026-11-22T14:00:00+09:00",
             "detail": "Sales x Marketing alignment"},
        ],
    }
    lead.update(changes)
    return lead


def queue(services: Services, external_id: str = "hubspot-20391", **changes: object) -> int:
    """A lead accepted by intake, its hand-off queued in the outbox."""
    mql = parse_data(spec_lead(external_id, **changes), now=services.clock.now())
    result = accept(services, mql, surface=Surface.WEBHOOK)
    assert result.status == "queued", result
    return result.lead_id


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
            posted_at=now - timedelta(days=3), channel_id=CHANNEL,
            message_ts="1700000000.000100", owner_id=REP1 if status != LeadStatus.POSTED else None,
            claimed_at=now - timedelta(days=3), touch_count=2, updated_at=now,
        )
        uow.session.add(lead)
        uow.session.flush()
        if converted:
            apply(lead, Action.CONVERT, at=now - timedelta(days=1), surface=Surface.MODAL,
                  actor=REP1, data={"bant": ["budget"]})
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


def counts(engine: Engine) -> dict[str, int]:
    """Rows per table an intake writes: nothing half-written is the point."""
    with engine.connect() as connection:
        return {
            model.__tablename__: connection.scalar(select(func.count()).select_from(model)) or 0
            for model in (Lead, Activity, LeadEvent, OutboxMessage)
        }
