"""The Log touch button and its modal (SPEC 4).

The button first asks ``bot.workflow`` whether the presser may log a touch on the lead (its
owner or a manager, while it is owned): anyone else, or anyone pressing on a lead that was
decided meanwhile, gets an ephemeral answer instead of a modal they could not submit. That
check is one quick read, then the modal opens (``trigger_id`` expires 3 s after the click).
The lead the button names is a hint, and so is the submission's ``private_metadata``: the
submission is checked again from the database and answered in the modal
(``response_action: errors``) while it is still open. If the lead changes between that check
and the write, the modal is already closed and a submission has no ``response_url``, so the
rep is told by DM through the outbox (durable, and it reaches them wherever they opened the
modal from) with the note they wrote, so it is not lost.
"""

from __future__ import annotations

import logging

from slack_bolt import App

from bot.action_payloads import LeadPayload
from bot.errors import DomainError
from bot.ids import Action, Callback, TouchBlock
from bot.views.touch_modal import TouchForm, read_touch_form, touch_modal
from bot.workflow import check_touch, log_touch, tell_refused, touch_refusal
from handlers.modals import GatedModal
from handlers.submissions import Filled, ModalSubmission, Submitted, at

log = logging.getLogger(__name__)

#: where a refusal that is not about one input is shown
FIRST_BLOCK = TouchBlock.KIND

BUTTON = GatedModal(
    "Log touch", LeadPayload,
    allow=lambda services, lead, user_id: check_touch(services, lead.lead_id, user_id),
    view=lambda services, lead, _: touch_modal(lead.lead_id, services.t),
    refusal=touch_refusal,
)


def _read(filled: Filled) -> tuple[TouchForm, dict[str, str]]:
    form = read_touch_form(filled.values, filled.services.t)
    return form, form.problems


def _check(s: Submitted[LeadPayload, TouchForm]) -> None:
    """The modal stays open for a refusal found now: the lead re-checked from the database."""
    check_touch(s.services, s.target.lead_id, s.user_id)


def _log(s: Submitted[LeadPayload, TouchForm]) -> None:
    """Log the touch; if the lead changed since the check the modal is gone: tell by DM."""
    form = s.form
    assert form.kind is not None and form.outcome is not None  # read_touch_form checked them
    try:
        log_touch(s.services, s.target.lead_id, s.user_id, kind=form.kind, outcome=form.outcome,
                  note=form.note, submission=s.key)
    except DomainError as error:
        log.info("touch by %s refused after the check: %s", s.user_id, error)
        tell_refused(s.services, s.target.lead_id, s.user_id, message_key="touch_guard.dm",
                     reason=touch_refusal(error, s.services.t), submission=s.view_id,
                     note=form.note)


SUBMISSION = ModalSubmission("touch", LeadPayload, read=_read, decide=_check,
                             block=at(FIRST_BLOCK), after=_log)


def register(app: App) -> None:
    BUTTON.register(app, Action.LOG_TOUCH)
    SUBMISSION.register(app, Callback.TOUCH_MODAL)
