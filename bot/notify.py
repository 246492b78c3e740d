"""The Slack messages a change to a lead owes people, queued in the same unit of work.

Every use case (claim, touch, convert, recycle, reassign...) ends by telling people: the
handoff message is re-rendered in place, a short reply goes under it, DMs go to the people
concerned and the App Home of everyone who sees the lead is refreshed. All of it is written to
the outbox in the caller's transaction, so the change and what it owes commit together and
nothing is lost when Slack is down. Keys are derived from the lead and the event, so a retried
use case never queues a message twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.services import Services
from bot.views.handoff import handoff_message
from storage.models import Lead
from storage.unit_of_work import UnitOfWork

__all__ = [
    "HOME_KIND",
    "MESSAGE_KIND",
    "queue_call",
    "refresh_homes",
    "reply_in_thread",
    "send_dm",
    "update_channel_message",
]

#: outbox ``kind`` of a ready-made Slack call (``{"method", "args"}``)
MESSAGE_KIND = "message"
#: outbox ``kind`` of an App Home refresh: the view is rendered when it is sent, from then-current
#: state, so a burst of changes never publishes a stale Home
HOME_KIND = "home"


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
    """Queue one Slack Web API call (``chat.postMessage``, ``chat.update``...) under ``key``.

    ``extra`` travels with the call for the worker (e.g. the reminder it belongs to, so a
    reminder that became moot before it was sent is dropped).
    """
    uow.outbox.enqueue(
        key=key,
        kind=MESSAGE_KIND,
        now=services.clock.now(),
        lead_id=lead.id if lead is not None else None,
        channel=str(args["channel"]),
        payload={"method": method, "args": args, **(extra or {})},
    )


def update_channel_message(services: Services, uow: UnitOfWork, lead: Lead, key: str) -> None:
    """Re-render the handoff message in place, so everyone sees the lead's current state."""
    if not (lead.channel_id and lead.message_ts):
        return
    view = handoff_message(lead, services.policy, services.clock.now(), services.t)
    args = {"channel": lead.channel_id, "ts": lead.message_ts, **view}
    queue_call(services, uow, lead, key, "chat.update", args)


def reply_in_thread(
    services: Services,
    uow: UnitOfWork,
    lead: Lead,
    key: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
) -> None:
    """A short reply under the handoff message: the lead's story, told where it started."""
    if not (lead.channel_id and lead.message_ts):
        return
    args: dict[str, Any] = {"channel": lead.channel_id, "thread_ts": lead.message_ts, "text": text}
    if blocks:
        args["blocks"] = blocks
    queue_call(services, uow, lead, key, "chat.postMessage", args)


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
    args: dict[str, Any] = {"channel": user_id, "text": text}
    if blocks:
        args["blocks"] = blocks
    queue_call(services, uow, lead, key, "chat.postMessage", args)


def refresh_homes(
    services: Services, uow: UnitOfWork, key: str, user_ids: Iterable[str | None]
) -> None:
    """Queue an App Home refresh for each person whose Home shows the lead that changed.

    Managers see the whole team, so they are always included. ``key`` identifies the change
    (e.g. ``claim:12:345``); each user's refresh is keyed by it.
    """
    people = {u for u in user_ids if u} | services.directory.members("managers")
    now = services.clock.now()
    for user_id in sorted(people):
        uow.outbox.enqueue(
            key=f"{key}:home:{user_id}",
            kind=HOME_KIND,
            now=now,
            lead_id=None,
            channel=user_id,
            payload={"user_id": user_id},
        )
