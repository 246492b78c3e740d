"""The rep's decision on a lead: Convert to SQL or Recycle it back to marketing (SPEC 1, 2, 4).

Each decision is one unit of work that moves the lead with ``bot.lifecycle.apply`` (so the
transition table stays the single source of truth and the event is written), stamps
``decided_at``, and queues everything it owes through the outbox in the same transaction: the
handoff message re-rendered in place, a reply in its thread, an announcement in marketing's
feedback channel, App Home refreshes and the outbound webhook to the MA tool. Outbox keys are
derived from the lead and the event, so nothing is queued twice.

Who may decide is read from the database (owner) and the policy's roles (manager), never from
a button value or ``private_metadata``. The lead row is locked while it is checked and
changed, so a double submission or a retried request finds the lead already decided and is
refused: one transition, one set of messages.

Time to first touch is measured in **business** time from hand-off to the first logged touch,
because that is the clock of the first-contact promise it is compared with.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bot.errors import (
    AlreadyDecided,
    FewerTouchesNoteMissing,
    InvalidDecision,
    NotAllowed,
    NotClaimed,
    NotFound,
)
from bot.i18n import format_datetime
from bot.lead_messages import queue_call, refresh_homes, reply_in_thread, update_channel_message
from bot.lifecycle import OWNED, SQL_STATUSES, TERMINAL, Action, Surface, apply
from bot.outbound_webhook import queue_outcome
from bot.services import Services
from bot.views.blocks import fit_mrkdwn, thread_link
from bot.views.decision_modals import (
    BANT,
    NOTE_MAX,
    business_duration,
    converted_announcement,
    recycled_announcement,
    touches_text,
)
from bot.views.labels import reason_label
from storage.models import Lead, LeadEvent, LeadStatus
from storage.repositories import History
from storage.unit_of_work import UnitOfWork

__all__ = [
    "AlreadyDecided",
    "DecisionResult",
    "FewerTouchesNoteMissing",
    "Gate",
    "InvalidDecision",
    "NotClaimed",
    "convert",
    "gate",
    "recycle",
    "time_to_first_touch",
]

log = logging.getLogger(__name__)

#: how much of a recycle reason is shown in the thread reply
REASON_BUDGET = 300






@dataclass(frozen=True)
class Gate:
    """What opening a decision modal needs to know about the lead."""

    lead_id: int
    touch_count: int


@dataclass(frozen=True)
class DecisionResult:
    lead_id: int
    event_id: int
    status: LeadStatus


def gate(services: Services, lead_id: int, user_id: str) -> Gate:
    """May ``user_id`` decide on this lead now? Raises the refusal, or says what the modal needs.

    One indexed read, no lock: a button press has 3 s to open its modal. The owner is told
    apart from the row itself, so the role lookup (which may ask Slack) only happens for
    someone else pressing. ``convert``/``recycle`` check all of it again under the row lock.
    """
    with services.unit_of_work() as uow:
        lead = uow.leads.get(lead_id)
        if lead is None:
            raise NotFound(f"lead {lead_id}")
        _check_state(uow, lead, services)
        owner, touches = lead.owner_id, lead.touch_count or 0
    if owner != user_id and not services.directory.has_role(user_id, "managers"):
        raise NotAllowed(f"{user_id} may not decide on lead {lead_id}")
    return Gate(lead_id, touches)


def convert(
    services: Services,
    lead_id: int,
    user_id: str,
    *,
    bant: tuple[str, ...] | list[str],
    amount: int | float | None = None,
    note: str | None = None,
    submission: str | None = None,
) -> DecisionResult | None:
    """Convert an owned lead to an SQL; only its owner or a manager may.

    ``InvalidDecision`` when a BANT item the agreement requires is not confirmed, the amount
    is negative or the note too long; ``NotAllowed``, ``NotClaimed``, ``AlreadyDecided``,
    ``NotFound`` as the database says. None, with nothing changed, when the modal
    ``submission`` was acted on before (``bot.submissions``).
    """
    confirmed = [b for b in BANT if b in set(bant)]
    missing = [b for b in services.policy.agreement.bant_required if b not in confirmed]
    note = (note or "").strip() or None
    if missing:
        raise InvalidDecision(f"BANT not confirmed: {missing}")
    if amount is not None and (isinstance(amount, bool) or not math.isfinite(amount)
                               or amount < 0):
        raise InvalidDecision("negative or invalid amount")
    if note is not None and len(note) > NOTE_MAX:
        raise InvalidDecision(f"note of {len(note)} characters")
    is_manager = services.directory.has_role(user_id, "managers")  # may ask Slack: before locks
    now = services.clock.now()
    with services.unit_of_work() as uow:
        if submission is not None and not uow.processed_events.claim(submission, now):
            return None
        lead = _locked(uow, lead_id, user_id, is_manager, services)
        data: dict[str, Any] = {"bant": confirmed, "amount": amount, "has_note": note is not None}
        if note is not None:
            data["note"] = note  # kept for the record; never logged
        event = apply(lead, Action.CONVERT, at=now, surface=Surface.MODAL, actor=user_id,
                      data=data)
        lead.decided_at = now
        lead.decision_reason = None
        currency = services.policy.outcomes.currency
        if amount is not None and currency is not None:
            # the expected amount is the SQL's pipeline until the CRM reports the deal
            lead.deal_amount, lead.deal_currency = Decimal(str(amount)), currency
        uow.flush()
        _queue_convert_messages(services, uow, lead, event, amount)
        queue_outcome(services, uow, lead, event)
        result = DecisionResult(lead.id, event.id, lead.status)
        uow.commit()
    services.outbox_ready.set()
    log.info("lead %s converted to SQL by %s (event %s)", lead_id, user_id, result.event_id)
    return result


def recycle(
    services: Services,
    lead_id: int,
    user_id: str,
    *,
    reason: str,
    note: str | None = None,
    fewer_touches_note: str | None = None,
    submission: str | None = None,
) -> DecisionResult | None:
    """Give an owned lead back to marketing with a reason; only its owner or a manager may.

    With fewer touches logged than the agreement's ``min_touches`` (counted in the database,
    under the row lock) the rep must say why: ``FewerTouchesNoteMissing`` otherwise.
    ``InvalidDecision`` for a reason not in the policy's list or a note that is too long.
    None, with nothing changed, when the modal ``submission`` was acted on before.
    """
    note = (note or "").strip() or None
    fewer = (fewer_touches_note or "").strip() or None
    if reason not in services.policy.recycle.reasons:
        raise InvalidDecision(f"unknown recycle reason {reason[:40]!r}")
    if any(text is not None and len(text) > NOTE_MAX for text in (note, fewer)):
        raise InvalidDecision("note too long")
    is_manager = services.directory.has_role(user_id, "managers")  # may ask Slack: before locks
    minimum = services.policy.agreement.min_touches
    now = services.clock.now()
    with services.unit_of_work() as uow:
        if submission is not None and not uow.processed_events.claim(submission, now):
            return None
        lead = _locked(uow, lead_id, user_id, is_manager, services)
        touches = lead.touch_count or 0
        if touches < minimum and fewer is None:
            raise FewerTouchesNoteMissing(f"{touches} of {minimum} touches", count=touches,
                                          min=minimum)
        data = {"reason": reason, "note": note, "fewer_touches_note": fewer, "touches": touches}
        event = apply(lead, Action.RECYCLE, at=now, surface=Surface.MODAL, actor=user_id,
                      data=data)
        lead.decided_at = now
        lead.decision_reason = reason
        uow.flush()
        _queue_recycle_messages(services, uow, lead, event)
        queue_outcome(services, uow, lead, event)
        result = DecisionResult(lead.id, event.id, lead.status)
        uow.commit()
    services.outbox_ready.set()
    log.info("lead %s recycled by %s, reason %s (event %s)", lead_id, user_id, reason,
             result.event_id)
    return result


def time_to_first_touch(lead: Lead, services: Services) -> timedelta | None:
    """Business time from hand-off to the first logged touch; None without either."""
    if lead.posted_at is None or lead.first_touch_at is None:
        return None
    return services.policy.business_calendar.between(lead.posted_at, lead.first_touch_at)


# ------------------------------------------------------------------------------ helpers


def _locked(
    uow: UnitOfWork, lead_id: int, user_id: str, is_manager: bool, services: Services
) -> Lead:
    """The lead, row-locked, once it is known to be undecided, owned, and ours to decide."""
    lead = uow.leads.get_for_update(lead_id)
    if lead is None:
        raise NotFound(f"lead {lead_id}")
    _check_state(uow, lead, services)
    if lead.owner_id != user_id and not is_manager:
        raise NotAllowed(f"{user_id} may not decide on lead {lead_id}")
    return lead


def _check_state(uow: UnitOfWork, lead: Lead, services: Services) -> None:
    """Refuse a decided lead (saying who decided, and when: its events are read for that
    alone) or one nobody owns."""
    t = services.t
    status = lead.status
    if status in TERMINAL:
        event = _deciding_event(uow.leads.load_history(lead, History.EVENTS))
        user = f"<@{event.actor}>" if event is not None and event.actor else "—"
        at = lead.decided_at or (event.at if event is not None else None)
        when = format_datetime(at, t.language, services.policy.tz) if at else "—"
        decided = LeadStatus.CONVERTED if status in SQL_STATUSES else status  # won/lost: an SQL
        raise AlreadyDecided(f"lead {lead.id} is {status.value}", status=decided, user=user,
                             at=when)
    if status not in OWNED or lead.owner_id is None:
        raise NotClaimed(f"lead {lead.id} is {status.value} and unowned",
                         status=t(f"lead_status.{status.value}"))


def _deciding_event(lead: Lead) -> LeadEvent | None:
    """The convert or recycle event that decided ``lead`` (its events loaded)."""
    for event in reversed(lead.events or []):
        if event.kind in (Action.CONVERT, Action.RECYCLE) and event.to_status:
            return event
    return None


def _queue_convert_messages(
    services: Services,
    uow: UnitOfWork,
    lead: Lead,
    event: LeadEvent,
    amount: int | float | None,
) -> None:
    t, user = services.t, f"<@{event.actor}>"
    prefix = f"convert:{lead.id}:{event.id}"
    touches = lead.touch_count or 0
    first = time_to_first_touch(lead, services)
    update_channel_message(services, uow, lead, f"{prefix}:update")
    if first is None:
        text = t("convert.thread_no_touch", user=user)
    else:
        text = t("convert.thread", user=user, touches=touches_text(touches, t),
                 first_touch=business_duration(first, t))
    reply_in_thread(services, uow, lead, f"{prefix}:thread", text)
    channel = services.policy.channels.marketing_feedback
    post = converted_announcement(
        channel=channel, lead_name=lead.contact_name or "", company=lead.company_name,
        source=lead.source, actor=event.actor or "", touch_count=touches,
        first_touch_after=first, amount=amount, currency=services.policy.outcomes.currency,
        thread=thread_link(lead.channel_id, lead.message_ts), lead_id=lead.id, t=t,
    )
    queue_call(services, uow, lead, f"{prefix}:marketing", "chat.postMessage", post)
    refresh_homes(services, uow, prefix, [lead.owner_id, event.actor])


def _queue_recycle_messages(
    services: Services, uow: UnitOfWork, lead: Lead, event: LeadEvent
) -> None:
    t, user = services.t, f"<@{event.actor}>"
    prefix = f"recycle:{lead.id}:{event.id}"
    data = event.data or {}
    reason = str(data.get("reason") or "")
    touches = int(data.get("touches") or 0)
    update_channel_message(services, uow, lead, f"{prefix}:update")
    text = t("recycle.thread", user=user,
             reason=fit_mrkdwn(reason_label(reason, t), REASON_BUDGET),
             touches=touches_text(touches, t))
    reply_in_thread(services, uow, lead, f"{prefix}:thread", text)
    channel = services.policy.channels.marketing_feedback
    post = recycled_announcement(
        channel=channel, lead_name=lead.contact_name or "", company=lead.company_name,
        source=lead.source, actor=event.actor or "", reason=reason, touch_count=touches,
        min_touches=services.policy.agreement.min_touches, note=data.get("note"),
        fewer_touches_note=data.get("fewer_touches_note"),
        thread=thread_link(lead.channel_id, lead.message_ts), lead_id=lead.id, t=t,
    )
    queue_call(services, uow, lead, f"{prefix}:marketing", "chat.postMessage", post)
    refresh_homes(services, uow, prefix, [lead.owner_id, event.actor])
