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

from bot.action_payloads import ProposalPayload
from bot.agreement.proposals import approve, check_can_request_changes, request_changes, withdraw
from bot.i18n import format_datetime
from bot.ids import Action, Callback, ProposalBlock
from bot.services import Services
from bot.views.proposal import read_comment, request_changes_modal
from handlers.errors import reported
from handlers.modals import GatedModal
from handlers.submissions import Filled, ModalSubmission, Submitted, at

#: an approver, on the open proposal (its number for the modal); refusals answered ephemerally
REQUEST_CHANGES_BUTTON = GatedModal(
    "Request changes", ProposalPayload,
    allow=lambda services, proposal, user_id: check_can_request_changes(
        services, proposal.version_id, user_id),
    view=lambda services, proposal, number: request_changes_modal(
        proposal.version_id, number, services.t),
)


def _read(filled: Filled) -> tuple[str | None, dict[str, str]]:
    return read_comment(filled.values, filled.services.t)


def _post(s: Submitted[ProposalPayload, str | None]) -> None:
    """Post the comment, re-checked from the database, before the modal closes."""
    assert s.form is not None  # read_comment refused an empty one
    request_changes(s.services, s.target.version_id, s.user_id, s.form, submission=s.key)


CHANGES = ModalSubmission("change request", ProposalPayload, read=_read, decide=_post,
                          block=at(ProposalBlock.COMMENT))


def register(app: App) -> None:
    app.action(Action.PROPOSAL_APPROVE.value)(press_approve)
    REQUEST_CHANGES_BUTTON.register(app, Action.PROPOSAL_REQUEST_CHANGES)
    app.action(Action.PROPOSAL_WITHDRAW.value)(press_withdraw)
    CHANGES.register(app, Callback.PROPOSAL_CHANGES_MODAL)


def _tell(respond: Respond, text: str) -> None:
    respond(text=text, response_type="ephemeral", replace_original=False)


def press_approve(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond,
                  context: BoltContext, services: Services) -> None:
    ack()
    with reported(body, context):
        t = services.t
        proposal = ProposalPayload.require(action.get("value"))
        result = approve(services, proposal.version_id, body["user"]["id"])
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
        proposal = ProposalPayload.require(action.get("value"))
        number = withdraw(services, proposal.version_id, body["user"]["id"])
        _tell(respond, services.t("agreement.proposal.withdrawn", number=number))
