"""Opening a modal from a button: who may, and what happens when Slack says it was too late.

Every button that opens a modal goes the same way (``GatedModal``): ack, read the button's
typed payload (a forged value is refused), ask the service whether the presser may (one quick
read), refuse with an ephemeral answer or open the modal the service's answer describes.

A ``trigger_id`` is valid for 3 seconds after Slack sent the click. Listeners ack first and
open the modal next, with no slow work in between; if Slack still answers
``expired_trigger_id`` (a busy process, a slow network), the person gets an ephemeral message
with a button that repeats the original click: same ``action_id``, same value, so the same
listener runs again with a fresh trigger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.action_payloads import ACTION_PAYLOADS, Payload
from bot.errors import DomainError
from bot.i18n import Translator
from bot.ids import Action
from bot.mrkdwn import mrkdwn_text, plain_text
from bot.services import Services
from bot.views.blocks import fit_plain
from handlers.errors import reported

log = logging.getLogger(__name__)

EXPIRED = "expired_trigger_id"

P = TypeVar("P", bound=Payload)
A = TypeVar("A")


@dataclass(frozen=True)
class GatedModal(Generic[P, A]):
    """A button that opens a modal only for whoever may use it.

    ``allow`` is the service's quick check: it raises the refusal, or returns what the modal
    needs; ``view`` builds the modal from the payload and that answer. A refusal is answered
    by ``refusal`` when given (words about the lead), else by the error handler (the domain
    error's own message), like a forged value.
    """

    what: str
    payload: type[P]
    allow: Callable[[Services, P, str], A]
    view: Callable[[Services, P, A], dict[str, Any]]
    refusal: Callable[[DomainError, Translator], str] | None = None

    def register(self, app: App, action: Action) -> None:
        """Listen to ``action``, whose value must be this payload's kind (``ACTION_PAYLOADS``)."""
        if ACTION_PAYLOADS.get(action) is not self.payload:
            raise ValueError(f"{action.value} does not carry a {self.payload.__name__}")
        app.action(action.value)(self.listener())

    def listener(self) -> Callable[..., None]:
        """The Bolt listener (a function: Bolt injects arguments by their names)."""
        gated = self

        def open_modal(ack: Ack, body: dict[str, Any], action: dict[str, Any],
                       client: WebClient, respond: Respond, context: BoltContext,
                       services: Services) -> None:
            ack()
            with reported(body, context):  # a forged value or a refusal: an ephemeral answer
                user_id = body["user"]["id"]
                payload = gated.payload.require(action.get("value"))
                try:
                    allowed = gated.allow(services, payload, user_id)
                except DomainError as error:
                    if gated.refusal is None:
                        raise
                    log.info("refused to open %s for %s: %s", gated.what, user_id, error)
                    respond(response_type="ephemeral", replace_original=False,
                            text=gated.refusal(error, services.t))
                    return
                view = gated.view(services, payload, allowed)
                open_or_offer_retry(client, body, action, view, respond, services.t)

        return open_modal


def open_or_offer_retry(
    client: WebClient,
    body: dict[str, Any],
    action: dict[str, Any],
    view: dict[str, Any],
    respond: Respond,
    t: Translator,
) -> bool:
    """Open ``view``; on an expired trigger offer a retry button instead. True when opened."""
    try:
        client.views_open(trigger_id=body["trigger_id"], view=view)
        return True
    except SlackApiError as error:
        if (error.response or {}).get("error") != EXPIRED:
            raise
    log.info("trigger expired before %s could open its modal; offered a retry",
             action.get("action_id"))
    respond(
        response_type="ephemeral",
        replace_original=False,
        text=t("modal.expired"),
        blocks=retry_blocks(action, t),
    )
    return False


def retry_blocks(action: dict[str, Any], t: Translator) -> list[dict[str, Any]]:
    """The ephemeral message: what happened, and the original button again."""
    button = {
        "type": "button",
        "action_id": str(action.get("action_id") or ""),
        "text": plain_text(fit_plain(t("modal.retry"), 75)),
        "value": str(action.get("value") or "")[:2000],
        "style": "primary",
    }
    return [
        {"type": "section", "text": mrkdwn_text(t("modal.expired"))},
        {"type": "actions", "elements": [button]},
    ]
