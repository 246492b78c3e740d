"""What a recorded deal outcome owes people in Slack (SPEC 10), queued in its transaction.

The hand-off message is re-rendered with the outcome, a reply goes into its thread ("Won
¥1,200,000", "Lost (competitor): note", or a correction saying what it was before) and, per
``[outcomes] notify_marketing``, marketing's feedback channel hears which MQL won or lost and
why — 「なぜそのリードが失注したのか」 reaching marketing. A correction of an outcome marketing
was told about reaches marketing too, whatever the new outcome is.

Every row is keyed by the lead and the outcome's event: a duplicate delivery records no event
and so queues nothing, and a retried transaction queues each message once.
"""

from __future__ import annotations

from bot.deal import OutcomeNotice, event_outcome, matched_criteria
from bot.lead_messages import Outgoing
from bot.services import Services
from bot.views.blocks import thread_link
from bot.views.outcome import outcome_announcement, thread_reply
from storage.models import Lead, LeadEvent
from storage.unit_of_work import UnitOfWork

__all__ = ["announce", "outcome_key"]


def outcome_key(lead_id: int, event_id: int, part: str) -> str:
    """The outbox key of one message an outcome event owes (``update``, ``thread``,
    ``marketing``)."""
    return f"outcome:{lead_id}:{event_id}:{part}"


def announce(services: Services, uow: UnitOfWork, lead: Lead, event: LeadEvent) -> None:
    """Queue the hand-off update, the thread reply and the marketing post for ``event``."""
    deal = event_outcome(event)
    if deal is None or lead.id is None or event.id is None:
        return
    policy, t = services.policy, services.t
    listened = set(policy.outcomes.notify_marketing)
    with Outgoing(services, uow) as out:
        out.update_channel_message(lead, outcome_key(lead.id, event.id, "update"))
        out.reply_in_thread(lead, outcome_key(lead.id, event.id, "thread"),
                            thread_reply(deal, t))
        if deal.outcome in listened or deal.previous in listened:
            notice = OutcomeNotice(
                lead_id=lead.id, lead_name=lead.contact_name or "", company=lead.company_name,
                source=lead.source, criteria=matched_criteria(lead),
                thread=thread_link(lead.channel_id, lead.message_ts), deal=deal,
            )
            channel = policy.channels.marketing_feedback
            post = outcome_announcement(notice, channel=channel, policy=policy, t=t)
            out.call(lead, outcome_key(lead.id, event.id, "marketing"), "chat.postMessage", post)
