"""The Claim and Release buttons on the handoff message (SPEC 4).

Thin listeners: ack at once, then let ``bot.workflow`` decide from the database. The button's
``value`` only names the lead; who may do what is checked again by the service, so a forged
payload gains nothing. What the channel sees (the updated message, thread replies, the DM)
goes through the outbox; only the person who pressed gets a direct, ephemeral answer here.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.action_payloads import LeadPayload
from bot.ids import Action
from bot.lifecycle import Surface
from bot.services import Services
from bot.workflow import ClaimOutcome, ClaimResult, claim, release
from handlers.errors import reported


def register(app: App) -> None:
    app.action(Action.CLAIM.value)(on_claim)
    app.action(Action.RELEASE.value)(on_release)


def on_claim(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    context: BoltContext,
    services: Services,
) -> None:
    ack()
    with reported(body, context):
        lead = LeadPayload.require(action.get("value"))
        result = claim(services, lead.lead_id, body["user"]["id"], surface=Surface.BUTTON)
        _answer(result, respond, services)


def _answer(result: ClaimResult, respond: Respond, services: Services) -> None:
    """Only the people who did not win hear back directly; the winner gets the DM."""
    t = services.t
    if result.outcome == ClaimOutcome.WON:
        return  # the channel message, the thread and the DM say so (outbox)
    if result.outcome == ClaimOutcome.TAKEN:
        text = t("claim.taken", owner=f"<@{result.owner_id}>")
    elif result.outcome == ClaimOutcome.ALREADY_YOURS:
        text = t("claim.already_yours")
    else:
        text = t("claim.not_claimable", status=t(f"lead_status.{result.status.value}"))
    respond(response_type="ephemeral", replace_original=False, text=text)


def on_release(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    context: BoltContext,
    services: Services,
) -> None:
    ack()
    with reported(body, context):
        lead = LeadPayload.require(action.get("value"))
        release(services, lead.lead_id, body["user"]["id"], reason=None)
