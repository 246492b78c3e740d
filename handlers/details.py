"""The Details button: the lead's whole record in a read-only modal (SPEC 4).

On every handoff message and in the owner's DM. The record holds personal data, so
``bot.workflow.lead_details`` lets only reps, managers and marketers read it; anyone else gets
an ephemeral refusal and no modal. The lead is read after ``ack()`` in one short transaction
(the ``trigger_id`` lasts 3 s), the view is built by a pure function, and the modal opens with
a retry offered if Slack still says the trigger expired.
"""

from __future__ import annotations

from slack_bolt import App

from bot.action_payloads import LeadPayload
from bot.ids import Action
from bot.views.details_modal import details_modal
from bot.workflow import lead_details
from handlers.modals import GatedModal

#: a refusal (DetailsNotAllowed, NotFound) becomes the error handler's ephemeral answer
BUTTON = GatedModal(
    "Details", LeadPayload,
    allow=lambda services, lead, user_id: lead_details(services, lead.lead_id, user_id),
    view=lambda services, _, details: details_modal(
        details, services.policy, services.clock.now(), services.t),
)


def register(app: App) -> None:
    """Register this module's listeners."""
    BUTTON.register(app, Action.DETAILS)
