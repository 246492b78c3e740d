"""``/sla-agreement`` and the agreement's modal (SPEC 9): anyone in the workspace may read it.

The command answers with the summary and a button; the button (there, and on the App Home)
opens the whole text in a read-only modal paged with Previous / Next. The page shown lives in
the modal's ``private_metadata``, which a client could forge: it is parsed strictly and the
page asked for is checked against the document's pages before anything is updated.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.action_payloads import AgreementPage, AgreementPayload
from bot.agreement.reading import agreement_view
from bot.ids import Action, Callback, Command
from bot.services import Services
from bot.views.agreement import (
    SLACK,
    agreement_document_content,
    agreement_modal,
    agreement_pages,
    agreement_summary,
)
from handlers.errors import reported
from handlers.modals import open_or_offer_retry

log = logging.getLogger(__name__)


def register(app: App) -> None:
    app.command(Command.SLA_AGREEMENT.value)(sla_agreement)
    app.action(Action.AGREEMENT_OPEN.value)(open_agreement)
    app.action(Action.AGREEMENT_PREVIOUS.value)(turn_page)
    app.action(Action.AGREEMENT_NEXT.value)(turn_page)


def sla_agreement(
    ack: Ack, respond: Respond, services: Services, body: dict[str, Any],
    context: dict[str, Any],
) -> None:
    ack()
    with reported(body, context):
        view = agreement_view(services)
        respond(response_type="ephemeral",
                **agreement_summary(view, services.t, services.policy.tz))


def open_agreement(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient,
    respond: Respond, context: BoltContext, services: Services,
) -> None:
    ack()
    with reported(body, context):
        number = AgreementPayload.require(action.get("value")).version or None
        view = agreement_view(services, number)
        content = agreement_document_content(view, services.t, services.policy.tz, SLACK)
        modal = agreement_modal(content, view.headline.number, 0, services.t)
        open_or_offer_retry(client, body, action, modal, respond, services.t)


def turn_page(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient,
    context: BoltContext, services: Services,
) -> None:
    ack()
    with reported(body, context):
        shown = body.get("view") or {}
        where = AgreementPage.parse(shown.get("private_metadata"))
        if shown.get("callback_id") != Callback.AGREEMENT_MODAL.value or where is None:
            log.warning("an agreement page was asked for with metadata the bot did not write: "
                        "refused")
            return
        number, page = where.version, where.page
        step = 1 if action.get("action_id") == Action.AGREEMENT_NEXT.value else -1
        view = agreement_view(services, number or None)
        content = agreement_document_content(view, services.t, services.policy.tz, SLACK)
        if not 0 <= page + step < len(agreement_pages(content)):
            log.warning("agreement page %d of %d asked for: refused", page + step + 1,
                        len(agreement_pages(content)))
            return
        client.views_update(view_id=shown.get("id"), hash=shown.get("hash"),
                            view=agreement_modal(content, view.headline.number, page + step,
                                                 services.t))
