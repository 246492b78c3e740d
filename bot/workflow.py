"""The rep's workflow on a handed-off lead: Claim, Release, Log touch, Reassign and Details
(SPEC sections 2 and 4).

Each use case is one unit of work that changes the lead, writes its lifecycle event and queues
the Slack messages it owes (outbox), so the channel, the thread and the DMs follow the database
even when Slack is down. Who may act is always decided here from the database and the policy's
roles, never from what a button says.

Claim must give a lead exactly one owner when several reps press at once. The winner is the
one whose conditional ``UPDATE … WHERE status = 'posted' AND owner_id IS NULL`` changes a row:
PostgreSQL re-checks that condition after waiting for a concurrent winner's row lock, and
SQLite's ``BEGIN IMMEDIATE`` lets one writer in at a time, so the losers' updates match nothing.
The same update moves the lead (``bot.lifecycle.changes``: the transition table stays the
single source of truth) and returns the row, and only the winner then writes the event
(``bot.lifecycle.applied``): a won claim is one conditional update, one insert of its event
and one insert of the Slack calls it owes (``bot.lead_messages.Outgoing``).

Modal submissions check first (``check_touch``, ``check_reassign``) so a refusal can still be
shown in the open modal, then act; when the lead changed in between, the act refuses under the
row lock and the person is told by DM (``tell_refused``): a submission has nobody else to
answer once it was acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, case, literal, or_

from bot.cards import lead_record
from bot.clock import Clock
from bot.deadlines import decision_due_from, first_contact_due, first_contact_due_from
from bot.deal import event_outcome
from bot.errors import (
    AssigneeAtLimit,
    DetailsNotAllowed,
    DomainError,
    IllegalTransition,
    InvalidTouch,
    NotAllowed,
    NotAManager,
    NotAnAssignee,
    NotARep,
    NotFound,
    OpenLeadLimit,
    SameOwner,
)
from bot.i18n import Translator, format_datetime
from bot.lead_messages import Outgoing, send_dm
from bot.lifecycle import (
    OWNED,
    TERMINAL,
    Action,
    Surface,
    allowed,
    applied,
    apply,
    changes,
    next_status,
)
from bot.policy import Policy
from bot.roles import Directory, Role
from bot.services import Services
from bot.timings import stamp
from bot.views.blocks import fit_mrkdwn, section
from bot.views.details_modal import LeadRecord
from bot.views.touch_modal import NOTE_MAX, TOUCH_KINDS, TOUCH_OUTCOMES
from storage.models import Lead, LeadEvent, LeadStatus, Touch
from storage.repositories import History
from storage.types import UTCDateTime
from storage.unit_of_work import UnitOfWork

__all__ = [
    "AssigneeAtLimit",
    "ClaimOutcome",
    "ClaimResult",
    "DetailsNotAllowed",
    "NotAManager",
    "NotAnAssignee",
    "ReassignResult",
    "ReassignTarget",
    "ReleaseResult",
    "SameOwner",
    "TouchResult",
    "check_reassign",
    "check_touch",
    "claim",
    "lead_details",
    "log_touch",
    "reassign",
    "reassign_refusal",
    "release",
    "tell_refused",
    "touch_refusal",
]

#: how much of a release or reassign reason is kept (it is also budgeted again where shown)
REASON_LIMIT = 500
#: who may read a lead's whole record, personal data included (SPEC 4: Details)
DETAILS_ROLES: tuple[Role, ...] = ("reps", "managers", "marketers")


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


@dataclass(frozen=True)
class ReassignTarget:
    """What the Reassign modal shows about the lead: whose it is now."""

    lead_id: int
    owner_id: str | None
    contact_name: str


@dataclass(frozen=True)
class ReassignResult:
    lead_id: int
    previous_owner: str | None
    new_owner: str
    event_id: int


def claim(services: Services, lead_id: int, user_id: str, *, surface: Surface) -> ClaimResult:
    """Make ``user_id`` the owner of a posted, unowned lead, or say why not.

    ``NotARep`` when the user is neither rep nor manager, ``NotFound`` for an unknown lead,
    ``OpenLeadLimit`` when the agreement's ``max_open_leads_per_rep`` is reached.
    """
    if not services.directory.has_role(user_id, "reps", "managers"):
        raise NotARep(f"{user_id} may not claim leads")
    now = services.clock.now()
    with services.unit_of_work() as uow:
        state = uow.leads.owner_and_status(lead_id)
        if state is None:
            raise NotFound(f"lead {lead_id}")
        if state[0] is not None or not allowed(state[1], Action.CLAIM):
            return _not_won(lead_id, *state, user_id)  # most presses that lose: one small read
        _check_open_limit(services.policy, uow, user_id)
        lead = _take(uow, lead_id, user_id, now)
        if lead is None:
            state = uow.leads.owner_and_status(lead_id)
            if state is None:
                raise NotFound(f"lead {lead_id}")
            return _not_won(lead_id, *state, user_id)
        event = applied(lead, Action.CLAIM, LeadStatus.POSTED, at=now, surface=surface,
                        actor=user_id)
        stamp(lead, services.policy)  # time to claim, for the reports
        uow.flush()
        _queue_claim_messages(services, uow, lead, event)
        result = ClaimResult(ClaimOutcome.WON, lead.id, lead.status, user_id, event.id)
        uow.commit()
    services.outbox_ready.set()
    return result


def assign_automatically(
    services: Services, uow: UnitOfWork, lead: Lead, assignee: str, now: datetime
) -> bool:
    """Make ``assignee`` the owner of a still unclaimed lead, in the sweep's unit of work.

    The same conditional update as a claim, so a rep pressing Claim at the same instant wins
    or loses cleanly against the scheduler. False when somebody claimed it meanwhile.
    """
    if _take(uow, lead.id, assignee, now) is None:
        uow.refresh(lead)
        return False
    event = applied(lead, Action.CLAIM, LeadStatus.POSTED, at=now, surface=Surface.SCHEDULER,
                    actor=assignee, data={"auto": True})
    stamp(lead, services.policy)
    uow.flush()
    _queue_claim_messages(services, uow, lead, event, auto=True)
    return True


def _take(uow: UnitOfWork, lead_id: int, owner: str, now: datetime) -> Lead | None:
    """The one conditional update that decides a claim and moves the lead: the lead when
    ``owner`` got it (the caller records the transition with ``applied``).

    The updated row comes back with the update, so the lead (the owner, and the first claim the
    database worked out) needs no second read; a lead already in the session is refreshed.
    """
    moved = changes(LeadStatus.POSTED, Action.CLAIM, now)
    return uow.leads.take_unowned(lead_id, dict(
        owner_id=owner, claimed_at=now, first_claimed_at=_first_claim(now), **moved))


def _first_claim(now: datetime) -> ColumnElement[Any]:
    """The lead's first claim ever, kept through release, re-claim and reassignment.

    The earliest claim instant (not merely the first written), so it equals the first ``claim``
    event even if two processes' clocks disagree; the reports read it instead of the events.
    """
    at = literal(now, UTCDateTime())
    return case((or_(Lead.first_claimed_at.is_(None), Lead.first_claimed_at > at), at),
                else_=Lead.first_claimed_at)


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
        uow.flush()
        _queue_release_messages(services, uow, lead, event, reason)
        result = ReleaseResult(lead.id, previous, event.id)
        uow.commit()
    services.outbox_ready.set()
    return result


def check_touch(services: Services, lead_id: int, user_id: str) -> None:
    """Raise what ``log_touch`` would refuse with, without changing anything.

    Lets the Log touch button refuse before opening a modal nobody could submit, and a
    submission answer a refusal while it can still keep the modal open; ``log_touch`` checks
    again under the row lock.
    """
    is_manager = services.directory.has_role(user_id, "managers")
    with services.unit_of_work() as uow:
        lead = uow.leads.get(lead_id)
        if lead is None:
            raise NotFound(f"lead {lead_id}")
        _check_touchable(lead, user_id, is_manager)


def log_touch(
    services: Services,
    lead_id: int,
    user_id: str,
    *,
    kind: str,
    outcome: str,
    note: str | None,
    submission: str | None = None,
) -> TouchResult | None:
    """Record a contact attempt on an owned lead; only its owner or a manager may.

    ``InvalidTouch`` for an unknown kind or outcome or a note over ``NOTE_MAX``,
    ``NotAllowed`` for anyone else, ``IllegalTransition`` when the lead is not owned. None,
    with nothing changed, when the modal ``submission`` was acted on before (``bot.submissions``).
    """
    note = (note or "").strip() or None
    if kind not in TOUCH_KINDS or outcome not in TOUCH_OUTCOMES:
        raise InvalidTouch(f"kind={kind[:20]!r} outcome={outcome[:20]!r}")
    if note is not None and len(note) > NOTE_MAX:
        raise InvalidTouch(f"note of {len(note)} characters")
    is_manager = services.directory.has_role(user_id, "managers")  # may ask Slack: before locks
    now = services.clock.now()
    with services.unit_of_work() as uow:
        if submission is not None and not uow.processed_events.claim(submission, now):
            return None
        lead = uow.leads.get_for_update(lead_id)
        if lead is None:
            raise NotFound(f"lead {lead_id}")
        _check_touchable(lead, user_id, is_manager)
        touch = Touch(lead_id=lead.id, rep_id=user_id, kind=kind, outcome=outcome, note=note,
                      at=now)
        uow.leads.add_touch(touch)
        event = apply(lead, Action.TOUCH, at=now, surface=Surface.MODAL, actor=user_id,
                      data={"touch_id": touch.id, "kind": kind, "outcome": outcome})
        lead.touch_count = (lead.touch_count or 0) + 1
        if lead.first_touch_at is None:
            lead.first_touch_at = now
            stamp(lead, services.policy)  # time to first contact, for the reports
        uow.flush()
        _queue_touch_messages(services, uow, lead, event, kind, outcome)
        result = TouchResult(lead.id, touch.id, event.id, lead.touch_count)
        uow.commit()
    services.outbox_ready.set()
    return result


def check_reassign(
    services: Services, lead_id: int, user_id: str, new_owner: str | None = None
) -> ReassignTarget:
    """Raise what ``reassign`` would refuse with, without changing anything.

    Without ``new_owner`` it answers whether ``user_id`` may reassign this lead at all, so the
    button can refuse before a modal opens; with it, whether that choice would be accepted, so
    the submission can answer in the modal. ``reassign`` checks again under the row lock.
    """
    _require_manager(services.directory, user_id, lead_id)
    assignee = new_owner is None or services.directory.has_role(new_owner, "reps", "managers")
    with services.unit_of_work() as uow:
        lead = uow.leads.get(lead_id)
        if lead is None:
            raise NotFound(f"lead {lead_id}")
        _check_reassignable(services.policy, uow, lead, new_owner, assignee)
        return ReassignTarget(lead.id, lead.owner_id, lead.contact_name or "")


def reassign(
    services: Services,
    lead_id: int,
    user_id: str,
    new_owner: str,
    reason: str | None = None,
    submission: str | None = None,
) -> ReassignResult | None:
    """A manager gives an owned lead to another rep (or manager); its status does not change.

    The new owner's ``claimed_at`` starts now (their clock for claim-related display); the
    first-contact and decision deadlines stay measured from the hand-off, so a reassignment
    never buys the team time. ``NotAManager``, ``NotAnAssignee``, ``SameOwner``,
    ``AssigneeAtLimit``, ``NotFound`` or ``IllegalTransition`` (not owned) otherwise. None,
    with nothing changed, when the modal ``submission`` was acted on before.
    """
    _require_manager(services.directory, user_id, lead_id)  # may ask Slack: before locks
    assignee = services.directory.has_role(new_owner, "reps", "managers")
    reason = " ".join((reason or "").split())[:REASON_LIMIT] or None
    now = services.clock.now()
    with services.unit_of_work() as uow:
        if submission is not None and not uow.processed_events.claim(submission, now):
            return None
        lead = uow.leads.get_for_update(lead_id)
        if lead is None:
            raise NotFound(f"lead {lead_id}")
        _check_reassignable(services.policy, uow, lead, new_owner, assignee)
        previous = lead.owner_id
        event = apply(lead, Action.REASSIGN, at=now, surface=Surface.MODAL, actor=user_id,
                      data={"previous_owner": previous, "new_owner": new_owner,
                            "reason": reason})
        lead.owner_id = new_owner
        lead.claimed_at = now
        uow.flush()
        _queue_reassign_messages(services, uow, lead, event, previous, reason)
        result = ReassignResult(lead.id, previous, new_owner, event.id)
        uow.commit()
    services.outbox_ready.set()
    return result


def lead_details(services: Services, lead_id: int, user_id: str) -> LeadRecord:
    """Everything about one lead for the Details modal, read in one short transaction.

    The record carries personal data (email, phone), so only reps, managers and marketers may
    read it (``DetailsNotAllowed``). It is read while a 3-second ``trigger_id`` is running out:
    one SELECT per table (the lead, then its activities, touches, events and feedback by
    ``lead_id``), never one per row, copied into frozen data before the session closes.
    """
    if not services.directory.has_role(user_id, *DETAILS_ROLES):
        raise DetailsNotAllowed(f"{user_id} may not read lead {lead_id}")
    with services.unit_of_work() as uow:
        lead = uow.leads.get(lead_id, history=History.ALL)
        if lead is None:
            raise NotFound(f"lead {lead_id}")
        feedback = tuple(uow.feedback.for_lead_newest_first(lead_id))
        outcomes = {event.id: deal for event in lead.events or []
                    if (deal := event_outcome(event)) is not None}
        return lead_record(lead, feedback, outcomes)


def touch_refusal(error: DomainError, t: Translator) -> str:
    """Why a Log touch was refused, in words about the lead ("it was converted")."""
    if isinstance(error, IllegalTransition):
        status = str(error.params.get("status") or "")
        label = t(f"lead_status.{status}")
        if status in {s.value for s in TERMINAL}:
            return t("touch_guard.decided", status=label)
        return t("touch_guard.not_owned", status=label)
    return t(error.message_key, **error.params)


def reassign_refusal(error: DomainError, t: Translator) -> str:
    """Why a reassignment was refused; plain words, fit for a modal's inline error."""
    if isinstance(error, IllegalTransition):
        status = str(error.params.get("status") or "")
        return t("reassign.error.not_owned", status=t(f"lead_status.{status}"))
    return t(error.message_key, **error.params)


def tell_refused(
    services: Services,
    lead_id: int,
    user_id: str,
    *,
    message_key: str,
    reason: str,
    submission: str,
    note: str | None = None,
) -> None:
    """DM ``user_id`` that what they submitted was not done, and why.

    For a modal submission refused *after* it was acknowledged (the lead changed in between):
    the modal is closed and a submission has no ``response_url``, so a DM is the one way to
    reach the person, and through the outbox it survives a Slack outage like every other
    message. ``submission`` names the submission (its view id), so telling twice queues once.
    ``note`` is what they wrote, given back so it is not lost.
    """
    t = services.t
    with services.unit_of_work() as uow:
        lead = uow.leads.get(lead_id)
        name = _lead_name(lead, t) if lead is not None else t("handoff.unnamed")
        text = t(message_key, name=name, reason=reason)
        blocks: list[dict[str, Any]] = [section(text)]
        if note:
            blocks.append(section(t("touch_guard.your_note", note=fit_mrkdwn(note, 2800))))
        key = f"refused:{lead_id}:{user_id}:{submission or services.clock.now().isoformat()}"
        send_dm(services, uow, lead, key[:255], user_id, text, blocks)
        uow.commit()
    services.outbox_ready.set()


# ------------------------------------------------------------------------------ helpers


def _require_manager(directory: Directory, user_id: str, lead_id: int) -> None:
    if not directory.has_role(user_id, "managers"):
        raise NotAManager(f"{user_id} may not reassign lead {lead_id}")


def _check_reassignable(
    policy: Policy, uow: UnitOfWork, lead: Lead, new_owner: str | None, assignee: bool
) -> None:
    """The lead is owned; and, when a choice was made, it is someone who can take it."""
    next_status(lead.status, Action.REASSIGN)  # IllegalTransition when not owned
    if new_owner is None:
        return
    if not assignee:
        raise NotAnAssignee(f"{new_owner} is neither rep nor manager")
    if new_owner == lead.owner_id:
        raise SameOwner(f"{new_owner} already owns lead {lead.id}")
    try:
        _check_open_limit(policy, uow, new_owner)
    except OpenLeadLimit as error:
        raise AssigneeAtLimit(str(error), **error.params) from None


def _lead_name(lead: Lead, t: Translator) -> str:
    """The contact's name, escaped and short enough for a one-line DM."""
    return fit_mrkdwn((lead.contact_name or "").strip() or t("handoff.unnamed"), 200)


def _next_deadline(lead: Lead, policy: Policy, t: Translator, clock: Clock) -> str:
    """"Next: first contact by …" until the first touch, then the decision deadline."""
    posted_at = lead.posted_at or clock.now()
    if lead.first_touch_at is None:
        due = first_contact_due_from(posted_at, lead, policy)
        return t("handoff.next_first_contact",
                 due=format_datetime(due, t.language, policy.tz))
    due = decision_due_from(posted_at, policy)
    return t("handoff.next_decision", due=format_datetime(due, t.language, policy.tz))


def _check_touchable(lead: Lead, user_id: str, is_manager: bool) -> None:
    """The lead's state first: "it was converted" tells anyone more than "not yours"."""
    next_status(lead.status, Action.TOUCH)  # IllegalTransition when not owned
    if lead.owner_id != user_id and not is_manager:
        raise NotAllowed(f"{user_id} may not log a touch on lead {lead.id}")


def _not_won(lead_id: int, owner_id: str | None, status: LeadStatus, user_id: str) -> ClaimResult:
    if owner_id is not None and status in OWNED:
        outcome = ClaimOutcome.ALREADY_YOURS if owner_id == user_id else ClaimOutcome.TAKEN
    else:
        outcome = ClaimOutcome.NOT_CLAIMABLE
    return ClaimResult(outcome, lead_id, status, owner_id)


def _check_open_limit(policy: Policy, uow: UnitOfWork, user_id: str) -> None:
    """Refuse a claim beyond the agreed number of open leads per rep.

    Two claims of *different* leads by the same rep at the same instant would both count the
    same open leads; on PostgreSQL a transaction-scoped advisory lock on the rep serializes
    them (SQLite's writers are serialized already), so the cap holds exactly.
    """
    limit = policy.agreement.max_open_leads_per_rep
    if limit is None:
        return
    uow.lock(f"rep:{user_id}")
    count = uow.leads.count_owned_by(user_id, OWNED)
    if count >= limit:
        raise OpenLeadLimit(f"{user_id} owns {count} open leads", count=count, limit=limit)


def _queue_claim_messages(
    services: Services, uow: UnitOfWork, lead: Lead, event: LeadEvent, *, auto: bool = False
) -> None:
    """The message shows the owner, the thread says who claimed it (or that it was assigned),
    the owner gets the card by DM; the card is rendered once for both."""
    t, owner = services.t, f"<@{lead.owner_id}>"
    thread, heading, dm = (
        ("auto_assign.thread", "auto_assign.dm_heading", "auto_assign.dm") if auto
        else ("claim.thread", "claim.dm_heading", "claim.dm")
    )
    prefix = f"claim:{lead.id}:{event.id}"
    with Outgoing(services, uow) as out:
        view = out.handoff_view(lead)
        out.update_channel_message(lead, f"{prefix}:update", view)
        out.reply_in_thread(lead, f"{prefix}:thread", t(thread, owner=owner))
        due_at = first_contact_due(lead, services.policy)
        due = format_datetime(due_at, t.language, services.policy.tz) if due_at else "—"
        _queue_owner_dm(out, lead, f"{prefix}:dm", t(heading, due=due),
                        t(dm, name=_lead_name(lead, t), due=due), view)
        out.refresh_homes(prefix, [lead.owner_id])


def _queue_owner_dm(
    out: Outgoing, lead: Lead, key: str, heading: str, text: str, view: dict[str, Any]
) -> None:
    """DM the lead's owner its card (``view``) with the owner's actions, under a line saying why.

    The owner can work the lead from the DM (the buttons are the channel message's, checked
    again by the services), which is how a claim and a reassignment both hand it over.
    """
    out.send_dm(lead, key, str(lead.owner_id), text, [section(heading), *view["blocks"]])


def _queue_reassign_messages(
    services: Services,
    uow: UnitOfWork,
    lead: Lead,
    event: LeadEvent,
    previous: str | None,
    reason: str | None,
) -> None:
    """The message shows the new owner; the thread, the new and the previous owner are told."""
    t = services.t
    manager, owner = f"<@{event.actor}>", f"<@{lead.owner_id}>"
    before = f"<@{previous}>" if previous else "—"
    why = fit_mrkdwn(reason, 300) if reason else None
    name = _lead_name(lead, t)
    prefix = f"reassign:{lead.id}:{event.id}"
    if why:
        thread = t("reassign.thread_reason", manager=manager, previous=before, owner=owner,
                   reason=why)
    else:
        thread = t("reassign.thread", manager=manager, previous=before, owner=owner)
    upcoming = _next_deadline(lead, services.policy, t, services.clock)
    heading = t("reassign.dm_heading", manager=manager, previous=before, next=upcoming)
    if why:
        heading = f"{heading}\n{t('reassign.dm_reason', reason=why)}"
    with Outgoing(services, uow) as out:
        view = out.handoff_view(lead)
        out.update_channel_message(lead, f"{prefix}:update", view)
        out.reply_in_thread(lead, f"{prefix}:thread", thread)
        _queue_owner_dm(out, lead, f"{prefix}:dm", heading,
                        t("reassign.dm", manager=manager, name=name, next=upcoming), view)
        if previous:
            if why:
                text = t("reassign.dm_previous_reason", manager=manager, name=name, owner=owner,
                         reason=why)
            else:
                text = t("reassign.dm_previous", manager=manager, name=name, owner=owner)
            out.send_dm(lead, f"{prefix}:dm-previous", previous, text)
        out.refresh_homes(prefix, [previous, lead.owner_id])


def _queue_release_messages(
    services: Services, uow: UnitOfWork, lead: Lead, event: LeadEvent, reason: str | None
) -> None:
    t, user = services.t, f"<@{event.actor}>"
    prefix = f"release:{lead.id}:{event.id}"
    if reason:
        text = t("release.thread_reason", user=user, reason=fit_mrkdwn(reason, 300))
    else:
        text = t("release.thread", user=user)
    with Outgoing(services, uow) as out:
        out.update_channel_message(lead, f"{prefix}:update")
        out.reply_in_thread(lead, f"{prefix}:thread", text)
        out.refresh_homes(prefix, [str(event.data.get("previous_owner") or "")])


def _queue_touch_messages(
    services: Services, uow: UnitOfWork, lead: Lead, event: LeadEvent, kind: str, outcome: str
) -> None:
    t = services.t
    prefix = f"touch:{lead.id}:{event.id}"
    text = t("touch.thread", user=f"<@{event.actor}>", kind=t(f"touch_kind.{kind}"),
             outcome=t(f"touch_outcome.{outcome}"))
    with Outgoing(services, uow) as out:
        out.update_channel_message(lead, f"{prefix}:update")
        out.reply_in_thread(lead, f"{prefix}:thread", text)
        out.refresh_homes(prefix, [lead.owner_id])
