"""When each promise of the agreement falls due for one lead (SPEC sections 1 and 5).

Deadlines are derived from lead state plus the policy every time they are needed, never
stored or kept in timers, so a changed policy or a restart cannot leave a stale deadline
behind. Marketing's hand-off clock counts calendar hours, sales' first-contact clock counts
business hours, and the decision clock counts calendar days in the company's time zone.
Results are in the policy's time zone, ready to show.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.policy import Policy
from storage.models import Lead

__all__ = [
    "decision_due",
    "decision_due_from",
    "first_contact_due",
    "first_contact_due_from",
    "first_contact_target_hours",
    "follow_up_due",
    "handoff_due",
    "handoff_due_from",
    "handoff_lateness",
]


def handoff_due_from(qualified_at: datetime, policy: Policy) -> datetime:
    """Marketing's deadline for a lead qualified at ``qualified_at``: the agreed calendar hours."""
    due = qualified_at + timedelta(hours=policy.agreement.handoff_within_hours)
    return due.astimezone(policy.tz)


def handoff_due(lead: Lead, policy: Policy) -> datetime:
    """Marketing's deadline: ``qualified_at`` plus the agreed calendar hours."""
    return handoff_due_from(lead.qualified_at, policy)


def handoff_lateness(lead: Lead, policy: Policy) -> timedelta | None:
    """How late the hand-off was; None when on time or not handed off yet."""
    if lead.posted_at is None:
        return None
    late = lead.posted_at - handoff_due(lead, policy)
    return late if late > timedelta(0) else None


class Tiered(Protocol):
    """Anything that knows its priority tier: a ``Lead``, or a lead's clock snapshot."""

    @property
    def tier(self) -> str | None: ...


def first_contact_target_hours(lead: Tiered, policy: Policy) -> float:
    """The lead's tier target while that tier is still configured, else the agreement's.

    Looked up by name at every use: a tier removed from the policy must not keep
    shortening the clock of leads judged under it.
    """
    if lead.tier:
        for tier in policy.tiers:
            if tier.name == lead.tier:
                return tier.first_contact_business_hours
    return policy.agreement.first_contact_business_hours


def first_contact_due_from(posted_at: datetime, lead: Tiered, policy: Policy) -> datetime:
    """First-contact deadline if the lead was (or will be) handed off at ``posted_at``."""
    hours = first_contact_target_hours(lead, policy)
    return policy.business_calendar.add(posted_at, timedelta(hours=hours))


def first_contact_due(lead: Lead, policy: Policy) -> datetime | None:
    """Sales' first-contact deadline in business hours; None until handed off."""
    if lead.posted_at is None:
        return None
    return first_contact_due_from(lead.posted_at, lead, policy)


def decision_due_from(posted_at: datetime, policy: Policy) -> datetime:
    """Decision deadline for a hand-off at ``posted_at``: N calendar days, same wall time.

    Added in local wall time (not 24 h multiples) so "a week after Tuesday 10:30" stays
    Tuesday 10:30 across a DST switch; the round trip through UTC settles a wall time that
    does not exist onto the real instant after the gap.
    """
    local = posted_at.astimezone(policy.tz)
    due = local + timedelta(days=policy.agreement.decision_days)
    return due.astimezone(UTC).astimezone(policy.tz)


def decision_due(lead: Lead, policy: Policy) -> datetime | None:
    """Sales' decision deadline (SQL or recycle); None until handed off."""
    if lead.posted_at is None:
        return None
    return decision_due_from(lead.posted_at, policy)


def follow_up_due(lead: Lead, policy: Policy) -> datetime | None:
    """When the next follow-up touch is owed: the agreed business hours after the last touch,
    while fewer than ``min_touches`` are logged (the same instant the follow-up reminder
    plans for); None before the first touch and once the minimum is reached."""
    if lead.last_touch_at is None or (lead.touch_count or 0) >= policy.agreement.min_touches:
        return None
    every = timedelta(hours=policy.agreement.follow_up_every_business_hours)
    return policy.business_calendar.add(lead.last_touch_at, every)
