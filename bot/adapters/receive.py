"""Vendor events into leads: the one path from a translated marketing-tool event to the database.

A vendor event goes the way of ``POST /webhooks/mql`` (``bot.intake``: validation, idempotency,
the MQL definition, the outbox), with one addition: marketing tools send many events about the
same person, and the person should reach sales once per qualification, with everything the
tool told us about them. So the lead keeps the tool's id for the person (``Lead.contact_key``)
and each event is applied to that person's latest lead:

==========================  ==============================================================
the person's latest lead    the event
==========================  ==============================================================
none                        a new lead (``external_id`` = the event key): queued when it
                            qualifies, else stored ``not_qualified`` with the reasons
not qualified               adds its behaviour and newer profile values, and is judged
                            again: it qualifies → the same lead is re-qualified and queued;
                            else it stays not qualified with the new reasons
queued / with sales         adds its behaviour (``updated``): never a second handoff
converted / recycled        qualifies → a new lead (a new cycle: the person came back);
                            else adds its behaviour to the decided lead (``updated``)
==========================  ==============================================================

A vendor's retry of an event is a ``duplicate`` and changes nothing: the event key is the
``external_id`` of a lead it created, or is recorded in the lifecycle event it wrote. Events
about one person are serialized (an advisory lock on PostgreSQL; SQLite has one writer), so a
batch racing its own retry cannot create two leads for one person.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from bot.adapters.events import Rejected, Skipped, Translated, VendorEvent
from bot.definition import evaluate
from bot.event_kind import Fact
from bot.intake import (
    MAX_ACTIVITIES,
    FieldError,
    InvalidLead,
    MqlIn,
    accept,
    parse_data,
    prepare,
    store,
    veto,
)
from bot.lifecycle import TERMINAL, Action, Surface, apply, record
from bot.services import Services
from storage.models import Activity, Lead, LeadStatus
from storage.outbox_kind import OutboxKind
from storage.repositories import History
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

Status = Literal[
    "queued", "not_qualified", "duplicate", "updated", "fetching", "ignored", "rejected"
]


@dataclass(frozen=True)
class Outcome:
    """What became of one vendor event; ``as_json`` is its entry in the HTTP answer."""

    status: Status
    lead_id: int | None = None
    reasons: list[str] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        return self.status == "rejected"

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"lead_id": self.lead_id, "status": self.status,
                                "reasons": self.reasons}
        if self.errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        return body


def receive(services: Services, event: Translated, *, surface: Surface = Surface.WEBHOOK
            ) -> Outcome:
    """Store one translated event (its own transaction); never raises for bad input."""
    if isinstance(event, Skipped):
        return Outcome("ignored", reasons=[event.reason])
    if isinstance(event, Rejected):
        return Outcome("rejected", errors=event.errors)
    try:
        mql = parse_data(event.data, now=services.clock.now())
    except InvalidLead as exc:
        return Outcome("rejected", errors=exc.errors)
    if event.contact is None:
        result = accept(services, mql, surface=surface)
        return Outcome(result.status, result.lead_id, result.reasons)
    # the key and the person as intake normalised the id (NFKC: full-width digits are ASCII),
    # so a retry spelled the other way finds what the first delivery stored
    event = replace(event, key=mql.external_id, contact=unicodedata.normalize(
        "NFKC", event.contact).strip())
    outcome = _receive(services, event, mql, surface)
    # the key stays out of the log: a mapping's ids are whatever the tool sends (even an email)
    log.info("vendor event %s from %s: %s lead=%s", event.kind, event.vendor, outcome.status,
             outcome.lead_id)
    if outcome.status == "queued":
        services.outbox_ready.set()
    return outcome


def _receive(services: Services, event: VendorEvent, mql: MqlIn, surface: Surface) -> Outcome:
    assert event.contact is not None
    now = services.clock.now()
    # Built and judged before the unit of work (SQLite: it holds the one writer lock); used
    # when the event makes a new lead, its qualification decides whether a decided one does.
    admission = prepare(services.policy, mql, now=now, surface=surface,
                        contact_key=event.contact, vetoes=event.vetoes, event=event.label)
    with services.unit_of_work() as uow:
        _lock_person(uow, event.contact)
        existing = uow.leads.find_external(event.key)
        if existing is not None:
            return Outcome("duplicate", existing[0],
                           list(existing[1].get("reasons", [])))
        leads = uow.leads.states_of_contact(event.contact)
        if leads and _seen(uow, [lead_id for lead_id, _ in leads], event.key):
            return Outcome("duplicate", leads[0][0])
        latest_id, latest_status = leads[0] if leads else (None, None)
        if latest_id is None or (
            latest_status in TERMINAL and admission.qualification.qualified
        ):
            result = store(uow, services.policy, admission, now=now)
            outcome = Outcome(result.status, result.lead_id, result.reasons)
        else:
            # its activities: the new behaviour is added to them and judged with them
            lead = uow.leads.get_for_update(latest_id, history=History.ACTIVITIES)
            assert lead is not None
            if latest_status == LeadStatus.NOT_QUALIFIED:
                outcome = _judge_again(services, uow, lead, mql, event, now, surface)
            else:
                added = _add_behaviour(lead, mql)
                record(lead, Fact.BEHAVIOUR, at=now, surface=surface,
                       data={"event": event.label, "added": added})
                lead.updated_at = now
                outcome = Outcome("updated", lead.id)
        uow.commit()
    return outcome


def _lock_person(uow: UnitOfWork, contact: str) -> None:
    """One event per person at a time (SQLite: the write lock is already held)."""
    uow.lock(f"contact:{contact}")


def _seen(uow: UnitOfWork, lead_ids: list[int], key: str) -> bool:
    """Whether an event with this key was already applied to one of the person's leads."""
    rows = uow.events.data_of_kinds(lead_ids, [Fact.BEHAVIOUR, Action.REQUALIFY])
    return any(isinstance(d, dict) and (d.get("event") or {}).get("key") == key for d in rows)


def _judge_again(
    services: Services,
    uow: UnitOfWork,
    lead: Lead,
    mql: MqlIn,
    event: VendorEvent,
    now: datetime,
    surface: Surface,
) -> Outcome:
    """A not-qualified person did something new: add it, refresh the profile, judge again."""
    added = _add_behaviour(lead, mql)
    _refresh_profile(lead, mql)
    lead.updated_at = now
    qualification = veto(evaluate(lead, services.policy, now), event.vetoes)
    lead.qualification = qualification.as_json()
    lead.definition_version = qualification.version
    lead.tier = qualification.tier
    if not qualification.qualified:
        record(lead, Fact.BEHAVIOUR, at=now, surface=surface,
               data={"event": event.label, "added": added,
                     "reasons": list(qualification.reasons)})
        return Outcome("not_qualified", lead.id, list(qualification.reasons))
    lead.qualified_at = mql.qualified_at  # the handoff promise counts from this event
    apply(lead, Action.REQUALIFY, at=now, surface=surface,
          data={"version": qualification.version, "tier": qualification.tier,
                "event": event.label, "added": added})
    uow.outbox.enqueue(key=f"{OutboxKind.HANDOFF}:{lead.id}", kind=OutboxKind.HANDOFF, now=now,
                       lead_id=lead.id, channel=services.policy.channels.handoff, payload={})
    return Outcome("queued", lead.id)


def _add_behaviour(lead: Lead, mql: MqlIn) -> int:
    """Append the event's activities the lead does not have yet; returns how many."""
    have = {(a.type, a.at, a.detail) for a in lead.activities}
    added = 0
    for item in mql.activities:
        if len(lead.activities) >= MAX_ACTIVITIES:
            break
        if (item.type, item.at, item.detail) in have:
            continue
        have.add((item.type, item.at, item.detail))
        lead.activities.append(Activity(type=item.type, at=item.at, detail=item.detail,
                                        extra=dict(item.model_extra or {})))
        added += 1
    lead.has_history = bool(lead.activities)  # the reports read this flag, not the rows
    return added


def _refresh_profile(lead: Lead, mql: MqlIn) -> None:
    """The tool's latest values replace older ones; a value it left blank keeps the old one.

    The name stays: an event without one carries a stand-in (the email, or the tool's id).
    """
    contact, company = mql.contact, mql.company
    updates: dict[str, Any] = {
        "contact_email": contact.email,
        "contact_title": contact.title,
        "contact_phone": contact.phone,
        "score": mql.score,
    }
    if company is not None:
        updates |= {
            "company_name": company.name,
            "company_industry": company.industry,
            "company_employees": company.employees,
            "company_domain": company.domain,
        }
    for column, value in updates.items():
        if value is not None:
            setattr(lead, column, value)
