"""``/sla-status``: the agreement and (later) how both sides are doing against it."""

from __future__ import annotations

from slack_bolt import Ack, App, Respond

from bot.ids import Command
from bot.services import Services
from bot.views.status import agreement_blocks


def register(app: App) -> None:
    app.command(Command.SLA_STATUS.value)(sla_status)


def sla_status(ack: Ack, respond: Respond, services: Services) -> None:
    ack()
    blocks = agreement_blocks(services.policy, services.t)
    respond(
        response_type="ephemeral",
        text=services.t("status.title"),
        blocks=blocks,
    )
