"""Thread replies as feedback: the ``message`` events of channels the bot is in (SPEC 4).

Bolt acknowledges Events API requests before this listener runs, so Slack's retry clock is
not ours to race; redeliveries are made harmless by ``bot.feedback`` (one row per
``event_id``). Messages by bots — ours included — are dropped here: Bolt's own self-event
filter is inactive because ``authorize`` (``handlers.app``) does not ask Slack who we are.
Only ids are logged, never message text or authors.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext
from sqlalchemy.exc import SQLAlchemyError

from bot.feedback import Delete, Edit, Reply, record_delete, record_edit, record_reply
from bot.services import Services
from handlers.errors import reported

#: subtypes that are a person's reply; every other subtype (joins, topic changes...) is not
REPLY_SUBTYPES = frozenset({None, "thread_broadcast"})


def register(app: App) -> None:
    app.event("message")(on_message)


def on_message(body: dict[str, Any], context: BoltContext, services: Services) -> None:
    with reported(body, context):
        change = parse_message_event(body)
        try:
            if isinstance(change, Reply):
                record_reply(services, change)
            elif isinstance(change, Edit):
                record_edit(services, change)
            elif isinstance(change, Delete):
                record_delete(services, change)
        except SQLAlchemyError as exc:
            # a database error's message quotes the statement's parameters: the reply's text
            raise FeedbackNotRecorded(
                f"{type(exc).__name__} recording event {change.event_id if change else '-'}"
            ) from None


class FeedbackNotRecorded(RuntimeError):
    """A database failure, told without the message text the original error quotes."""


def parse_message_event(body: dict[str, Any]) -> Reply | Edit | Delete | None:
    """What a ``message`` event means for feedback, or None when it means nothing.

    A reply has a ``thread_ts`` other than its own ``ts`` (a top-level message has none, a
    thread's parent has its own); an edit carries the new message in ``event.message``; a
    delete names ``deleted_ts``.
    """
    event = body.get("event")
    if not isinstance(event, dict):
        return None
    channel = _text(event.get("channel"))
    if not channel:
        return None
    event_id = _text(body.get("event_id")) or f"{channel}:{_text(event.get('event_ts'))}"
    subtype = event.get("subtype")
    if subtype in REPLY_SUBTYPES:
        if _from_bot(event, body):
            return None
        user, ts, thread_ts = (_text(event.get(k)) for k in ("user", "ts", "thread_ts"))
        if not (user and ts and thread_ts) or thread_ts == ts:
            return None
        return Reply(event_id, channel, thread_ts, ts, user, _text(event.get("text")))
    if subtype == "message_changed":
        message = event.get("message")
        if not isinstance(message, dict) or _from_bot(message, body):
            return None
        ts = _text(message.get("ts"))
        return Edit(event_id, channel, ts, _text(message.get("text"))) if ts else None
    if subtype == "message_deleted":
        ts = _text(event.get("deleted_ts"))
        return Delete(event_id, channel, ts) if ts else None
    return None


def _from_bot(message: dict[str, Any], body: dict[str, Any]) -> bool:
    """Posted by a bot or an app (ours or another), not typed by a person."""
    if (
        message.get("bot_id")
        or message.get("app_id")
        or message.get("bot_profile")
        or message.get("subtype") == "bot_message"
    ):
        return True
    user = message.get("user")
    return bool(user) and any(
        isinstance(a, dict) and a.get("is_bot") and a.get("user_id") == user
        for a in body.get("authorizations") or []
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
