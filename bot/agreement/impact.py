"""What a proposed agreement would have done to last month's leads (SPEC 9 "Proposing").

People judge a change by its effect, not by its numbers: "3 of last month's 120 leads would
not have qualified, 14 first contacts would have been late instead of 10". The leads are
replayed with the same pure code the bot runs and ``sla-bot preview`` shows — the MQL
definition (``bot.definition.evaluate``, at each lead's own qualifying instant) and the
first-contact deadline (``bot.deadlines.first_contact_due_from``, under the tier the proposal
would give) — so the figures cannot drift from what the proposal would enforce.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.deadlines import first_contact_due_from
from bot.definition import evaluate
from bot.policy import Policy
from bot.reporting.periods import Period, month
from storage.unit_of_work import UnitOfWork

__all__ = ["Impact", "last_month", "replay_month"]


@dataclass(frozen=True)
class Impact:
    """Last month's leads under the agreement in force and under the proposal."""

    month: str
    #: leads that qualified last month, and how many of them the proposal would refuse
    qualified: int
    not_qualified: int
    #: leads handed off last month that the proposal still qualifies, and how many of their
    #: first contacts were late under the agreement in force / would be under the proposal
    handed_off: int
    late_now: int
    late_proposed: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Impact:
        return cls(month=str(data["month"]), **{k: int(data[k]) for k in (
            "qualified", "not_qualified", "handed_off", "late_now", "late_proposed")})


def last_month(now: datetime, policy: Policy) -> Period:
    """The calendar month before ``now``'s, in the policy's time zone."""
    first = now.astimezone(policy.tz).date().replace(day=1) - timedelta(days=1)
    return month(first.year, first.month, policy.tz)


def replay_month(uow: UnitOfWork, current: Policy, proposed: Policy, now: datetime) -> Impact:
    """Replay the leads received last month under both policies (one read, in ``uow``)."""
    period = last_month(now, current)
    leads = uow.leads.received_between(period.start, period.end)
    not_qualified = handed_off = late_now = late_proposed = 0
    for lead in leads:
        verdict = evaluate(lead, proposed, lead.qualified_at)
        if not verdict.qualified:
            not_qualified += 1
            continue
        if lead.posted_at is None:
            continue
        handed_off += 1
        contact = lead.first_touch_at or now
        if contact > first_contact_due_from(lead.posted_at, lead, current):
            late_now += 1
        if contact > first_contact_due_from(lead.posted_at, verdict, proposed):
            late_proposed += 1
    return Impact(period.label, len(leads), not_qualified, handed_off, late_now, late_proposed)
