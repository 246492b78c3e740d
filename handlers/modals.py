"""Opening a modal from a button, and what happens when Slack says it was too late.

A ``trigger_id`` is valid for 3 seconds after Slack sent the click. Listeners ack first and
open the modal next, with no slow work in between; if Slack still answers
``expired_trigger_id`` (a busy process, a slow network), the person gets an ephemeral message
with a button that repeats the original click: same ``action_id``, same value, so the same
listener runs again with a fresh trigger.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.i18n import Translator
from bot.mrkdwn import mrkdwn_text, plain_text
from bot.views.handoff import fit_plain

log = logging.getLogger(__name__)

EXPIRED = "expired_trigger_id"


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
