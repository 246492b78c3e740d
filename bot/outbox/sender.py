"""What the outbox worker and the sender of each kind exchange.

The worker (``bot.outbox.worker``) owns claiming, pacing, retries and recording; a ``Sender``
(registered per kind in ``bot.outbox.routes``) says how to turn a claimed row into a call, how
to make that call, whether an earlier attempt can be found again, and what a sent row changes.
A sender reports the outcome of a call by returning Slack's answer or raising ``Retry``,
``Permanent`` or ``Skipped``; the worker turns those into the row's state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.services import Services
    from storage.models import OutboxMessage
    from storage.unit_of_work import UnitOfWork

__all__ = [
    "Call",
    "Job",
    "Later",
    "Permanent",
    "Prepared",
    "Retry",
    "Sender",
    "Skip",
    "Skipped",
    "Transport",
    "never",
]


@dataclass
class Job:
    """A claimed row, prepared: the call to make and what the worker needs to record it."""

    id: int
    key: str
    kind: str
    channel: str
    needs_check: bool
    attempts: int
    method: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Call:
    """Preparing found a call to make (a Slack method and its arguments, or ``POST``/``GET``
    for the kinds that call no Slack API)."""

    method: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Skip:
    """Preparing found nothing left to send (e.g. the lead is no longer queued)."""

    reason: str


@dataclass(frozen=True)
class Later:
    """Not sendable yet: the row goes back to the queue until ``not_before``, no attempt
    counted (e.g. a proposal's update waiting for its post's ``ts``)."""

    not_before: datetime


Prepared = Call | Skip | Later


class Retry(Exception):
    def __init__(
        self,
        reason: str,
        after_s: float | None = None,
        uncertain: bool = False,
        hold_lane: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_s = after_s
        self.uncertain = uncertain  # the call may have reached Slack
        #: the destination as a whole is unreachable: hold back the rest of its lane until this
        #: row's retry, instead of waiting out a timeout for each of them
        self.hold_lane = hold_lane


class Permanent(Exception):
    pass


class Skipped(Exception):
    """The call found nothing left to do (a record deleted at its source): the attempt counts
    and the row ends skipped, not failed."""


@dataclass(frozen=True)
class Transport:
    """What a sender sends with: the services and the worker's Slack client (no automatic
    retries: a blind retry could post twice)."""

    services: Services
    client: WebClient


def never(job: Job) -> bool:
    """A ``Sender.findable`` for calls that leave nothing to find in a channel."""
    return False


@dataclass(frozen=True)
class Sender:
    """How the worker handles one outbox kind (one entry of ``bot.outbox.routes.SENDERS``)."""

    #: the call a claimed row owes, built from current state inside the worker's unit of work
    #: (``now`` is the worker's clock); the unit of work is rolled back after a ``Call``
    prepare: Callable[[Services, UnitOfWork, OutboxMessage, datetime], Prepared]
    #: make the call; returns the answer (``channel`` and ``ts`` are recorded when present)
    send: Callable[[Transport, Job], dict[str, Any]]
    #: whether an earlier attempt of this job could be found in its channel's history (asked
    #: before sending again after an attempt whose outcome is unknown)
    findable: Callable[[Job], bool] = never
    #: what a sent row changes besides itself, in the transaction that records it:
    #: ``(services, uow, row, channel, ts, now)``
    on_sent: Callable[[Services, UnitOfWork, OutboxMessage, str, str | None, datetime],
                      None] | None = None
    #: rows of this kind claimed together with the same key: only the newest is sent, the
    #: others end skipped with ``superseded`` as their error
    coalesce: Callable[[OutboxMessage], str] | None = None
    superseded: str = ""
    #: calls no Slack API: sent after Slack's rows in a pass, retried for a time window rather
    #: than a number of attempts
    off_slack: bool = False
    #: kept to about one call per second per ``channel`` (Slack's; also HubSpot's lane)
    paced: bool = True
