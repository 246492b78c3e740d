"""The Details button: the lead's whole record in a read-only modal (SPEC 4).

On every handoff message and in the owner's DM. The record holds personal data, so
``bot.workflow.lead_details`` lets only reps, managers and marketers read it; anyone else gets
an ephemeral refusal and no modal. The lead is read after ``ack()`` in one short transaction
(the ``trigger_id`` lasts 3 s), the view is built by a pure function, and the modal opens with
a retry offered if Slack still says the trigger expired.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.ids import Action
from bot.services import Services
from bot.views.details_modal import details_modal
from bot.workflow import lead_details
from handlers.errors import reported
from handlers.modals import open_or_offer_retry
from handlers.payloads import lead_id as parse_lead_id


def register(app: App) -> None:
    """Register this module's listeners."""
    app.action(Action.DETAILS.value)(open_details)


def open_details(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    respond: Respond,
    context: BoltContext,
    services: Services,
) -> None:
    ack()
    with reported(body, context):  # a refusal (DetailsNotAllowed, NotFound) becomes an ephemeral
        details = lead_details(services, parse_lead_id(action.get("value")), body["user"]["id"])
        view = details_modal(details.lead, services.policy, services.clock.now(), services.t,
                             feedback=details.feedback, outcomes=details.outcomes)
        open_or_offer_retry(client, body, action, view, respond, services.t)
