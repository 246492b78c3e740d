"""The Convert to SQL and Recycle buttons and their modals (SPEC 4).

A press is acked at once, then one indexed read (``bot.decisions.gate``) decides whether the
presser may decide on the lead now: a decided or unowned lead, or someone who is neither the
owner nor a manager, gets an ephemeral answer and no modal. Otherwise the modal opens straight
away (``trigger_id`` lasts 3 s).

A submission is validated inline, then the decision itself is made *before* the submission is
acknowledged: ``bot.decisions`` re-reads the lead under a row lock and checks who may decide
from the database (``private_metadata`` is only a hint). A decision is the lead's last state
change, so the rep's modal closes only once it is recorded, and any refusal — already decided
(a double submission), not allowed (a forged lead id), too few touches without a reason —
keeps the modal open with the reason. The unit of work is one short transaction, well within
the 3 s Slack gives a submission.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.decisions import convert, gate, recycle
from bot.errors import DomainError, FewerTouchesNoteMissing, NotAllowed
from bot.i18n import Translator
from bot.ids import Action, Callback, ConvertBlock, RecycleBlock
from bot.services import Services
from bot.views.decision_modals import (
    convert_modal,
    read_convert_form,
    read_recycle_form,
    recycle_modal,
)
from handlers.errors import reported
from handlers.logging_setup import without_text
from handlers.modals import open_or_offer_retry
from handlers.payloads import lead_id as parse_lead_id

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.action(Action.CONVERT.value)(open_convert)
    app.action(Action.RECYCLE.value)(open_recycle)
    app.view(Callback.CONVERT_MODAL.value)(submit_convert)
    app.view(Callback.RECYCLE_MODAL.value)(submit_recycle)


def open_convert(
    ack: Ack,
    body: dict[str, Any],
    action: dict[str, Any],
    client: WebClient,
    respond: Respond,
    context: BoltContext,
    services: Services,
) -> None:
    ack()
    with reported(body, context):  # a refusal becomes an ephemeral answer there
        allowed = gate(services, parse_lead_id(action.get("value")), body["user"]["id"])
        view = convert_modal(allowed.lead_id, services.policy.agreement.bant_required,
                             services.t)
        open_or_offer_retry(client, body, action, view, respond, services.t)


def open_recycle(
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
        allowed = gate(services, parse_lead_id(action.get("value")), body["user"]["id"])
        policy = services.policy
        view = recycle_modal(allowed.lead_id, policy.recycle.reasons, allowed.touch_count,
                             policy.agreement.min_touches, services.t)
        open_or_offer_retry(client, body, action, view, respond, services.t)


def submit_convert(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext,
    services: Services,
) -> None:
    """Validate the inputs, then convert (re-checked from the database) before acking."""
    t = services.t
    user_id = body["user"]["id"]
    values = view.get("state", {}).get("values", {})
    form = read_convert_form(values, services.policy.agreement.bant_required, t)
    if form.problems:
        ack(response_action="errors", errors=form.problems)
        return
    try:
        lead_id = parse_lead_id(view.get("private_metadata"), "private_metadata")
        convert(services, lead_id, user_id, bant=form.bant, amount=form.amount, note=form.note,
                submission=context.get("submission_key"))
    except Exception as error:
        ack(response_action="errors",
            errors={ConvertBlock.BANT.value: _refusal(error, "convert", user_id, t)})
        return
    ack()


def submit_recycle(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext,
    services: Services,
) -> None:
    """Validate the inputs, then recycle (re-checked from the database) before acking."""
    t = services.t
    user_id = body["user"]["id"]
    values = view.get("state", {}).get("values", {})
    form = read_recycle_form(values, services.policy.recycle.reasons, t)
    if form.problems:
        ack(response_action="errors", errors=form.problems)
        return
    assert form.reason is not None  # read_recycle_form checked it
    try:
        lead_id = parse_lead_id(view.get("private_metadata"), "private_metadata")
        recycle(services, lead_id, user_id, reason=form.reason, note=form.note,
                fewer_touches_note=form.fewer_touches_note,
                submission=context.get("submission_key"))
    except Exception as error:
        # The "fewer touches" input is only in the modal when it was needed on opening; a
        # lead that needs it without the input shown (a forged view) hears it on the reason.
        block = (RecycleBlock.FEWER_TOUCHES if isinstance(error, FewerTouchesNoteMissing)
                 and form.has_fewer_touches_input else RecycleBlock.REASON)
        ack(response_action="errors",
            errors={block.value: _refusal(error, "recycle", user_id, t)})
        return
    ack()


def _refusal(error: Exception, what: str, user_id: str, t: Translator) -> str:
    """The inline message for a refused decision; unexpected errors are logged with an id.

    A submission has no ``response_url``: an error that escaped would leave Slack showing a
    generic failure, so every outcome is answered in the modal instead.
    """
    if isinstance(error, DomainError):
        level = logging.WARNING if isinstance(error, NotAllowed) else logging.INFO
        log.log(level, "refused a %s by %s: %s", what, user_id, error)
        return t(error.message_key, **error.params)
    error_id = uuid.uuid4().hex[:8]
    log.error("unhandled error %s in a %s submission: %s", error_id, what, without_text(error))
    return t("error.generic", error_id=error_id)

