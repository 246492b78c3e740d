"""The reminder plan: every notice one lead's promises owe, derived from its state (SPEC 5).

``plan`` is a pure function of a lead's clock-relevant facts, the policy and its calendar. It
lists *all* notices of the lead — past and future, reminders before each deadline and breach
notices after — each with a stable key (lead, clock, step, deadline instant). The sweep sends
what is due and not yet handled; nothing is kept in timers, so a restart, a policy change or a
second process cannot leave a stale or doubled reminder behind.

A notice that became moot (the touch was logged, the lead was decided) is simply no longer in
the plan. A breach stays in the plan once it happened (a touch after the deadline does not undo
it), so it is recorded and notified once even when the bot was down at the time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.calendar import BusinessCalendar
from bot.deadlines import decision_due_from, first_contact_due_from, handoff_due_from
from bot.lifecycle import OPEN, OWNED
from bot.policy import Policy
from storage.models import LeadStatus

__all__ = [
    "Audience",
    "LeadClocks",
    "Notice",
    "NoticeKind",
    "Promise",
    "Snooze",
    "due_now",
    "plan",
]


class Promise(StrEnum):
    """One promise of the agreement, whose clock runs on a lead (not the time source,
    ``bot.clock.Clock``). The values are stored in snooze events and button values."""

    HANDOFF = "handoff"  # marketing: hand off within 24 h of qualifying
    CLAIM = "claim"  # somebody should take the lead (channel nudge)
    FIRST_CONTACT = "first_contact"
    FOLLOW_UP = "follow_up"
    DECISION = "decision"


class NoticeKind(StrEnum):
    REMINDER = "reminder"  # before a deadline: the owner can still keep the promise
    BREACH = "breach"  # the deadline lapsed: recorded once, owner and manager told once
    ASSIGN = "assign"  # still unclaimed part-way through the window: assign a rep (optional)


class Audience(StrEnum):
    OWNER = "owner"  # the owner by DM; the channel thread while nobody owns the lead
    CHANNEL = "channel"  # the handoff message's thread
    MANAGERS = "managers"  # escalation by DM
    MARKETING = "marketing"  # the marketing feedback channel


@dataclass(frozen=True)
class Snooze:
    """A rep asked to be reminded again later about one clock (never past its deadline)."""

    clock: Promise
    until: datetime


@dataclass(frozen=True)
class LeadClocks:
    """What the plan needs to know about one lead (loadable without the whole row graph)."""

    status: LeadStatus
    qualified_at: datetime
    posted_at: datetime | None
    owner_id: str | None
    first_touch_at: datetime | None
    last_touch_at: datetime | None
    touch_count: int
    decided_at: datetime | None
    tier: str | None = None
    snoozes: tuple[Snooze, ...] = field(default=())


@dataclass(frozen=True)
class Notice:
    clock: Promise
    kind: NoticeKind
    #: the promise's instant: the deadline a reminder warns about, the one a breach lapsed
    deadline: datetime
    #: when it should reach people (quiet hours applied)
    send_at: datetime
    #: what in the ladder this is: "30m", "50%", "1d", "due", "snooze-<iso>"...
    step: str
    audiences: tuple[Audience, ...]

    @property
    def key(self) -> str:
        """Stable identity: lead-independent part of the idempotency key."""
        return f"{self.clock}:{self.kind}:{self.step}:{self.deadline.strftime('%Y%m%dT%H%M%SZ')}"


def plan(
    lead: LeadClocks, policy: Policy, calendar: BusinessCalendar | None = None
) -> list[Notice]:
    """Every notice ``lead`` owes under ``policy``, ordered by ``send_at``."""
    cal = calendar or policy.business_calendar
    notices: list[Notice] = []
    notices += _handoff(lead, policy, cal)
    if lead.posted_at is not None:
        notices += _claim(lead, policy, cal)
        notices += _first_contact(lead, policy, cal)
        notices += _follow_up(lead, policy, cal)
        notices += _decision(lead, policy, cal)
    notices.sort(key=lambda n: (n.send_at, n.clock, n.kind))
    return notices


def due_now(
    notices: Iterable[Notice], now: datetime, handled: set[str]
) -> tuple[list[Notice], list[Notice]]:
    """What to send now and what to skip: per clock only the latest due reminder is sent.

    After downtime several notices of one clock can be due at once. The latest reminder
    supersedes earlier ones, and a due breach supersedes every reminder of its clock (warning
    about a deadline that already lapsed helps nobody); the superseded are returned to be
    recorded as skipped. Breach notices and assignments are never skipped.
    """
    due = [n for n in notices if n.send_at <= now and n.key not in handled]
    breached = {n.clock for n in due if n.kind == NoticeKind.BREACH}
    latest: dict[Promise, Notice] = {}
    for notice in due:
        if notice.kind == NoticeKind.REMINDER and notice.clock not in breached:
            best = latest.get(notice.clock)
            if best is None or (notice.send_at, notice.deadline) >= (best.send_at, best.deadline):
                latest[notice.clock] = notice
    send = [n for n in due if n.kind != NoticeKind.REMINDER or latest.get(n.clock) is n]
    skip = [n for n in due if n.kind == NoticeKind.REMINDER and latest.get(n.clock) is not n]
    return send, skip


# ------------------------------------------------------------------------------ clocks


def _handoff(lead: LeadClocks, policy: Policy, cal: BusinessCalendar) -> list[Notice]:
    due = _handoff_due(lead, policy)
    handed = lead.posted_at
    if lead.status in (LeadStatus.RECEIVED, LeadStatus.NOT_QUALIFIED):
        return []
    if handed is not None and handed <= due:
        return []
    if not policy.reminders.notify_marketing_on_late_handoff:
        audiences: tuple[Audience, ...] = ()
    else:
        audiences = (Audience.MARKETING,)
    return [_breach(Promise.HANDOFF, due, audiences, policy, cal)]


def _claim(lead: LeadClocks, policy: Policy, cal: BusinessCalendar) -> list[Notice]:
    if lead.status != LeadStatus.POSTED or lead.owner_id is not None:
        return []
    assert lead.posted_at is not None
    wait = timedelta(minutes=policy.reminders.unclaimed_after_business_minutes)
    at = cal.add(lead.posted_at, wait)
    deadline = first_contact_due_from(lead.posted_at, lead, policy)
    notices = [] if at >= deadline else [
        Notice(Promise.CLAIM, NoticeKind.REMINDER, deadline, at, "unclaimed", (Audience.CHANNEL,))
    ]
    if policy.auto_assign.enabled:
        window = cal.between(lead.posted_at, deadline)
        assign_at = cal.add(lead.posted_at, window * policy.auto_assign.after_fraction)
        notices.append(Notice(Promise.CLAIM, NoticeKind.ASSIGN, deadline, assign_at, "assign", ()))
    return notices


def _first_contact(lead: LeadClocks, policy: Policy, cal: BusinessCalendar) -> list[Notice]:
    assert lead.posted_at is not None
    deadline = first_contact_due_from(lead.posted_at, lead, policy)
    contacted = lead.first_touch_at
    notices: list[Notice] = []
    if contacted is None and lead.status in OPEN:
        for minutes in sorted(set(policy.reminders.first_contact_before_minutes), reverse=True):
            at = deadline - timedelta(minutes=minutes)
            if at <= lead.posted_at:
                continue
            notices.append(_reminder(Promise.FIRST_CONTACT, deadline, at, f"{minutes}m", lead,
                                     policy, cal))
        window = cal.between(lead.posted_at, deadline)
        for percent in sorted(set(policy.reminders.first_contact_at_percent)):
            at = cal.add(lead.posted_at, window * percent / 100)
            notices.append(_reminder(Promise.FIRST_CONTACT, deadline, at, f"{percent}%", lead,
                                     policy, cal))
        notices += _snoozed(Promise.FIRST_CONTACT, deadline, lead, policy, cal)
    ended = contacted or lead.decided_at
    if ended is None or ended > deadline:
        if ended is None and lead.status not in OPEN:
            return notices  # decided leads without a decision time: nothing to say
        notices.append(_breach(Promise.FIRST_CONTACT, deadline, _escalation(policy), policy, cal))
    return notices


def _follow_up(lead: LeadClocks, policy: Policy, cal: BusinessCalendar) -> list[Notice]:
    if (
        not policy.reminders.follow_up_reminders
        or lead.status not in OWNED
        or lead.last_touch_at is None
        or lead.touch_count >= policy.agreement.min_touches
    ):
        return []
    every = timedelta(hours=policy.agreement.follow_up_every_business_hours)
    due = cal.add(lead.last_touch_at, every)
    step = f"touch{lead.touch_count + 1}"
    return [
        _reminder(Promise.FOLLOW_UP, due, due, step, lead, policy, cal),
        *_snoozed(Promise.FOLLOW_UP, due, lead, policy, cal),
    ]


def _decision(lead: LeadClocks, policy: Policy, cal: BusinessCalendar) -> list[Notice]:
    assert lead.posted_at is not None
    deadline = decision_due_from(lead.posted_at, policy)
    notices: list[Notice] = []
    if lead.status in OPEN:
        days = policy.reminders.decision_before_business_days
        if days:
            at = cal.add(deadline, -days * _business_day(cal))
            if at > lead.posted_at:
                notices.append(_reminder(Promise.DECISION, deadline, at, f"{days}d", lead,
                                         policy, cal))
        notices += _snoozed(Promise.DECISION, deadline, lead, policy, cal)
    if lead.decided_at is None and lead.status not in OPEN:
        return notices
    if lead.decided_at is None or lead.decided_at > deadline:
        notices.append(_breach(Promise.DECISION, deadline, _escalation(policy), policy, cal))
    return notices


# ------------------------------------------------------------------------------ helpers


def _reminder(
    clock: Promise,
    deadline: datetime,
    at: datetime,
    step: str,
    lead: LeadClocks,
    policy: Policy,
    cal: BusinessCalendar,
) -> Notice:
    send_at = _quiet(at, deadline, lead.posted_at or at, policy, cal)
    return Notice(clock, NoticeKind.REMINDER, deadline, send_at, step, (Audience.OWNER,))


def _snoozed(
    clock: Promise, deadline: datetime, lead: LeadClocks, policy: Policy, cal: BusinessCalendar
) -> list[Notice]:
    """A snooze is a reminder of its own at the chosen time, never later than the deadline."""
    return [
        Notice(clock, NoticeKind.REMINDER, deadline, min(s.until, deadline),
               f"snooze-{s.until.strftime('%Y%m%dT%H%M%SZ')}", (Audience.OWNER,))
        for s in lead.snoozes
        if s.clock == clock
    ]


def _breach(
    clock: Promise,
    deadline: datetime,
    audiences: tuple[Audience, ...],
    policy: Policy,
    cal: BusinessCalendar,
) -> Notice:
    """Recorded at the deadline itself; people hear about it in business hours."""
    send_at = deadline
    if policy.reminders.quiet_hours and not cal.is_open(deadline):
        send_at = cal.next_open(deadline)
    return Notice(clock, NoticeKind.BREACH, deadline, send_at, "due", audiences)


def _escalation(policy: Policy) -> tuple[Audience, ...]:
    if policy.reminders.escalate_to_managers:
        return (Audience.OWNER, Audience.MANAGERS)
    return (Audience.OWNER,)


def _quiet(
    at: datetime, deadline: datetime, not_before: datetime, policy: Policy, cal: BusinessCalendar
) -> datetime:
    """Outside business hours a reminder waits for the next opening — unless the deadline comes
    first; then it goes in the last business minute before ``at`` (if the lead existed then)."""
    if not policy.reminders.quiet_hours or cal.is_open(at):
        return at
    opening = cal.next_open(at)
    if opening <= deadline:
        return opening
    last_minute = cal.previous_close(at) - timedelta(minutes=1)
    return last_minute if last_minute > not_before else at


def _business_day(cal: BusinessCalendar) -> timedelta:
    """The length of one full business day (all shifts), for "N business days before"."""
    total = timedelta(0)
    for shift in cal.shifts:
        total += datetime.combine(datetime.min, shift.end) - datetime.combine(
            datetime.min, shift.start
        )
    return total


def _handoff_due(lead: LeadClocks, policy: Policy) -> datetime:
    return handoff_due_from(lead.qualified_at, policy)
