"""Thread replies as Slack delivers them: ``message`` events, signed, waited for."""

from __future__ import annotations

import itertools
from threading import Barrier
from typing import Any

from handlers.app import LISTENER_THREADS
from tests.harness import HttpResponse
from tests.harness.bot_env import Env

_ts = itertools.count(1)
_ids = itertools.count(1)


def new_ts() -> str:
    """A fresh Slack message ts, later than the fake's own."""
    return f"1795000000.{next(_ts):06d}"


def new_event_id() -> str:
    return f"Ev{next(_ids):08d}"


def reply(channel: str, thread_ts: str | None, user: str, text: str,
          ts: str | None = None, **extra: Any) -> dict[str, Any]:
    """A ``message`` event as Slack sends it for a person's post (in a thread when
    ``thread_ts`` is given)."""
    event: dict[str, Any] = {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts or new_ts(),
        "team": "T0001",
        "channel_type": "channel",
        "blocks": [],
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    event.update(extra)
    return event


def settle(env: Env) -> None:
    """Wait until every listener already handed to the pool has finished.

    Events are acknowledged before their listener runs; the pool runs tasks in order, so once
    a task on every thread is running at the same time, all earlier ones are done.
    """
    barrier = Barrier(LISTENER_THREADS)
    waits = [env.bot.listeners.submit(barrier.wait, 10) for _ in range(LISTENER_THREADS)]
    for wait in waits:
        wait.result(timeout=15)


def deliver(env: Env, event: dict[str, Any], event_id: str | None = None,
            retry_num: int | None = None) -> HttpResponse:
    """Send one signed event and wait for its listener."""
    response = env.slack.event(event, event_id=event_id or new_event_id(), retry_num=retry_num)
    assert response.status == 200
    settle(env)
    return response
