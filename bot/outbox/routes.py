"""The outbox's route table: each ``OutboxKind`` and the ``Sender`` the worker hands it to.

A new kind is a member of ``storage.outbox_kind.OutboxKind`` and one entry here; the worker
(``bot.outbox.worker``) has no branch per kind. What a row owes is built when it is sent, from
then-current state, so a message never shows what changed since it was queued.
"""

from __future__ import annotations

from datetime import datetime

from bot.adapters.hubspot_deals import run as run_deal_fetch
from bot.adapters.hubspot_fetch import run as run_fetch
from bot.agreement.proposals import WAIT_FOR_POST, PostGone, PostNotSentYet, proposal_call
from bot.cards import handoff_card, handoff_history
from bot.home import SUPERSEDED, home_publish_args
from bot.lifecycle import Action, Surface, apply
from bot.outbox.files import UPLOAD_METHOD, has_shared, upload_file
from bot.outbox.off_slack import fetching, post_webhook
from bot.outbox.sender import Call, Later, Prepared, Sender, Skip
from bot.outbox.slack import call_api, is_post
from bot.reminders.sweep import still_owed
from bot.services import Services
from bot.timings import stamp
from bot.views.handoff import handoff_message
from storage.models import LeadStatus, OutboxMessage
from storage.outbox_kind import OutboxKind
from storage.unit_of_work import UnitOfWork

__all__ = ["SENDERS"]


def _prepare_handoff(
    services: Services, uow: UnitOfWork, row: OutboxMessage, now: datetime
) -> Prepared:
    lead = uow.leads.get(row.lead_id) if row.lead_id else None
    if lead is None or lead.status != LeadStatus.QUEUED:
        return Skip("lead no longer queued")
    uow.leads.load_history(lead, handoff_history(lead))
    payload = handoff_message(handoff_card(lead), services.policy, now, services.t)
    return Call("chat.postMessage", {"channel": row.channel, **payload})


def _handed_off(services: Services, uow: UnitOfWork, row: OutboxMessage, channel: str,
                ts: str | None, now: datetime) -> None:
    """The posted card moves its lead on: posted, stamped, under the active agreement."""
    if row.lead_id is None:
        return
    lead = uow.leads.get_for_update(row.lead_id)
    if lead is None or lead.status != LeadStatus.QUEUED:
        return
    # the agreement version it is handed off under, read in the same transaction
    lead.agreement_version = uow.agreements.active_number()
    lead.channel_id, lead.message_ts, lead.posted_at = channel, str(ts), now
    stamp(lead, services.policy)  # its first-contact deadline, for the reports
    # A late hand-off is recorded (at its true instant) and told by the reminder sweep.
    apply(lead, Action.POST, at=now, surface=Surface.OUTBOX, data={"ts": str(ts)})


def _prepare_message(
    services: Services, uow: UnitOfWork, row: OutboxMessage, now: datetime
) -> Prepared:
    notice = row.payload.get("notice")
    if isinstance(notice, dict) and not still_owed(
        services.policy, uow, int(notice.get("lead_id", 0)), str(notice.get("key"))
    ):  # e.g. the touch was logged after the reminder was queued
        return Skip("reminder became moot")
    return Call(str(row.payload.get("method", "chat.postMessage")),
                dict(row.payload.get("args", {})))


def _home_user(row: OutboxMessage) -> str:
    """Whose Home a ``home`` row refreshes."""
    return str(row.payload.get("user_id") or row.channel)


def _prepare_home(
    services: Services, uow: UnitOfWork, row: OutboxMessage, now: datetime
) -> Prepared:
    return Call("views.publish", home_publish_args(services, uow, _home_user(row)))


def _prepare_file(
    services: Services, uow: UnitOfWork, row: OutboxMessage, now: datetime
) -> Prepared:
    return Call(UPLOAD_METHOD, {"channel": row.channel, **row.payload})


def _prepare_webhook(
    services: Services, uow: UnitOfWork, row: OutboxMessage, now: datetime
) -> Prepared:
    config = services.policy.outbound_webhook
    if config is None:  # the operator turned the webhook off since it was queued
        return Skip("webhook not configured")
    return Call("POST", {"url": config.url, "timeout": config.timeout_seconds,
                         "body": str(row.payload.get("body", ""))})


def _prepare_fetch(
    services: Services, uow: UnitOfWork, row: OutboxMessage, now: datetime
) -> Prepared:
    return Call("GET", dict(row.payload))


def _prepare_proposal(
    services: Services, uow: UnitOfWork, row: OutboxMessage, now: datetime
) -> Prepared:
    """An agreement proposal's post, update or reply, rendered as the proposal is now."""
    try:
        return Call(*proposal_call(services.policy, services.t, uow, row))
    except PostNotSentYet:  # an update or reply waits for its post's ts
        return Later(now + WAIT_FOR_POST)
    except PostGone as gone:
        return Skip(str(gone))


#: every kind's sender; ``tests/test_outbox_kinds.py`` checks that none is missing
SENDERS: dict[OutboxKind, Sender] = {
    OutboxKind.HANDOFF: Sender(prepare=_prepare_handoff, send=call_api, findable=is_post,
                               on_sent=_handed_off),
    OutboxKind.MESSAGE: Sender(prepare=_prepare_message, send=call_api, findable=is_post),
    # one render covers a person's Home refreshes claimed together
    OutboxKind.HOME: Sender(prepare=_prepare_home, send=call_api, findable=is_post,
                            coalesce=_home_user, superseded=SUPERSEDED),
    OutboxKind.FILE: Sender(prepare=_prepare_file, send=upload_file, findable=has_shared),
    # a receiver is not a Slack channel: never paced
    OutboxKind.WEBHOOK: Sender(prepare=_prepare_webhook, send=post_webhook, off_slack=True,
                               paced=False),
    OutboxKind.HUBSPOT_FETCH: Sender(prepare=_prepare_fetch, send=fetching(run_fetch),
                                     off_slack=True),
    OutboxKind.HUBSPOT_DEAL_FETCH: Sender(prepare=_prepare_fetch,
                                          send=fetching(run_deal_fetch), off_slack=True),
    OutboxKind.AGREEMENT_PROPOSAL: Sender(prepare=_prepare_proposal, send=call_api,
                                          findable=is_post),
}
