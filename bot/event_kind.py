"""What a lead's audit trail records: one registry of kinds, stored in ``lead_events.kind``.

Every transition of the lifecycle (``bot.lifecycle.Action``) is recorded under the kind of the
same name, and a few facts that change no state are recorded beside them (a breach, a snooze,
behaviour an MA tool reported). Reports, the Details timeline, the card and the outbound webhook
read these kinds back, so they are named here once. The values are written to the database (and
read by migrations' SQL), so they never change. Imports nothing, so views can name a kind
without importing the lifecycle's models.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["EventKind"]


class EventKind(StrEnum):
    # transitions: one per ``bot.lifecycle.Action`` (a test keeps the two in step)
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
    WIN = "win"
    LOSE = "lose"
    REOPEN = "reopen"
    # facts: recorded with ``bot.lifecycle.record``; the lead's status does not change
    #: a promise's deadline lapsed (``at`` is the missed deadline), once per lead and promise
    BREACH = "breach"
    #: the owner asked to be reminded later (``data``: the promise and until when)
    SNOOZE = "snooze"
    #: behaviour an MA tool added to a stored lead (``data``: what it was, how many activities)
    BEHAVIOUR = "behaviour"
