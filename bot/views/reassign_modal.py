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
from bot.mrkdwn import escape
from bot.views.blocks import fit_mrkdwn, input_block, modal, placeholder, section

__all__ = ["REASON_MAX", "ReassignForm", "read_reassign_form", "reassign_modal"]

#: the reason is kept up to this many characters (``bot.workflow.REASON_LIMIT``)
REASON_MAX = 500
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
    blocks = [
        section(t("reassign.modal_intro", name=name, owner=owner)),
        input_block(ReassignBlock.REP.value, t("reassign.new_owner"), {
            "type": "users_select", "action_id": ReassignBlock.REP.value,
            "placeholder": placeholder(t("reassign.choose")),
        }),
        input_block(ReassignBlock.REASON.value, t("reassign.reason"), {
            "type": "plain_text_input", "action_id": ReassignBlock.REASON.value,
            "max_length": REASON_MAX,
        }, optional=True),
    ]
    return modal(Callback.REASSIGN_MODAL.value, t("reassign.modal_title"), t("reassign.cancel"),
                 blocks, submit=t("reassign.submit"),
                 private_metadata=LeadPayload(lead_id).encode())


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
