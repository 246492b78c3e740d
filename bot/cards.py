"""What the views show of a lead, read from its row once by the service that renders them.

Views are pure functions of frozen data (``bot.views``); this module turns a ``Lead`` and
the rows around it into that data, so everything a card shows is loaded here, in plain sight,
and rendering never reaches back into the database (a lazy load inside the claim's
transaction was a hidden query).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.deal import DealOutcome
from bot.event_kind import Action
from bot.lifecycle import TERMINAL
from bot.views.details_modal import (
    LeadRecord,
    RecordActivity,
    RecordEvent,
    RecordFeedback,
    RecordTouch,
)
from bot.views.handoff import CardActivity, HandoffCard
from bot.views.notice import NoticeLead
from storage.models import Feedback, Lead, LeadEvent, LeadStatus
from storage.repositories import History

__all__ = ["handoff_card", "handoff_history", "lead_record", "notice_lead"]


def handoff_history(lead: Lead) -> History:
    """What the handoff card reads of the lead's history (load it before ``handoff_card``):
    its activities, and its events only when the card shows a release or a decision (a claim
    must not load the lead's trail)."""
    if _shows_release(lead) or _shows_decision(lead):
        return History.ACTIVITIES | History.EVENTS
    return History.ACTIVITIES


def _shows_release(lead: Lead) -> bool:
    return lead.status == LeadStatus.POSTED


def _shows_decision(lead: Lead) -> bool:
    return lead.status in TERMINAL


def handoff_card(lead: Lead) -> HandoffCard:
    """The handoff card's data: the lead's fields, its activities, its last release or
    decision (the collections of ``handoff_history`` must be loaded)."""
    shows_release, shows_decision = _shows_release(lead), _shows_decision(lead)
    events = list(lead.events or []) if shows_release or shows_decision else []
    return HandoffCard(
        id=lead.id,
        status=str(lead.status) if lead.status else None,
        owner_id=lead.owner_id,
        contact_name=lead.contact_name,
        contact_title=lead.contact_title,
        company_name=lead.company_name,
        company_industry=lead.company_industry,
        company_employees=lead.company_employees,
        score=lead.score,
        source=lead.source,
        tier=lead.tier,
        qualified_at=lead.qualified_at,
        posted_at=lead.posted_at,
        claimed_at=lead.claimed_at,
        first_touch_at=lead.first_touch_at,
        last_touch_at=lead.last_touch_at,
        touch_count=lead.touch_count or 0,
        activities=tuple(CardActivity(at=a.at, type=a.type, detail=a.detail)
                         for a in lead.activities or []),
        last_release=_last_release(events) if shows_release else None,
        last_decision=(_last_decision(events, lead.decision_reason) if shows_decision
                       else None),
    )


def notice_lead(lead: Lead) -> NoticeLead:
    """What a reminder, breach notice or nudge shows of the lead."""
    return NoticeLead(
        id=lead.id,
        contact_name=lead.contact_name,
        company_name=lead.company_name,
        owner_id=lead.owner_id,
        touch_count=lead.touch_count or 0,
        qualified_at=lead.qualified_at,
        posted_at=lead.posted_at,
        channel_id=lead.channel_id,
        message_ts=lead.message_ts,
    )


def lead_record(
    lead: Lead, feedback: Iterable[Feedback], outcomes: Mapping[int, DealOutcome]
) -> LeadRecord:
    """The Details modal's data: the lead's fields and every row around it (its activities,
    touches and events must be loaded)."""
    return LeadRecord(
        id=lead.id,
        status=str(lead.status) if lead.status else None,
        owner_id=lead.owner_id,
        claimed_at=lead.claimed_at,
        touch_count=lead.touch_count or 0,
        source=lead.source,
        external_id=lead.external_id,
        received_at=lead.received_at,
        posted_at=lead.posted_at,
        first_touch_at=lead.first_touch_at,
        decided_at=lead.decided_at,
        contact_name=lead.contact_name,
        contact_title=lead.contact_title,
        contact_email=lead.contact_email,
        contact_phone=lead.contact_phone,
        company_name=lead.company_name,
        company_domain=lead.company_domain,
        company_industry=lead.company_industry,
        company_employees=lead.company_employees,
        score=lead.score,
        tier=lead.tier,
        qualified_at=lead.qualified_at,
        definition_version=lead.definition_version,
        qualification=lead.qualification,
        activities=tuple(RecordActivity(id=a.id, at=a.at, type=a.type, detail=a.detail)
                         for a in lead.activities or []),
        touches=tuple(RecordTouch(id=x.id, at=x.at, rep_id=x.rep_id, kind=x.kind,
                                  outcome=x.outcome, note=x.note)
                      for x in lead.touches or []),
        events=tuple(RecordEvent(id=e.id, at=e.at, kind=e.kind, actor=e.actor,
                                 surface=e.surface, data=e.data or {})
                     for e in lead.events or []),
        feedback=tuple(RecordFeedback(id=f.id, at=f.at, author_id=f.author_id, text=f.text)
                       for f in feedback),
        outcomes=dict(outcomes),
    )


def _last_release(events: list[LeadEvent]) -> dict[str, Any] | None:
    """The release that made a posted lead claimable again, if that is how it got there."""
    for event in reversed(events):
        if event.to_status is None:
            continue  # a fact, not a state change
        if event.kind == Action.RELEASE:
            return {"actor": event.actor, **(event.data or {})}
        return None
    return None


def _last_decision(events: list[LeadEvent], decision_reason: str | None) -> dict[str, Any] | None:
    """The convert or recycle event that decided the lead (actor, date, reason)."""
    for event in reversed(events):
        if event.kind in (Action.CONVERT, Action.RECYCLE) and event.to_status is not None:
            return {"kind": event.kind, "actor": event.actor, "at": event.at,
                    "reason": (event.data or {}).get("reason") or decision_reason}
    return None
