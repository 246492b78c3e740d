"""The Slack messages a change to a lead owes people, queued in the same unit of work.

Every use case (claim, touch, convert, recycle, reassign...) ends by telling people: the
handoff message is re-rendered in place, a short reply goes under it, DMs go to the people
concerned and the App Home of everyone who sees the lead is refreshed. All of it is written to
the outbox in the caller's transaction, so the change and what it owes commit together and
nothing is lost when Slack is down. Keys are derived from the lead and the event, so a retried
use case never queues a message twice.

A use case that owes several calls collects them in an ``Outgoing`` and queues them with one
statement (``OutboxRepository.enqueue_many``: a key already queued is skipped, as one by one).
The module-level functions queue a single call the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

from bot.cards import handoff_card, handoff_history
from bot.deal import deal_outcome
from bot.services import Services
from bot.views.handoff import handoff_message
from storage.models import Lead
from storage.outbox_kind import OutboxKind
from storage.unit_of_work import UnitOfWork

__all__ = [
    "Outgoing",
    "queue_call",
    "refresh_every_home",
    "refresh_homes",
    "reply_in_thread",
    "send_dm",
    "update_channel_message",
]



class Outgoing:
    """The Slack calls one use case owes, queued together when it is done (``queue``).

    One INSERT for all of them instead of a savepoint and an ORM flush per row: on the claim
    path those were about 40 % of the listener's CPU, which every ack waiting for the
    interpreter lock pays for. Each row keeps its own idempotency key, and a key queued
    before (a retried use case) is skipped, so each call is still sent once. Used as a context
    manager it queues on a clean exit and drops everything on an exception.
    """

    def __init__(self, services: Services, uow: UnitOfWork) -> None:
        self.services = services
        self.uow = uow
        self.now = services.clock.now()
        self.rows: list[dict[str, Any]] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.queue()

    def queue(self) -> None:
        """Write what was collected to the outbox (one statement), in the caller's transaction."""
        rows, self.rows = self.rows, []
        self.uow.outbox.enqueue_many(rows, self.now)

    def call(
        self,
        lead: Lead | None,
        key: str,
        method: str,
        args: dict[str, Any],
        *,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """One Slack Web API call (``chat.postMessage``, ``chat.update``...) under ``key``.

        ``extra`` travels with the call for the worker (e.g. the reminder it belongs to, so a
        reminder that became moot before it was sent is dropped).
        """
        self.rows.append({
            "key": key,
            "kind": OutboxKind.MESSAGE,
            "lead_id": lead.id if lead is not None else None,
            "channel": str(args["channel"]),
            "payload": {"method": method, "args": args, **(extra or {})},
        })

    def handoff_view(self, lead: Lead) -> dict[str, Any]:
        """The handoff message as it is now (a closed deal's outcome included); render it once
        when several calls carry it. What the card reads of the lead's history is loaded here,
        once (nothing for what the caller loaded already)."""
        services = self.services
        self.uow.leads.load_history(lead, handoff_history(lead))
        return handoff_message(handoff_card(lead), services.policy, self.now, services.t,
                               outcome=deal_outcome(lead))

    def update_channel_message(
        self, lead: Lead, key: str, view: dict[str, Any] | None = None
    ) -> None:
        """Re-render the handoff message in place, so everyone sees the lead's current state.

        ``view`` is the lead's ``handoff_view`` when the caller rendered it already.
        """
        if not (lead.channel_id and lead.message_ts):
            return
        view = view if view is not None else self.handoff_view(lead)
        args = {"channel": lead.channel_id, "ts": lead.message_ts, **view}
        self.call(lead, key, "chat.update", args)

    def reply_in_thread(
        self, lead: Lead, key: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        """A short reply under the handoff message: the lead's story, told where it started."""
        if not (lead.channel_id and lead.message_ts):
            return
        args: dict[str, Any] = {
            "channel": lead.channel_id, "thread_ts": lead.message_ts, "text": text,
        }
        if blocks:
            args["blocks"] = blocks
        self.call(lead, key, "chat.postMessage", args)

    def send_dm(
        self,
        lead: Lead | None,
        key: str,
        user_id: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
    ) -> None:
        """A direct message (posting to a user id opens the DM)."""
        args: dict[str, Any] = {"channel": user_id, "text": text}
        if blocks:
            args["blocks"] = blocks
        self.call(lead, key, "chat.postMessage", args)

    def refresh_homes(self, key: str, user_ids: Iterable[str | None], *,
                      managers: bool = True) -> None:
        """An App Home refresh for each person whose Home shows the lead that changed.

        Managers see the whole team, so they are included unless ``managers`` is False.
        ``key`` identifies the change (e.g. ``claim:12:345``); each user's refresh is keyed
        by it.
        """
        people = {u for u in user_ids if u}
        if managers:
            people |= self.services.directory.members("managers")
        self.rows.extend(
            {"key": f"{key}:home:{user_id}", "kind": OutboxKind.HOME, "lead_id": None,
             "channel": user_id, "payload": {"user_id": user_id}}
            for user_id in sorted(people)
        )


def queue_call(
    services: Services,
    uow: UnitOfWork,
    lead: Lead | None,
    key: str,
    method: str,
    args: dict[str, Any],
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    """Queue one Slack Web API call under ``key`` (see ``Outgoing.call``)."""
    with Outgoing(services, uow) as out:
        out.call(lead, key, method, args, extra=extra)


def update_channel_message(services: Services, uow: UnitOfWork, lead: Lead, key: str) -> None:
    """Re-render the handoff message in place, so everyone sees the lead's current state."""
    with Outgoing(services, uow) as out:
        out.update_channel_message(lead, key)


def reply_in_thread(
    services: Services,
    uow: UnitOfWork,
    lead: Lead,
    key: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
) -> None:
    """A short reply under the handoff message: the lead's story, told where it started."""
    with Outgoing(services, uow) as out:
        out.reply_in_thread(lead, key, text, blocks)


def send_dm(
    services: Services,
    uow: UnitOfWork,
    lead: Lead | None,
    key: str,
    user_id: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
) -> None:
    """A direct message (posting to a user id opens the DM)."""
    with Outgoing(services, uow) as out:
        out.send_dm(lead, key, user_id, text, blocks)


def refresh_homes(
    services: Services, uow: UnitOfWork, key: str, user_ids: Iterable[str | None]
) -> None:
    """Queue an App Home refresh for each person whose Home shows the lead that changed
    (see ``Outgoing.refresh_homes``)."""
    with Outgoing(services, uow) as out:
        out.refresh_homes(key, user_ids)


def refresh_every_home(services: Services, uow: UnitOfWork, key: str) -> None:
    """Queue a refresh of every App Home the bot has published, for a change every Home shows
    (the agreement in force). A Home is only ever published through the outbox, and opening
    the tab queues one, so these are the people who have opened it; nobody else has a Home to
    refresh (theirs is rendered when they first open it). Managers are not looked up: those
    who have opened their Home are among them already, and the caller's transaction must not
    wait on Slack."""
    with Outgoing(services, uow) as out:
        out.refresh_homes(key, uow.outbox.channels_of(OutboxKind.HOME), managers=False)
