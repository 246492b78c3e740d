"""Thread replies kept as feedback on the lead (SPEC section 4, "Thread").

People reply under a lead's handoff message in the sales channel, and under the bot's posts
about the lead elsewhere (the recycle or conversion notice in the marketing feedback channel);
marketers' questions and reps' answers are both feedback. Each Slack event is one unit of work
that records its ``event_id`` in the same transaction as the change, so Slack's redeliveries
(``X-Slack-Retry-Num``, same ``event_id``) — even several at once — change nothing twice; the
unique ``(channel_id, ts)`` of a stored reply is the second guard.

An edit replaces the stored text; a delete clears it (the person took their words back, so
we do not keep them) and leaves a tombstone, so a late redelivery of the original cannot store
it again. An edit or delete of a message that was never stored is ignored. Nothing here logs
message text or who wrote it: ids only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.services import Services
from storage.models import Feedback

__all__ = [
    "PROCESSED_EVENT_TTL",
    "TEXT_LIMIT",
    "Delete",
    "Edit",
    "Outcome",
    "Reply",
    "prune_processed_events",
    "record_delete",
    "record_edit",
    "record_reply",
]

log = logging.getLogger(__name__)

#: Slack's own cap on a message's text; anything longer is cut, never refused
TEXT_LIMIT = 40_000
#: how long an ``event_id`` is remembered: Slack gives up retrying an event within about an
#: hour, so a few days is a wide margin
PROCESSED_EVENT_TTL = timedelta(days=3)


class Outcome(StrEnum):
    STORED = "stored"
    UPDATED = "updated"
    DELETED = "deleted"
    DUPLICATE = "duplicate"  # this event (or this message) was already recorded
    IGNORED = "ignored"  # not in a lead's thread, or an edit/delete of nothing we keep


@dataclass(frozen=True)
class Reply:
    """A person's message in a thread (``thread_ts`` is the thread's parent message)."""

    event_id: str
    channel_id: str
    thread_ts: str
    ts: str
    user_id: str
    text: str


@dataclass(frozen=True)
class Edit:
    event_id: str
    channel_id: str
    ts: str
    text: str


@dataclass(frozen=True)
class Delete:
    event_id: str
    channel_id: str
    ts: str


def record_reply(services: Services, reply: Reply) -> Outcome:
    """Keep a reply under a lead's handoff message or a bot post about the lead."""
    now = services.clock.now()
    with services.unit_of_work() as uow:
        lead_id = uow.feedback.lead_for_thread(reply.channel_id, reply.thread_ts)
        if lead_id is None:
            return Outcome.IGNORED
        if not uow.processed_events.claim(reply.event_id, now):
            return _duplicate(reply.event_id)
        feedback = Feedback(
            lead_id=lead_id,
            author_id=reply.user_id,
            text=reply.text[:TEXT_LIMIT],
            channel_id=reply.channel_id,
            ts=reply.ts,
            thread_ts=reply.thread_ts,
            at=now,
        )
        if not uow.feedback.add(feedback):
            return _duplicate(reply.event_id)
        uow.commit()
    log.info("feedback %s stored on lead %s (event %s)", feedback.id, lead_id, reply.event_id)
    return Outcome.STORED


def record_edit(services: Services, edit: Edit) -> Outcome:
    """Replace the stored text of an edited reply (not of a deleted one)."""
    now = services.clock.now()
    text = edit.text[:TEXT_LIMIT]
    with services.unit_of_work() as uow:
        feedback = uow.feedback.by_message_for_update(edit.channel_id, edit.ts)
        if feedback is None or feedback.deleted_at is not None:
            return Outcome.IGNORED
        if feedback.text == text:  # e.g. a link preview was attached: not an edit
            return Outcome.IGNORED
        if not uow.processed_events.claim(edit.event_id, now):
            return _duplicate(edit.event_id)
        feedback.text = text
        feedback.edited_at = now
        feedback_id, lead_id = feedback.id, feedback.lead_id
        uow.commit()
    log.info("feedback %s on lead %s edited (event %s)", feedback_id, lead_id, edit.event_id)
    return Outcome.UPDATED


def record_delete(services: Services, delete: Delete) -> Outcome:
    """Forget the text of a deleted reply, keeping the row as a tombstone."""
    now = services.clock.now()
    with services.unit_of_work() as uow:
        feedback = uow.feedback.by_message_for_update(delete.channel_id, delete.ts)
        if feedback is None or feedback.deleted_at is not None:
            return Outcome.IGNORED
        if not uow.processed_events.claim(delete.event_id, now):
            return _duplicate(delete.event_id)
        feedback.text = ""
        feedback.deleted_at = now
        feedback_id, lead_id = feedback.id, feedback.lead_id
        uow.commit()
    log.info("feedback %s on lead %s deleted (event %s)", feedback_id, lead_id, delete.event_id)
    return Outcome.DELETED


def prune_processed_events(
    services: Services, now: datetime | None = None, *, keep: timedelta = PROCESSED_EVENT_TTL
) -> int:
    """Forget event ids recorded more than ``keep`` before ``now``; returns how many.

    Shaped as a scheduler sweep step (``bot.scheduler.SweepStep``): the table only has to
    outlive Slack's retries, and one indexed range delete per sweep keeps it small.
    """
    now = now or services.clock.now()
    with services.unit_of_work() as uow:
        removed = uow.processed_events.prune(now - keep)
        uow.commit()
    if removed:
        log.info("pruned %s processed event ids", removed)
    return removed


def _duplicate(event_id: str) -> Outcome:
    log.info("event %s already recorded; ignored", event_id)
    return Outcome.DUPLICATE
