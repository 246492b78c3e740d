"""Taking effect (SPEC 9): an approved version becomes the agreement in force, everywhere.

One sweep step, first in every process's sweep, in two halves:

* **activation**, once across processes: the newest proposed version approved by both sides
  whose effective instant has come becomes active and the previous one superseded, in one
  transaction under the agreement lock (``AgreementRepository.lock``) that also queues the
  "in effect" notice to the hand-off and marketing channels (one outbox key per version and
  channel, so a second activator, a retry or a restart never posts it twice);
* **following**, in every process: when the active version is not the one the process runs,
  it builds the effective policy (the file's operational part, the stored agreement) and
  swaps ``services.policy`` — one attribute assignment, so a request reads the old policy or
  the new one, never a mix — then re-plans every open lead under the new numbers.

So each process switches within one sweep interval, without a restart. Nothing else caches
agreement-derived values: the business calendar is cached on the policy object itself, the
role directory holds the policy for ``[roles]`` only (operational). The scheduler's own
interval (``[reminders] sweep_interval_seconds``) is read when it starts: a change to it
applies at the next restart.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.agreement.changes import agreement_changes, describe_changes
from bot.agreement.document import policy_with_agreement
from bot.lead_messages import refresh_every_home
from bot.policy import Policy
from bot.reminders.sweep import recompute_all
from bot.services import Services
from bot.views.agreement_notice import InEffectNotice, in_effect_message
from storage.models import AgreementApproval, AgreementStatus, AgreementVersion
from storage.outbox_kind import OutboxKind
from storage.unit_of_work import UnitOfWork

__all__ = [
    "activate_due",
    "activation_step",
    "follow_active",
    "in_effect_key",
    "notice_channels",
    "queue_in_effect",
]

log = logging.getLogger("sla_bot")

def in_effect_key(number: int, channel: str) -> str:
    """The notice's outbox key: once per version and channel."""
    return f"agreement:v{number}:in-effect:{channel}"


def notice_channels(policy: Policy) -> list[str]:
    """Both sides' channels: sales' hand-off channel and marketing's (once if they are one)."""
    return list(dict.fromkeys((policy.channels.handoff, policy.channels.marketing_feedback)))


def queue_in_effect(
    uow: UnitOfWork,
    services: Services,
    version: AgreementVersion,
    *,
    previous: AgreementVersion | None,
    old_policy: Policy | None,
    new_policy: Policy,
    approvals: list[AgreementApproval],
    now: datetime,
) -> None:
    """Queue "The agreement vN is in effect" with its change list, and a refresh of every
    App Home the bot has published, in the caller's transaction (so they exist exactly when
    the version is active). A proposal changes no Home: the Home shows the version in force."""
    t = services.t
    changes = [] if old_policy is None else [
        c for c in agreement_changes(old_policy, new_policy) if not c.operational]
    notice = InEffectNotice(
        number=version.number,
        previous=previous.number if previous is not None else None,
        effective_at=version.effective_at or now,
        changes=tuple(describe_changes(changes, t)),
        marketing_approvers=tuple(a.user_id for a in approvals if a.side == "marketing"),
        sales_approvers=tuple(a.user_id for a in approvals if a.side == "sales"),
        note=version.note,
    )
    message = in_effect_message(notice, t, new_policy.tz)
    for channel in notice_channels(new_policy):
        uow.outbox.enqueue(
            key=in_effect_key(version.number, channel), kind=OutboxKind.MESSAGE, now=now,
            channel=channel,
            payload={"method": "chat.postMessage", "args": {"channel": channel, **message}},
        )
    # the Homes' "Agreement vN since …" line, rendered when each refresh is sent
    refresh_every_home(services, uow, f"agreement:v{version.number}:in-effect")


def activate_due(services: Services, now: datetime) -> int | None:
    """Activate the version whose time has come, once across processes; its number, or None
    when nothing was due (the usual case: one small read, no lock)."""
    with services.unit_of_work() as uow:
        if uow.agreements.due_for_activation(now) is None:
            return None
        uow.agreements.lock()
        version = uow.agreements.due_for_activation(now)  # again: another process may have won
        if version is None:
            return None
        active = uow.agreements.active()
        old_policy = (policy_with_agreement(services.policy, active.policy_text)
                      if active is not None else None)
        new_policy = policy_with_agreement(services.policy, version.policy_text)
        if active is not None:
            active.status = AgreementStatus.SUPERSEDED
        version.status = AgreementStatus.ACTIVE
        queue_in_effect(uow, services, version, previous=active, old_policy=old_policy,
                        new_policy=new_policy, approvals=uow.agreements.approvals(version.id),
                        now=now)
        number, previous = version.number, active.number if active is not None else None
        uow.commit()
    services.outbox_ready.set()
    log.info("agreement v%d approved by both sides and now active (v%s superseded)",
             number, previous if previous is not None else "-")
    return number


def follow_active(services: Services) -> bool:
    """Run the active version if this process runs another one; True when it switched."""
    with services.unit_of_work() as uow:
        number = uow.agreements.active_number()
        if number is None or number == services.agreement_version:
            return False
        version = uow.agreements.by_number(number)
        assert version is not None  # versions are never deleted
        text = version.policy_text
    previous = services.agreement_version
    services.policy = policy_with_agreement(services.policy, text)
    services.agreement_version = number
    replanned = recompute_all(services)
    log.info("agreement v%d in effect in this process (was v%s): %d lead(s) re-planned",
             number, previous if previous is not None else "-", replanned)
    return True


def activation_step(services: Services, now: datetime) -> None:
    """Sweep step, first of all: activate what is due, then run the active version."""
    activate_due(services, now)
    follow_active(services)
