"""The lead lifecycle (SPEC section 2) as one explicit state machine.

``received → (not_qualified | queued) → posted → claimed → working → (converted | recycled)``;
a claimed lead can be released or reassigned. An SQL's deal then closes, as the CRM reports it
(SPEC 10): ``converted → (won | lost)``, and a later outcome corrects an earlier one (won ↔ lost,
or back to ``converted`` while the deal is open again). Every transition goes through ``apply`` and
writes a ``LeadEvent`` — the audit trail and the source of every report — so a state change
without an event cannot happen by accident. The transitions (``Action``) and the facts recorded
beside them are named in ``bot.event_kind``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import object_session

from bot.errors import IllegalTransition
from bot.event_kind import Action, Fact
from storage.models import Lead, LeadEvent, LeadStatus

S = LeadStatus


class Surface(StrEnum):
    """Where a transition came from, for the audit trail."""

    WEBHOOK = "webhook"
    CSV = "csv"
    MODAL = "modal"
    BUTTON = "button"
    SCHEDULER = "scheduler"
    OUTBOX = "outbox"
    CLI = "cli"
    SYSTEM = "system"


OPEN = frozenset({S.POSTED, S.CLAIMED, S.WORKING})
OWNED = frozenset({S.CLAIMED, S.WORKING})
#: leads that became an SQL, whatever their deal did since: every "converted" count reads this
SQL_STATUSES = frozenset({S.CONVERTED, S.WON, S.LOST})
#: decided leads: the rep's part is over (converted or recycled, and an SQL's closed deal)
TERMINAL = frozenset({*SQL_STATUSES, S.RECYCLED})
#: the actions only a deal outcome takes (from one SQL state to another)
OUTCOME_ACTIONS = frozenset({Action.WIN, Action.LOSE, Action.REOPEN})

TRANSITIONS: dict[Action, dict[LeadStatus, LeadStatus]] = {
    Action.QUALIFY: {S.RECEIVED: S.QUEUED},
    Action.DISQUALIFY: {S.RECEIVED: S.NOT_QUALIFIED},
    Action.REQUALIFY: {S.NOT_QUALIFIED: S.QUEUED},
    Action.POST: {S.QUEUED: S.POSTED},
    Action.CLAIM: {S.POSTED: S.CLAIMED},
    Action.TOUCH: {S.CLAIMED: S.WORKING, S.WORKING: S.WORKING},
    Action.CONVERT: {S.CLAIMED: S.CONVERTED, S.WORKING: S.CONVERTED},
    Action.RECYCLE: {S.CLAIMED: S.RECYCLED, S.WORKING: S.RECYCLED},
    Action.RELEASE: {S.CLAIMED: S.POSTED, S.WORKING: S.POSTED},
    Action.REASSIGN: {S.CLAIMED: S.CLAIMED, S.WORKING: S.WORKING},
    # a later outcome corrects an earlier one: each is a transition, with its own event
    Action.WIN: dict.fromkeys(SQL_STATUSES, S.WON),
    Action.LOSE: dict.fromkeys(SQL_STATUSES, S.LOST),
    Action.REOPEN: dict.fromkeys(SQL_STATUSES, S.CONVERTED),
}


def allowed(current: LeadStatus, action: Action) -> bool:
    return current in TRANSITIONS[action]


def next_status(current: LeadStatus, action: Action) -> LeadStatus:
    """The state ``action`` leads to from ``current``; ``IllegalTransition`` otherwise."""
    try:
        return TRANSITIONS[action][current]
    except KeyError:
        raise IllegalTransition(
            f"cannot {action.value} a lead that is {current.value}",
            action=action.value,
            status=current.value,
        ) from None


def changes(current: LeadStatus, action: Action, at: datetime) -> dict[str, Any]:
    """The columns ``action`` sets on a lead that is ``current``; ``IllegalTransition`` otherwise.

    Every transition can change which reminders the lead owes, so it also asks the reminder
    sweep to look at the lead again (``next_due_at``).
    """
    values: dict[str, Any] = {
        "status": next_status(current, action),
        "updated_at": at,
        "next_due_at": at,  # what the lead owes may have changed: the next sweep re-plans it
    }
    if action == Action.TOUCH:
        values["last_touch_at"] = at  # the follow-up cadence counts from here
    return values


def apply(
    lead: Lead,
    action: Action,
    *,
    at: datetime,
    surface: Surface,
    actor: str | None = None,
    data: dict[str, Any] | None = None,
) -> LeadEvent:
    """Move ``lead`` along its lifecycle and record the event (added to ``lead.events``)."""
    before = lead.status
    for column, value in changes(before, action, at).items():
        setattr(lead, column, value)
    return applied(lead, action, before, at=at, surface=surface, actor=actor, data=data)


def applied(
    lead: Lead,
    action: Action,
    before: LeadStatus,
    *,
    at: datetime,
    surface: Surface,
    actor: str | None = None,
    data: dict[str, Any] | None = None,
) -> LeadEvent:
    """Record the event of a transition the lead's row already took from ``before``.

    For a caller whose own statement wrote ``changes(before, action, at)``: a claim decides and
    moves the lead in one conditional update, so the row is not written a second time.
    """
    event = LeadEvent(
        at=at,
        kind=action.value,
        from_status=before.value,
        to_status=next_status(before, action).value,
        actor=actor,
        surface=surface.value,
        data=data or {},
    )
    _attach(lead, event)
    return event


def record(
    lead: Lead,
    kind: Fact,
    *,
    at: datetime,
    surface: Surface,
    actor: str | None = None,
    data: dict[str, Any] | None = None,
) -> LeadEvent:
    """Record a fact about a lead that is not a state change (e.g. a reminder was sent)."""
    event = LeadEvent(
        at=at,
        kind=kind.value,
        from_status=None,
        to_status=None,
        actor=actor,
        surface=surface.value,
        data=data or {},
    )
    _attach(lead, event)
    return event


def _attach(lead: Lead, event: LeadEvent) -> None:
    """Add ``event`` to ``lead.events`` without reading the lead's whole trail first.

    Appending to an unloaded collection would load every earlier event of the lead (a query
    and an object per event) only to add one; setting the event's side queues the append
    instead, and the collection, when it is read, holds it. The event goes into the lead's
    session explicitly: a back-reference does not cascade into it.
    """
    event.lead = lead
    session = object_session(lead)
    if session is not None:
        session.add(event)
