"""The rep's workflow on a handed-off lead: Claim, Release and Log touch (SPEC sections 2 and 4).

Each use case is one unit of work that changes the lead, writes its lifecycle event and queues
the Slack messages it owes (outbox), so the channel, the thread and the DMs follow the database
even when Slack is down. Who may act is always decided here from the database and the policy's
roles, never from what a button says.

Claim must give a lead exactly one owner when several reps press at once. The winner is the
one whose conditional ``UPDATE … WHERE status = 'posted' AND owner_id IS NULL`` changes a row:
PostgreSQL re-checks that condition after waiting for a concurrent winner's row lock, and
SQLite's ``BEGIN IMMEDIATE`` lets one writer in at a time, so the losers' updates match nothing.
Only the winner then moves the lead with ``bot.lifecycle.apply``, which keeps the transition
table the single source of truth and writes the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, update

from bot.deadlines import first_contact_due
from bot.errors import InvalidTouch, NotAllowed, NotARep, NotFound, OpenLeadLimit
from bot.i18n import format_datetime
from bot.lifecycle import OWNED, Action, Surface, allowed, apply, next_status
from bot.notify import queue_call, refresh_homes, reply_in_thread, update_channel_message
from bot.services import Services
from bot.views.handoff import fit_mrkdwn, handoff_message
from bot.views.touch_modal import NOTE_MAX, TOUCH_KINDS, TOUCH_OUTCOMES
from storage.models import Lead, LeadEvent, LeadStatus, Touch
from storage.unit_of_work import UnitOfWork

__all__ = [
    "ClaimOutcome",
    "ClaimResult",
    "ReleaseResult",
    "TouchResult",
    "check_touch",
    "claim",
    "log_touch",
    "release",
]

#: how much of a release reason is kept (it is also budgeted again where it is shown)
REASON_LIMIT = 500


class ClaimOutcome(StrEnum):
    WON = "won"
    ALREADY_YOURS = "already_yours"  # a double click: nothing new happens
    TAKEN = "taken"  # someone else owns it
    NOT_CLAIMABLE = "not_claimable"  # not posted (e.g. decided) and not owned


@dataclass(frozen=True)
class ClaimResult:
    outcome: ClaimOutcome
    lead_id: int
    status: LeadStatus
    owner_id: str | None
    event_id: int | None = None  # the claim event, when this call won


@dataclass(frozen=True)
class ReleaseResult:
    lead_id: int
    previous_owner: str | None
    event_id: int


@dataclass(frozen=True)
class TouchResult:
    lead_id: int
    touch_id: int
    event_id: int
    touch_count: int


def claim(services: Services, lead_id: int, user_id: str, *, surface: Surface) -> ClaimResult:
    """Make ``user_id`` the owner of a posted, unowned lead, or say why not.

    ``NotARep`` when the user is neither rep nor manager, ``NotFound`` for an unknown lead,
    ``OpenLeadLimit`` when the agreement's ``max_open_leads_per_rep`` is reached.
    """
    if not services.directory.has_role(user_id, "reps", "managers"):
        raise NotARep(f"{user_id} may not claim leads")
    now = services.clock.now()
    with services.unit_of_work() as uow:
        lead = uow.leads.get(lead_id)
        if lead is None:
            raise NotFound(f"lead {lead_id}")
        if lead.owner_id is not None or not allowed(LeadStatus(lead.status), Action.CLAIM):
            return _not_won(lead, user_id)
        _check_open_limit(services, uow, user_id)
        won = uow.session.execute(
            update(Lead)
            .where(
                Lead.id == lead_id,
                Lead.status == LeadStatus.POSTED,
                Lead.owner_id.is_(None),
            )
            .values(owner_id=user_id, claimed_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        lead = uow.session.get(Lead, lead_id, populate_existing=True)
        if lead is None:
            raise NotFound(f"lead {lead_id}")
        if won != 1:
            return _not_won(lead, user_id)
        event = apply(lead, Action.CLAIM, at=now, surface=surface, actor=user_id)
        uow.session.flush()
        _queue_claim_messages(services, uow, lead, event)
        result = ClaimResult(ClaimOutcome.WON, lead.id, LeadStatus(lead.status), user_id, event.id)
        uow.commit()
    services.outbox_ready.set()
    return result


def release(
    services: Services, lead_id: int, user_id: str, reason: str | None = None
) -> ReleaseResult:
    """Give an owned lead back to the channel, unclaimed; only its owner or a manager may.

    ``NotAllowed`` for anyone else, ``IllegalTransition`` when the lead is not owned.
    """
    is_manager = services.directory.has_role(user_id, "managers")  # may ask Slack: before locks
    reason = " ".join((reason or "").split())[:REASON_LIMIT] or None
    now = services.clock.now()
    with services.unit_of_work() as uow:
        lead = uow.leads.get_for_update(lead_id)
        if lead is None:
            raise NotFound(f"lead {lead_id}")
        previous = lead.owner_id
        if previous != user_id and not is_manager:
            raise NotAllowed(f"{user_id} may not release lead {lead_id}")
        data: dict[str, Any] = {"previous_owner": previous}
        if reason:
            data["reason"] = reason
        event = apply(lead, Action.RELEASE, at=now, surface=Surface.BUTTON, actor=user_id,
                      data=data)
        lead.owner_id = None
        lead.claimed_at = None
        uow.session.flush()
        _queue_release_messages(services, uow, lead, event, reason)
        result = ReleaseResult(lead.id, previous, event.id)
        uow.commit()
    services.outbox_ready.set()
    return result


def check_touch(services: Services, lead_id: int, user_id: str) -> None:
    """Raise what ``log_touch`` would refuse with, without changing anything.

    Lets a modal submission answer a refusal while it can still keep the modal open;
    ``log_touch`` checks again under the row lock.
    """
    is_manager = services.directory.has_role(user_id, "managers")
    with services.unit_of_work() as uow:
        lead = uow.leads.get(lead_id)
        if lead is None:
            raise NotFound(f"lead {lead_id}")
        _check_touch_allowed(lead, user_id, is_manager)
        next_status(LeadStatus(lead.status), Action.TOUCH)  # IllegalTransition when not owned


def log_touch(
    services: Services,
    lead_id: int,
    user_id: str,
    *,
    kind: str,
    outcome: str,
    note: str | None,
) -> TouchResult:
    """Record a contact attempt on an owned lead; only its owner or a manager may.

    ``InvalidTouch`` for an unknown kind or outcome or a note over ``NOTE_MAX``,
    ``NotAllowed`` for anyone else, ``IllegalTransition`` when the lead is not owned.
    """
    note = (note or "").strip() or None
    if kind not in TOUCH_KINDS or outcome not in TOUCH_OUTCOMES:
        raise InvalidTouch(f"kind={kind[:20]!r} outcome={outcome[:20]!r}")
    if note is not None and len(note) > NOTE_MAX:
        raise InvalidTouch(f"note of {len(note)} characters")
    is_manager = services.directory.has_role(user_id, "managers")  # may ask Slack: before locks
    now = services.clock.now()
    with services.unit_of_work() as uow:
        lead = uow.leads.get_for_update(lead_id)
        if lead is None:
            raise NotFound(f"lead {lead_id}")
        _check_touch_allowed(lead, user_id, is_manager)
        touch = Touch(lead_id=lead.id, rep_id=user_id, kind=kind, outcome=outcome, note=note,
                      at=now)
        uow.session.add(touch)
        uow.session.flush()
        event = apply(lead, Action.TOUCH, at=now, surface=Surface.MODAL, actor=user_id,
                      data={"touch_id": touch.id, "kind": kind, "outcome": outcome})
        lead.touch_count = (lead.touch_count or 0) + 1
        if lead.first_touch_at is None:
            lead.first_touch_at = now
        uow.session.flush()
        _queue_touch_messages(services, uow, lead, event, kind, outcome)
        result = TouchResult(lead.id, touch.id, event.id, lead.touch_count)
        uow.commit()
    services.outbox_ready.set()
    return result


# ------------------------------------------------------------------------------ helpers


def _check_touch_allowed(lead: Lead, user_id: str, is_manager: bool) -> None:
    if lead.owner_id != user_id and not is_manager:
        raise NotAllowed(f"{user_id} may not log a touch on lead {lead.id}")


def _not_won(lead: Lead, user_id: str) -> ClaimResult:
    status = LeadStatus(lead.status)
    if lead.owner_id is not None and status in OWNED:
        outcome = ClaimOutcome.ALREADY_YOURS if lead.owner_id == user_id else ClaimOutcome.TAKEN
    else:
        outcome = ClaimOutcome.NOT_CLAIMABLE
    return ClaimResult(outcome, lead.id, status, lead.owner_id)


def _check_open_limit(services: Services, uow: UnitOfWork, user_id: str) -> None:
    """Refuse a claim beyond the agreed number of open leads per rep.

    Checked before the conditional update: on PostgreSQL two claims of *different* leads by
    the same rep at the same instant can still both pass, exceeding the cap by one at most.
    """
    limit = services.policy.agreement.max_open_leads_per_rep
    if limit is None:
        return
    count = uow.session.scalar(
        select(func.count()).select_from(Lead).where(
            Lead.owner_id == user_id, Lead.status.in_([s.value for s in OWNED])
        )
    ) or 0
    if count >= limit:
        raise OpenLeadLimit(f"{user_id} owns {count} open leads", count=count, limit=limit)


def _queue_claim_messages(
    services: Services, uow: UnitOfWork, lead: Lead, event: LeadEvent
) -> None:
    t, owner = services.t, f"<@{lead.owner_id}>"
    prefix = f"claim:{lead.id}:{event.id}"
    update_channel_message(services, uow, lead, f"{prefix}:update")
    reply_in_thread(services, uow, lead, f"{prefix}:thread", t("claim.thread", owner=owner))
    view = handoff_message(lead, services.policy, services.clock.now(), t)
    due_at = first_contact_due(lead, services.policy)
    due = format_datetime(due_at, t.language, services.policy.tz) if due_at else "—"
    name = fit_mrkdwn((lead.contact_name or "").strip() or t("handoff.unnamed"), 200)
    heading = {"type": "section", "text": {"type": "mrkdwn",
                                           "text": t("claim.dm_heading", due=due)}}
    dm = {"channel": lead.owner_id, "text": t("claim.dm", name=name, due=due),
          "blocks": [heading, *view["blocks"]]}
    queue_call(services, uow, lead, f"{prefix}:dm", "chat.postMessage", dm)
    refresh_homes(services, uow, prefix, [lead.owner_id])


def _queue_release_messages(
    services: Services, uow: UnitOfWork, lead: Lead, event: LeadEvent, reason: str | None
) -> None:
    t, user = services.t, f"<@{event.actor}>"
    prefix = f"release:{lead.id}:{event.id}"
    update_channel_message(services, uow, lead, f"{prefix}:update")
    if reason:
        text = t("release.thread_reason", user=user, reason=fit_mrkdwn(reason, 300))
    else:
        text = t("release.thread", user=user)
    reply_in_thread(services, uow, lead, f"{prefix}:thread", text)
    refresh_homes(services, uow, prefix, [str(event.data.get("previous_owner") or "")])


def _queue_touch_messages(
    services: Services, uow: UnitOfWork, lead: Lead, event: LeadEvent, kind: str, outcome: str
) -> None:
    t = services.t
    prefix = f"touch:{lead.id}:{event.id}"
    update_channel_message(services, uow, lead, f"{prefix}:update")
    text = t("touch.thread", user=f"<@{event.actor}>", kind=t(f"touch_kind.{kind}"),
             outcome=t(f"touch_outcome.{outcome}"))
    reply_in_thread(services, uow, lead, f"{prefix}:thread", text)
    refresh_homes(services, uow, prefix, [lead.owner_id])
