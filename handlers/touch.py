"""The Log touch button and its modal (SPEC 4).

The button only opens the modal (``trigger_id`` expires 3 s after Slack sends it, so at once);
the lead it names is a hint. The submission's ``private_metadata`` is a hint too: who may log a
touch and whether the lead is still owned are decided by ``bot.workflow`` from the database.
A submission has no ``response_url``, so every refusal is answered as a
``response_action: errors`` message that keeps the modal open.
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
from bot.workflow import check_touch, log_touch
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
        view = touch_modal(lead_id, services.t)
        open_or_offer_retry(client, body, action, view, respond, services.t)


def submit(ack: Ack, body: dict[str, Any], view: dict[str, Any], services: Services) -> None:
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
    try:
        log_touch(services, lead_id, user_id, kind=form.kind, outcome=form.outcome,
                  note=form.note)
    except DomainError as error:  # lost a race since the check: nobody to answer any more
        log.info("touch by %s refused after the check: %s", user_id, error)
