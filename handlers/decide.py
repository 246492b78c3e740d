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

from slack_bolt import App

from bot.action_payloads import LeadPayload
from bot.decisions import Gate, convert, gate, recycle
from bot.errors import FewerTouchesNoteMissing
from bot.ids import Action, Callback, ConvertBlock, RecycleBlock
from bot.services import Services
from bot.views.decision_modals import (
    ConvertForm,
    RecycleForm,
    convert_modal,
    read_convert_form,
    read_recycle_form,
    recycle_modal,
)
from handlers.modals import GatedModal
from handlers.submissions import Filled, ModalSubmission, Submitted, at


def _gate(services: Services, lead: LeadPayload, user_id: str) -> Gate:
    return gate(services, lead.lead_id, user_id)


CONVERT_BUTTON = GatedModal(
    "Convert", LeadPayload, allow=_gate,
    view=lambda services, _, allowed: convert_modal(
        allowed.lead_id, services.policy.agreement.bant_required, services.t),
)
RECYCLE_BUTTON = GatedModal(
    "Recycle", LeadPayload, allow=_gate,
    view=lambda services, _, allowed: recycle_modal(
        allowed.lead_id, services.policy.recycle.reasons, allowed.touch_count,
        services.policy.agreement.min_touches, services.t),
)


def _read_convert(filled: Filled) -> tuple[ConvertForm, dict[str, str]]:
    policy, t = filled.services.policy, filled.services.t
    form = read_convert_form(filled.values, policy.agreement.bant_required, t)
    return form, form.problems


def _convert(s: Submitted[LeadPayload, ConvertForm]) -> None:
    """Convert, re-checked from the database under the row lock, before the modal closes."""
    convert(s.services, s.target.lead_id, s.user_id, bant=s.form.bant, amount=s.form.amount,
            note=s.form.note, submission=s.key)


def _read_recycle(filled: Filled) -> tuple[RecycleForm, dict[str, str]]:
    policy, t = filled.services.policy, filled.services.t
    form = read_recycle_form(filled.values, policy.recycle.reasons, t)
    return form, form.problems


def _recycle(s: Submitted[LeadPayload, RecycleForm]) -> None:
    """Recycle, re-checked from the database under the row lock, before the modal closes."""
    assert s.form.reason is not None  # read_recycle_form checked it
    recycle(s.services, s.target.lead_id, s.user_id, reason=s.form.reason, note=s.form.note,
            fewer_touches_note=s.form.fewer_touches_note, submission=s.key)


def _recycle_block(error: Exception, form: RecycleForm) -> RecycleBlock:
    """The "fewer touches" input is only in the modal when it was needed on opening; a lead
    that needs it without the input shown (a forged view) hears it on the reason."""
    if isinstance(error, FewerTouchesNoteMissing) and form.has_fewer_touches_input:
        return RecycleBlock.FEWER_TOUCHES
    return RecycleBlock.REASON


CONVERT = ModalSubmission("convert", LeadPayload, read=_read_convert, decide=_convert,
                          block=at(ConvertBlock.BANT))
RECYCLE = ModalSubmission("recycle", LeadPayload, read=_read_recycle, decide=_recycle,
                          block=_recycle_block)


def register(app: App) -> None:
    CONVERT_BUTTON.register(app, Action.CONVERT)
    RECYCLE_BUTTON.register(app, Action.RECYCLE)
    CONVERT.register(app, Callback.CONVERT_MODAL)
    RECYCLE.register(app, Callback.RECYCLE_MODAL)
