"""The Snooze buttons on a reminder DM: "remind me again in 30 min" (never past the deadline).

The button's value names the lead, the clock and the minutes; all three are hints that
``bot.notices.snooze`` checks against the database (owner or manager, a pending deadline).
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.errors import NotFound
from bot.i18n import format_datetime
from bot.ids import Action
from bot.notices import snooze
from bot.reminders import Clock
from bot.services import Services
from bot.views.notice import SNOOZE_OPTIONS
from handlers.errors import reported
from handlers.payloads import lead_id


def register(app: App) -> None:
    app.action(Action.SNOOZE.value)(on_snooze)


def parse_snooze(value: object) -> tuple[int, Clock, int]:
    """``lead:clock:minutes`` from the button; anything else is refused as not found."""
    try:
        lead, clock, minutes = str(value).split(":")
        parsed = lead_id(lead, "snooze value"), Clock(clock), int(minutes)
    except (ValueError, TypeError):
        raise NotFound("bad snooze value") from None
    if parsed[2] not in SNOOZE_OPTIONS or parsed[0] <= 0:
        raise NotFound("bad snooze value")
    return parsed


def on_snooze(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    context: BoltContext,
    services: Services,
) -> None:
    ack()
    with reported(body, context):
        lead_id, clock, minutes = parse_snooze(action.get("value"))
        until = snooze(services, lead_id, body["user"]["id"], clock, minutes)
        at = format_datetime(until, services.t.language, services.policy.tz)
        respond(response_type="ephemeral", replace_original=False,
                text=services.t("notice.snoozed", at=at))
