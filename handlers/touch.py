"""The Log touch button and its modal (SPEC 4).

The button first asks ``bot.workflow`` whether the presser may log a touch on the lead (its
owner or a manager, while it is owned): anyone else, or anyone pressing on a lead that was
decided meanwhile, gets an ephemeral answer instead of a modal they could not submit. That
check is one quick read, then the modal opens (``trigger_id`` expires 3 s after the click).
The lead the button names is a hint, and so is the submission's ``private_metadata``: the
submission is checked again from the database and answered in the modal
(``response_action: errors``) while it is still open. If the lead changes between that check
and the write, the modal is already closed and a submission has no ``response_url``, so the
rep is told by DM through the outbox (durable, and it reaches them wherever they opened the
modal from) with the note they wrote, so it is not lost.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.errors import DomainError
from bot.ids import Action, Callback, TouchBlock
from bot.services import Services
from bot.views.touch_modal import read_touch_form, touch_modal
from bot.workflow import check_touch, log_touch, tell_refused, touch_refusal
from handlers.errors import reported
from handlers.modals import open_or_offer_retry
from handlers.payloads import lead_id as parse_lead_id

log = logging.getLogger(__name__)

#: where a refusal that is not about one input is shown
FIRST_BLOCK = TouchBlock.KIND.value


def register(app: App) -> None:
    app.action(Action.LOG_TOUCH.value)(open_modal)
    app.view(Callback.TOUCH_MODAL.value)(submit)


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
        lead_id = parse_lead_id(action.get("value"))
        try:
            check_touch(services, lead_id, body["user"]["id"])
        except DomainError as error:
            log.info("refused to open Log touch for %s: %s", body["user"]["id"], error)
            respond(response_type="ephemeral", replace_original=False,
                    text=touch_refusal(error, services.t))
            return
        view = touch_modal(lead_id, services.t)
        open_or_offer_retry(client, body, action, view, respond, services.t)


def submit(
    ack: Ack,
    body: dict[str, Any],
    view: dict[str, Any],
    context: BoltContext,
    services: Services,
) -> None:
    """Validate the inputs, re-check the lead from the database, then log the touch."""
    t = services.t
    user_id = body["user"]["id"]
    form = read_touch_form(view.get("state", {}).get("values", {}), t)
    if form.problems:
        ack(response_action="errors", errors=form.problems)
        return
    try:
        lead_id = parse_lead_id(view.get("private_metadata"), "private_metadata")
        check_touch(services, lead_id, user_id)
    except DomainError as error:
        log.info("refused a touch by %s: %s", user_id, error)
        ack(response_action="errors", errors={FIRST_BLOCK: t(error.message_key, **error.params)})
        return
    ack()
    assert form.kind is not None and form.outcome is not None  # read_touch_form checked them
    with reported(body, context):
        try:
            log_touch(services, lead_id, user_id, kind=form.kind, outcome=form.outcome,
                      note=form.note, submission=context.get("submission_key"))
        except DomainError as error:  # the lead changed since the check: the modal is gone
            log.info("touch by %s refused after the check: %s", user_id, error)
            tell_refused(services, lead_id, user_id, message_key="touch_guard.dm",
                         reason=touch_refusal(error, t), submission=str(view.get("id") or ""),
                         note=form.note)
