"""The App Home tab (SPEC 4): opening it publishes the person's Home.

A thin listener: it only queues the render through the outbox (``bot.home.queue_home_open``
says why), so answering Slack never waits on a Slack call and an outage loses nothing. The
Home's buttons are the handoff message's action ids, so their listeners are the same ones.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.home import queue_home_open
from bot.services import Services
from handlers.errors import reported

HOME_TAB = "home"


def register(app: App) -> None:
    app.event("app_home_opened")(on_home_opened)


def on_home_opened(
    ack: Ack,
    body: dict[str, Any],
    event: dict[str, Any],
    context: BoltContext,
    services: Services,
) -> None:
    """Publish the opener's Home; the Messages tab fires this event too and is left alone."""
    ack()
    if event.get("tab") != HOME_TAB or not event.get("user"):
        return
    with reported(body, context):
        queue_home_open(services, str(event["user"]), body.get("event_id"))
