"""What a lead's audit trail records, stored in ``lead_events.kind``: one registry of kinds.

A kind is either a transition of the lifecycle (``Action``: the event ``bot.lifecycle.apply``
writes as the lead's status moves) or a fact that changes no state (``Fact``, written by
``bot.lifecycle.record``). Reports, the Details timeline, the hand-off card and the outbound
webhook read these kinds back, so they are named here once; the values are stored (and read by
migrations' SQL), so they never change. Imports nothing, so a view can name a kind without
importing the lifecycle's models.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["EVENT_KINDS", "Action", "EventKind", "Fact"]


class Action(StrEnum):
    """A transition of the lifecycle, recorded under its own value."""

    QUALIFY = "qualify"
    DISQUALIFY = "disqualify"
    REQUALIFY = "requalify"
    POST = "post"
    CLAIM = "claim"
    TOUCH = "touch"
    CONVERT = "convert"
    RECYCLE = "recycle"
    RELEASE = "release"
    REASSIGN = "reassign"
    #: the SQL's deal outcome as the CRM reports it (``bot.outcomes``)
    WIN = "win"
    LOSE = "lose"
    REOPEN = "reopen"


class Fact(StrEnum):
    """Something recorded about a lead whose status does not change."""

    #: a promise's deadline lapsed (``at`` is the missed deadline), once per lead and promise
    BREACH = "breach"
    #: the owner asked to be reminded later (``data``: the promise and until when)
    SNOOZE = "snooze"
    #: behaviour an MA tool added to a stored lead (``data``: what it was, how many activities)
    BEHAVIOUR = "behaviour"


#: any kind a lead event can have
EventKind = Action | Fact
#: every kind, transitions first (the Details timeline names each one)
EVENT_KINDS: tuple[EventKind, ...] = (*Action, *Fact)
