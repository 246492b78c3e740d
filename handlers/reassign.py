"""The Reassign button and its modal: a manager gives an owned lead to someone else (SPEC 2, 4).

Only managers may reassign, so the button refuses anyone else with an ephemeral answer before
any modal opens (one quick check, then the modal: ``trigger_id`` expires 3 s after the click).
The submission's ``private_metadata`` only names the lead: ``bot.workflow`` checks again, from
the database and the policy's roles, that the submitter is a manager, the lead is still owned
and the chosen person can take it, and the answer goes into the open modal
(``response_action: errors``). If the lead changes between that check and the write, the
manager is told by DM (a submission has no ``response_url``).
"""

from __future__ import annotations

import logging

from slack_bolt import App

from bot.action_payloads import LeadPayload
from bot.errors import DomainError
from bot.ids import Action, Callback, ReassignBlock
from bot.views.reassign_modal import ReassignForm, read_reassign_form, reassign_modal
from bot.workflow import check_reassign, reassign, reassign_refusal, tell_refused
from handlers.modals import GatedModal
from handlers.submissions import Filled, ModalSubmission, Submitted, at

log = logging.getLogger(__name__)

#: where a refusal that is not about the reason is shown: the choice of the new owner
CHOICE_BLOCK = ReassignBlock.REP

BUTTON = GatedModal(
    "Reassign", LeadPayload,
    allow=lambda services, lead, user_id: check_reassign(services, lead.lead_id, user_id),
    view=lambda services, _, target: reassign_modal(target.lead_id, target.owner_id,
                                                    target.contact_name, services.t),
    refusal=reassign_refusal,
)


def _read(filled: Filled) -> tuple[ReassignForm, dict[str, str]]:
    form = read_reassign_form(filled.values, filled.services.t)
    return form, form.problems


def _check(s: Submitted[LeadPayload, ReassignForm]) -> None:
    """The modal stays open for a refusal found now: manager, lead and choice re-checked."""
    assert s.form.new_owner is not None  # read_reassign_form checked it
    check_reassign(s.services, s.target.lead_id, s.user_id, s.form.new_owner)


def _reassign(s: Submitted[LeadPayload, ReassignForm]) -> None:
    """Reassign; if the lead changed since the check the modal is gone: tell by DM."""
    assert s.form.new_owner is not None
    try:
        reassign(s.services, s.target.lead_id, s.user_id, s.form.new_owner, s.form.reason,
                 submission=s.key)
    except DomainError as error:
        log.info("reassignment by %s refused after the check: %s", s.user_id, error)
        tell_refused(s.services, s.target.lead_id, s.user_id, message_key="reassign.refused_dm",
                     reason=reassign_refusal(error, s.services.t), submission=s.view_id)


SUBMISSION = ModalSubmission("reassignment", LeadPayload, read=_read, decide=_check,
                             block=at(CHOICE_BLOCK), refusal=reassign_refusal, after=_reassign)


def register(app: App) -> None:
    """Register this module's listeners."""
    BUTTON.register(app, Action.REASSIGN)
    SUBMISSION.register(app, Callback.REASSIGN_MODAL)
