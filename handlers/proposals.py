"""Approve, Request changes and Withdraw on an agreement proposal (SPEC 9).

A press is acked at once; the service then decides from the database and the directory
whether the presser may act and whether the proposal is still open (the button's value only
names a version, and is parsed strictly). Refusals and confirmations are ephemeral. Request
changes opens a modal whose comment is required; on submission everything is checked again
before the comment is posted in the proposal's threads.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.agreement.proposals import approve, check_can_request_changes, request_changes, withdraw
from bot.i18n import format_datetime
from bot.ids import Action, Callback, ProposalBlock
from bot.services import Services
from bot.views.proposal import read_comment, request_changes_modal
from handlers.decide import _refusal
from handlers.errors import reported
from handlers.modals import open_or_offer_retry
from handlers.payloads import version_id as parse_version_id


def register(app: App) -> None:
    app.action(Action.PROPOSAL_APPROVE.value)(press_approve)
    app.action(Action.PROPOSAL_REQUEST_CHANGES.value)(press_request_changes)
    app.action(Action.PROPOSAL_WITHDRAW.value)(press_withdraw)
    app.view(Callback.PROPOSAL_CHANGES_MODAL.value)(submit_changes)


def _tell(respond: Respond, text: str) -> None:
    respond(text=text, response_type="ephemeral", replace_original=False)


def press_approve(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond,
                  context: BoltContext, services: Services) -> None:
    ack()
    with reported(body, context):
        t = services.t
        result = approve(services, parse_version_id(action.get("value")), body["user"]["id"])
        side = t(f"agreement.proposal.side_name_{result.side}")
        if result.already:
            _tell(respond, t("agreement.proposal.already_approved", number=result.number,
                             side=side))
        elif result.effective_at is not None:
            _tell(respond, t("agreement.proposal.approved_complete", number=result.number,
                             side=side, at=format_datetime(result.effective_at, t.language,
                                                           services.policy.tz)))
        else:
            _tell(respond, t("agreement.proposal.approved", number=result.number, side=side))


def press_withdraw(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond,
                   context: BoltContext, services: Services) -> None:
    ack()
    with reported(body, context):
        number = withdraw(services, parse_version_id(action.get("value")), body["user"]["id"])
        _tell(respond, services.t("agreement.proposal.withdrawn", number=number))


def press_request_changes(ack: Ack, body: dict[str, Any], action: dict[str, Any],
                          client: WebClient, respond: Respond, context: BoltContext,
                          services: Services) -> None:
    ack()
    with reported(body, context):
        version_id = parse_version_id(action.get("value"))
        number = check_can_request_changes(services, version_id, body["user"]["id"])
        view = request_changes_modal(version_id, number, services.t)
        open_or_offer_retry(client, body, action, view, respond, services.t)


def submit_changes(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext,
                   services: Services) -> None:
    """Validate the comment, then post it (re-checked from the database) before acking."""
    t = services.t
    user_id = body["user"]["id"]
    comment, problems = read_comment(view.get("state", {}).get("values", {}), t)
    if comment is None:
        ack(response_action="errors", errors=problems)
        return
    try:
        version_id = parse_version_id(view.get("private_metadata"), "private_metadata")
        request_changes(services, version_id, user_id, comment,
                        submission=context.get("submission_key"))
    except Exception as error:
        ack(response_action="errors", errors={
            ProposalBlock.COMMENT.value: _refusal(error, "change request", user_id, t)})
        return
    ack()
