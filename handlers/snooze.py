"""The Snooze buttons on a reminder DM: "remind me again in 30 min" (never past the deadline).

The button's value names the lead, the clock and the minutes (``SnoozePayload``: a forged
value is refused as not found); all three are hints that ``bot.reminders.sweep.snooze`` checks
against the database (owner or manager, a pending deadline).
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.action_payloads import SnoozePayload
from bot.i18n import format_datetime
from bot.ids import Action
from bot.reminders.sweep import snooze
from bot.services import Services
from handlers.errors import reported


def register(app: App) -> None:
    app.action(Action.SNOOZE.value)(on_snooze)


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
        asked = SnoozePayload.require(action.get("value"))
        until = snooze(services, asked.lead_id, body["user"]["id"], asked.clock, asked.minutes)
        at = format_datetime(until, services.t.language, services.policy.tz)
        respond(response_type="ephemeral", replace_original=False,
                text=services.t("notice.snoozed", at=at))
