"""The Log touch modal: what kind of contact, how it went, and an optional note (SPEC 4).

Pure functions: ``touch_modal`` builds the view, ``read_touch_form`` reads a submission's
``state.values`` back. ``private_metadata`` only names the lead; the service re-checks who may
log a touch on it and whether it is still owned, from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.action_payloads import LeadPayload
from bot.i18n import Translator
from bot.ids import Callback, TouchBlock
from bot.views.blocks import input_block, modal, option, placeholder

__all__ = [
    "NOTE_MAX",
    "TOUCH_KINDS",
    "TOUCH_OUTCOMES",
    "TouchForm",
    "read_touch_form",
    "touch_modal",
]

TOUCH_KINDS = ("call", "email", "meeting", "other")
TOUCH_OUTCOMES = ("connected", "voicemail", "no_answer", "replied", "bounced")
NOTE_MAX = 3000


@dataclass(frozen=True)
class TouchForm:
    kind: str | None
    outcome: str | None
    note: str | None
    #: ``{block_id: message}`` for ``response_action: errors``
    problems: dict[str, str] = field(default_factory=dict)


def touch_modal(lead_id: int, t: Translator) -> dict[str, Any]:
    """The modal for logging a touch on lead ``lead_id``."""
    kinds = [option(k, t(f"touch_kind.{k}")) for k in TOUCH_KINDS]
    outcomes = [option(o, t(f"touch_outcome.{o}")) for o in TOUCH_OUTCOMES]
    blocks = [
        input_block(TouchBlock.KIND.value, t("touch.kind"), {
            "type": "static_select", "action_id": TouchBlock.KIND.value, "options": kinds,
            "placeholder": placeholder(t("touch.choose")),
        }),
        input_block(TouchBlock.OUTCOME.value, t("touch.outcome"), {
            "type": "static_select", "action_id": TouchBlock.OUTCOME.value, "options": outcomes,
            "placeholder": placeholder(t("touch.choose")),
        }),
        input_block(TouchBlock.NOTE.value, t("touch.note"), {
            "type": "plain_text_input", "action_id": TouchBlock.NOTE.value,
            "multiline": True, "max_length": NOTE_MAX,
        }, optional=True),
    ]
    return modal(Callback.TOUCH_MODAL.value, t("touch.modal_title"), t("touch.cancel"), blocks,
                 submit=t("touch.submit"), private_metadata=LeadPayload(lead_id).encode())


def read_touch_form(values: dict[str, Any], t: Translator) -> TouchForm:
    """The submitted kind, outcome and note, with a message per block that is wrong."""
    kind = _selected(values, TouchBlock.KIND)
    outcome = _selected(values, TouchBlock.OUTCOME)
    raw = ((values.get(TouchBlock.NOTE.value) or {}).get(TouchBlock.NOTE.value) or {})
    note = (raw.get("value") or "").strip() or None
    problems: dict[str, str] = {}
    if kind not in TOUCH_KINDS:
        problems[TouchBlock.KIND.value] = t("touch.error.kind")
    if outcome not in TOUCH_OUTCOMES:
        problems[TouchBlock.OUTCOME.value] = t("touch.error.outcome")
    if note is not None and len(note) > NOTE_MAX:
        problems[TouchBlock.NOTE.value] = t("touch.error.note_too_long", limit=NOTE_MAX)
    return TouchForm(kind, outcome, note, problems)


def _selected(values: dict[str, Any], block: TouchBlock) -> str | None:
    element = (values.get(block.value) or {}).get(block.value) or {}
    option = element.get("selected_option") or {}
    value = option.get("value")
    return str(value) if value is not None else None
