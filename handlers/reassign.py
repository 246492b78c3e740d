"""The Reassign button and its modal: a manager gives an owned lead to someone else (SPEC 2, 4).

Only managers may reassign, so the button refuses anyone else with an ephemeral answer before
any modal opens (one quick check, then the modal: ``trigger_id`` expires 3 s after the click).
The submission's ``private_metadata`` only names the lead: ``bot.workflow`` checks again, from
the database and the policy's roles, that the submitter is a manager, the lead is still owned
and the chosen person can take it, and the answer goes into the open modal
(``response_action: errors``). If the lead changes between that check and the write, the
manager is told by DM (a submission has no ``response_url``).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.errors import DomainError
from bot.ids import Action, Callback, ReassignBlock
from bot.services import Services
from bot.views.reassign_modal import read_reassign_form, reassign_modal
from bot.workflow import check_reassign, reassign, reassign_refusal, tell_refused
from handlers.errors import reported
from handlers.modals import open_or_offer_retry
from handlers.payloads import lead_id as parse_lead_id

log = logging.getLogger(__name__)

#: where a refusal that is not about the reason is shown: the choice of the new owner
CHOICE_BLOCK = ReassignBlock.REP.value


def register(app: App) -> None:
    """Register this module's listeners."""
    app.action(Action.REASSIGN.value)(open_modal)
    app.view(Callback.REASSIGN_MODAL.value)(submit)


def open_modal(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    respond: Respond,
    context: BoltContext,
    services: Services,
) -> None:
    ack()
    with reported(body, context):
        user_id = body["user"]["id"]
        lead_id = parse_lead_id(action.get("value"))
        try:
            target = check_reassign(services, lead_id, user_id)
        except DomainError as error:
            log.info("refused to open Reassign for %s: %s", user_id, error)
            respond(response_type="ephemeral", replace_original=False,
                    text=reassign_refusal(error, services.t))
            return
        view = reassign_modal(target.lead_id, target.owner_id, target.contact_name, services.t)
        open_or_offer_retry(client, body, action, view, respond, services.t)


def submit(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    context: BoltContext,
    services: Services,
) -> None:
    """Validate the choice, re-check everything from the database, then reassign."""
    t = services.t
    user_id = body["user"]["id"]
    form = read_reassign_form(view.get("state", {}).get("values", {}), t)
    if form.problems:
        ack(response_action="errors", errors=form.problems)
        return
    assert form.new_owner is not None  # read_reassign_form checked it
    try:
        lead_id = parse_lead_id(view.get("private_metadata"), "private_metadata")
        check_reassign(services, lead_id, user_id, form.new_owner)
    except DomainError as error:
        log.info("refused a reassignment by %s: %s", user_id, error)
        ack(response_action="errors", errors={CHOICE_BLOCK: reassign_refusal(error, t)})
        return
    ack()
    with reported(body, context):
        try:
            reassign(services, lead_id, user_id, form.new_owner, form.reason,
                     submission=context.get("submission_key"))
        except DomainError as error:  # the lead changed since the check: the modal is gone
            log.info("reassignment by %s refused after the check: %s", user_id, error)
            tell_refused(services, lead_id, user_id, message_key="reassign.refused_dm",
                         reason=reassign_refusal(error, t),
                         submission=str(view.get("id") or ""))
