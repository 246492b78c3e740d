"""The Reassign modal: a manager picks the lead's new owner and may say why (SPEC 2 and 4).

Pure functions: ``reassign_modal`` builds the view, ``read_reassign_form`` reads a
submission's ``state.values`` back. ``private_metadata`` only names the lead; whether the
submitter is a manager, the lead is still owned and the chosen person can take it is decided
by ``bot.workflow`` from the database and the policy's roles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.action_payloads import LeadPayload
from bot.i18n import Translator
from bot.ids import Callback, ReassignBlock
from bot.mrkdwn import escape, mrkdwn_text, plain_text
from bot.views.handoff import fit_mrkdwn, fit_plain

__all__ = ["REASON_MAX", "ReassignForm", "read_reassign_form", "reassign_modal"]

#: the reason is kept up to this many characters (``bot.workflow.REASON_LIMIT``)
REASON_MAX = 500
#: Slack's limits for modal titles and buttons, and for a section's text
TITLE_LIMIT = 24
LABEL_LIMIT = 2000
PLACEHOLDER_LIMIT = 150
SECTION_LIMIT = 3000
NAME_BUDGET = 200


@dataclass(frozen=True)
class ReassignForm:
    new_owner: str | None
    reason: str | None
    #: ``{block_id: message}`` for ``response_action: errors``
    problems: dict[str, str] = field(default_factory=dict)


def reassign_modal(
    lead_id: int, owner_id: str | None, contact_name: str, t: Translator
) -> dict[str, Any]:
    """The modal for reassigning lead ``lead_id``, saying whose it is now."""
    name = fit_mrkdwn(contact_name.strip() or t("handoff.unnamed"), NAME_BUDGET)
    owner = f"<@{escape(owner_id)}>" if owner_id else "—"
    intro = fit_plain(t("reassign.modal_intro", name=name, owner=owner), SECTION_LIMIT)
    blocks = [
        {"type": "section", "text": mrkdwn_text(intro)},
        _input(ReassignBlock.REP, t("reassign.new_owner"), {
            "type": "users_select", "action_id": ReassignBlock.REP.value,
            "placeholder": _plain(fit_plain(t("reassign.choose"), PLACEHOLDER_LIMIT)),
        }),
        _input(ReassignBlock.REASON, t("reassign.reason"), {
            "type": "plain_text_input", "action_id": ReassignBlock.REASON.value,
            "max_length": REASON_MAX,
        }, optional=True),
    ]
    return {
        "type": "modal",
        "callback_id": Callback.REASSIGN_MODAL.value,
        "private_metadata": LeadPayload(lead_id).encode(),
        "title": _plain(fit_plain(t("reassign.modal_title"), TITLE_LIMIT)),
        "submit": _plain(fit_plain(t("reassign.submit"), TITLE_LIMIT)),
        "close": _plain(fit_plain(t("reassign.cancel"), TITLE_LIMIT)),
        "blocks": blocks,
    }


def read_reassign_form(values: dict[str, Any], t: Translator) -> ReassignForm:
    """The chosen user and the reason, with a message per block that is wrong."""
    rep = (values.get(ReassignBlock.REP.value) or {}).get(ReassignBlock.REP.value) or {}
    new_owner = str(rep.get("selected_user") or "").strip() or None
    raw = (values.get(ReassignBlock.REASON.value) or {}).get(ReassignBlock.REASON.value) or {}
    reason = " ".join(str(raw.get("value") or "").split()) or None
    problems: dict[str, str] = {}
    if new_owner is None:
        problems[ReassignBlock.REP.value] = t("reassign.error.choose")
    if reason is not None and len(reason) > REASON_MAX:
        problems[ReassignBlock.REASON.value] = t("reassign.error.reason_too_long",
                                                 limit=REASON_MAX)
    return ReassignForm(new_owner, reason, problems)


def _input(
    block: ReassignBlock, label: str, element: dict[str, Any], *, optional: bool = False
) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block.value,
        "label": _plain(fit_plain(label, LABEL_LIMIT)),
        "element": element,
        "optional": optional,
    }


def _plain(text: str) -> dict[str, Any]:
    return plain_text(text)
