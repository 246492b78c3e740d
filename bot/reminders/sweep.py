"""The reminder sweep: send what the reminder plan says is due, once (SPEC 5).

Each lead stores the next instant it needs attention (``next_due_at``, indexed); every
transition sets it to "now" (``bot.lifecycle.apply``), so "what is due" is one range scan
however many leads are stored. A pass claims due leads (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several processes never handle one lead together; SQLite has one writer),
derives the lead's notices from its state (``bot.reminders.plan.plan``), records each handled one in
``lead_notices`` (unique per lead and key: the exactly-once guarantee), queues the messages in
the outbox in the same transaction, and stores the lead's next instant.

A notice queued and then made moot before Slack took it (the rep logged the touch meanwhile)
is dropped by the outbox worker, which asks ``still_owed`` right before sending.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.autoassign import pick_assignee
from bot.cards import notice_lead
from bot.errors import NotAllowed, NotFound, NothingToSnooze, SnoozeRefused
from bot.event_kind import Fact
from bot.i18n import Translator, format_datetime
from bot.lifecycle import Surface, record
from bot.policy import Policy
from bot.reminders.plan import (
    Audience,
    LeadClocks,
    Notice,
    NoticeKind,
    Promise,
    Snooze,
    due_now,
    plan,
)
from bot.services import Services
from bot.views.notice import (
    breach_message,
    late_handoff_message,
    reminder_message,
    unclaimed_nudge,
)
from bot.workflow import assign_automatically
from storage.models import Lead, LeadStatus
from storage.outbox_kind import OutboxKind
from storage.unit_of_work import UnitOfWork

__all__ = [
    "SweepResult",
    "clocks_of",
    "recompute_all",
    "snooze",
    "still_owed",
    "sweep_notices",
]

log = logging.getLogger(__name__)

BATCH = 200
#: leads re-planned per transaction at start (``recompute_all``)
RECOMPUTE_BATCH = 1000
#: a notice handled this long after its planned instant is marked late (the bot was down)
LATE_AFTER = timedelta(minutes=2)


@dataclass
class SweepResult:
    leads: int = 0
    sent: int = 0
    skipped: int = 0
    breaches: int = 0
    assigned: int = 0


@dataclass
class _Batch:
    """What one batch of leads writes, sent as a few set-based statements before the commit
    (row-by-row ORM writes with a savepoint per message made a sweep ~10x slower)."""

    outbox: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    next_due: dict[int, datetime | None] = field(default_factory=dict)
    #: the earliest deadline breached in this batch, per lead (``leads.first_breach_at``)
    first_breach: dict[int, datetime] = field(default_factory=dict)

    def write(self, uow: UnitOfWork, now: datetime) -> None:
        uow.outbox.enqueue_many(self.outbox, now)
        uow.notices.write(self.notices, self.events, self.next_due, self.first_breach)


def clocks_of(lead: Lead, snoozes: tuple[Snooze, ...] = ()) -> LeadClocks:
    return LeadClocks(
        status=lead.status,
        qualified_at=lead.qualified_at,
        posted_at=lead.posted_at,
        owner_id=lead.owner_id,
        first_touch_at=lead.first_touch_at,
        last_touch_at=lead.last_touch_at or lead.first_touch_at,
        touch_count=lead.touch_count or 0,
        decided_at=lead.decided_at,
        tier=lead.tier,
        snoozes=snoozes,
    )


def sweep_notices(services: Services, now: datetime | None = None) -> SweepResult:
    """One pass over every lead that is due at ``now``; safe to run in several processes."""
    now = now or services.clock.now()
    result = SweepResult()
    while not services.stopping.is_set():  # a stopping process leaves the rest to the next
        _warm_away_cache(services, now)
        with services.unit_of_work() as uow:
            leads = uow.notices.due_leads(now, BATCH)
            if not leads:
                break
            ids = [lead.id for lead in leads]
            handled = uow.notices.handled(ids)
            snoozes = _snoozes(uow, ids)
            batch = _Batch()
            for lead in leads:
                _handle(services, uow, lead, now, handled.get(lead.id, set()),
                        snoozes.get(lead.id, ()), result, batch)
            batch.write(uow, now)
            result.leads += len(leads)
            uow.commit()
        if result.sent or result.breaches or result.assigned:
            services.outbox_ready.set()
        if len(leads) < BATCH:
            break
    return result


def still_owed(policy: Policy, uow: UnitOfWork, lead_id: int, key: str) -> bool:
    """Whether notice ``key`` is still in the lead's plan (asked right before sending it)."""
    lead = uow.leads.get(lead_id)
    if lead is None:
        return False
    snoozes = _snoozes(uow, [lead_id]).get(lead_id, ())
    return any(n.key == key for n in plan(clocks_of(lead, snoozes), policy))


def snooze(
    services: Services, lead_id: int, user_id: str, clock: Promise, minutes: int
) -> datetime:
    """Remind the owner about ``clock`` again in ``minutes``; never at or past its deadline.

    Only the owner or a manager may; the snooze is an event, so the plan (and so the sweep)
    sees it like any other fact about the lead. Returns the new reminder instant.
    """
    is_manager = services.directory.has_role(user_id, "managers")  # may ask Slack: before locks
    now = services.clock.now()
    with services.unit_of_work() as uow:
        lead = uow.leads.get_for_update(lead_id)
        if lead is None:
            raise NotFound(f"lead {lead_id}")
        if lead.owner_id != user_id and not is_manager:
            raise NotAllowed(f"{user_id} may not snooze reminders of lead {lead_id}")
        notices = plan(clocks_of(lead, _snoozes(uow, [lead_id]).get(lead_id, ())),
                       services.policy)
        deadlines = [n.deadline for n in notices
                     if n.clock == clock and n.kind == NoticeKind.REMINDER and n.deadline > now]
        if not deadlines:
            raise NothingToSnooze(f"lead {lead_id} has no pending {clock.value} deadline")
        deadline = min(deadlines)
        until = now + timedelta(minutes=minutes)
        if until >= deadline:
            due = format_datetime(deadline, services.t.language, services.policy.tz)
            raise SnoozeRefused(f"{clock.value} is due before the snooze ends", due=due)
        record(lead, Fact.SNOOZE, at=now, surface=Surface.BUTTON, actor=user_id,
               data={"clock": clock.value, "until": until.isoformat()})
        if lead.next_due_at is None or until < lead.next_due_at:
            lead.next_due_at = until
        uow.commit()
    return until


def recompute_all(services: Services) -> int:
    """Re-derive ``next_due_at`` of every lead that may owe something, e.g. after a policy or
    calendar change; returns how many leads' next instant changed.

    Runs at every start, over every open lead: it walks them in id order, ``RECOMPUTE_BATCH``
    at a time, each batch its own short transaction, so memory stays flat however many leads
    are stored and no lock is held for long. On PostgreSQL a batch's rows are locked while they
    are re-planned, so a transition committed meanwhile in another process is never overwritten
    by an instant planned from the state before it.
    """
    changed, after = 0, 0
    may_owe = Lead.status.in_(
        [LeadStatus.QUEUED, LeadStatus.POSTED, LeadStatus.CLAIMED, LeadStatus.WORKING]
    ) | Lead.next_due_at.is_not(None)
    while not services.stopping.is_set():
        with services.unit_of_work() as uow:
            leads = uow.leads.batch_after(may_owe, after, RECOMPUTE_BATCH, lock=True)
            if not leads:
                break
            ids = [lead.id for lead in leads]
            handled = uow.notices.handled(ids)
            snoozes = _snoozes(uow, ids)
            for lead in leads:
                notices = plan(clocks_of(lead, snoozes.get(lead.id, ())), services.policy)
                due = _next_instant(notices, handled.get(lead.id, set()))
                if due != lead.next_due_at:
                    lead.next_due_at = due
                    changed += 1
            uow.commit()
        after = ids[-1]
        if len(leads) < RECOMPUTE_BATCH:
            break
    return changed


# ------------------------------------------------------------------------------ one lead


def _handle(
    services: Services,
    uow: UnitOfWork,
    lead: Lead,
    now: datetime,
    handled: set[str],
    snoozes: tuple[Snooze, ...],
    result: SweepResult,
    batch: _Batch,
) -> None:
    notices = plan(clocks_of(lead, snoozes), services.policy)
    send, skip = due_now(notices, now, handled)
    for notice in skip:
        _mark(batch, lead, notice, now, "skipped")
        handled.add(notice.key)
        result.skipped += 1
    for notice in send:
        if notice.kind == NoticeKind.ASSIGN:
            _mark(batch, lead, notice, now, "sent", late=now - notice.send_at > LATE_AFTER)
            handled.add(notice.key)
            assignee = pick_assignee(services.directory, services.policy, uow, now)
            if assignee is None:
                log.warning("lead %s: nobody can be assigned (all away or at their cap)", lead.id)
            elif assign_automatically(services, uow, lead, assignee, now):
                result.assigned += 1
                batch.next_due[lead.id] = now  # re-planned with its owner by the next pass
                return
            continue
        late = now - notice.send_at > LATE_AFTER
        _mark(batch, lead, notice, now, "sent", late=late)
        handled.add(notice.key)
        if notice.kind == NoticeKind.BREACH:
            batch.events.append({  # a fact, as ``bot.lifecycle.record`` writes it
                "lead_id": lead.id, "at": notice.deadline, "kind": Fact.BREACH.value,
                "from_status": None, "to_status": None, "actor": None,
                "surface": Surface.SCHEDULER.value, "data": {
                    "promise": notice.clock.value,
                    "deadline": notice.deadline.isoformat(),
                    "lateness_seconds": _lateness(lead, notice, now),
                },
            })
            earliest = batch.first_breach.get(lead.id)
            if earliest is None or notice.deadline < earliest:
                batch.first_breach[lead.id] = notice.deadline
            result.breaches += 1
        else:
            result.sent += 1
        _deliver(services, lead, notice, now, late, batch)
    due = _next_instant(notices, handled)
    if due != lead.next_due_at:
        batch.next_due[lead.id] = due


def _lateness(lead: Lead, notice: Notice, now: datetime) -> int:
    """How late the promise was kept, or, while it is still not kept, how late it is now."""
    kept = {
        Promise.HANDOFF: lead.posted_at,
        Promise.FIRST_CONTACT: lead.first_touch_at or lead.decided_at,
        Promise.DECISION: lead.decided_at,
    }.get(notice.clock)
    return int(((kept or now) - notice.deadline).total_seconds())


def _next_instant(notices: list[Notice], handled: set[str]) -> datetime | None:
    pending = [n.send_at for n in notices if n.key not in handled]
    return min(pending) if pending else None


def _mark(
    batch: _Batch, lead: Lead, notice: Notice, now: datetime, outcome: str, late: bool = True
) -> None:
    batch.notices.append({
        "lead_id": lead.id, "key": notice.key, "clock": notice.clock.value,
        "kind": notice.kind.value, "deadline": notice.deadline, "planned_at": notice.send_at,
        "handled_at": now, "outcome": outcome, "late": late,
    })


def _deliver(
    services: Services, lead: Lead, notice: Notice, now: datetime, late: bool, batch: _Batch
) -> None:
    """Queue the notice for each of its audiences, keyed by (lead, notice, audience)."""
    t, policy = services.t, services.policy
    prefix = f"notice:{lead.id}:{notice.key}"
    marker = {"notice": {"lead_id": lead.id, "key": notice.key}}
    owner = lead.owner_id if lead.status in (LeadStatus.CLAIMED, LeadStatus.WORKING) else None
    owner_away = owner is not None and services.directory.is_away(owner, cached_only=True)
    shown = notice_lead(lead)
    for audience in notice.audiences:
        if audience == Audience.MARKETING:
            view = late_handoff_message(notice, shown, policy, now, t)
            args = {"channel": policy.channels.marketing_feedback, **view}
            _queue(batch, lead, f"{prefix}:marketing", "chat.postMessage", args, marker)
        elif audience == Audience.MANAGERS:
            view = breach_message(notice, shown, policy, now, t, for_manager=True)
            for manager in sorted(services.directory.members("managers")):
                args = {"channel": manager, **view}
                _queue(batch, lead, f"{prefix}:manager:{manager}", "chat.postMessage",
                       args, marker)
        elif audience == Audience.OWNER and owner and not owner_away:
            if notice.kind == NoticeKind.BREACH:
                view = breach_message(notice, shown, policy, now, t, for_manager=False)
            else:
                view = reminder_message(notice, shown, policy, now, t, late=late)
            args = {"channel": owner, **view}
            _queue(batch, lead, f"{prefix}:owner", "chat.postMessage", args, marker)
    _thread_note(policy, t, lead, notice, now, late, owner, owner_away, prefix, batch)


def _thread_note(
    policy: Policy,
    t: Translator,
    lead: Lead,
    notice: Notice,
    now: datetime,
    late: bool,
    owner: str | None,
    owner_away: bool,
    prefix: str,
    batch: _Batch,
) -> None:
    """Every reminder and breach is also a short reply in the lead's thread (the lead's story);
    while nobody (present) owns the lead, the thread is where the reminder itself goes."""
    if not (lead.channel_id and lead.message_ts) or notice.clock == Promise.HANDOFF:
        return
    shown = notice_lead(lead)
    if notice.kind == NoticeKind.BREACH:
        text = breach_message(notice, shown, policy, now, t, for_manager=False)["text"]
    elif notice.clock == Promise.CLAIM:
        text = unclaimed_nudge(notice, shown, policy, t)
    elif owner and not owner_away:
        text = t("notice.extra.sent_to_owner", owner=f"<@{owner}>",
                 what=t(f"notice.clock.{notice.clock.value}"),
                 due=format_datetime(notice.deadline, t.language, policy.tz))
    else:
        text = reminder_message(notice, shown, policy, now, t, late=late)["text"]
    args: dict[str, Any] = {"channel": lead.channel_id, "thread_ts": lead.message_ts,
                            "text": text}
    _queue(batch, lead, f"{prefix}:thread", "chat.postMessage", args,
           {"notice": {"lead_id": lead.id, "key": notice.key}})


def _queue(
    batch: _Batch,
    lead: Lead,
    key: str,
    method: str,
    args: dict[str, Any],
    marker: dict[str, Any],
) -> None:
    """A Slack call in the batch, with the marker the worker uses to drop a moot reminder."""
    batch.outbox.append({
        "key": key, "kind": OutboxKind.MESSAGE, "lead_id": lead.id, "channel": str(args["channel"]),
        "payload": {"method": method, "args": args, **marker},
    })


# ------------------------------------------------------------------------------ loading


def _snoozes(uow: UnitOfWork, ids: list[int]) -> dict[int, tuple[Snooze, ...]]:
    found: dict[int, list[Snooze]] = {}
    if not ids:
        return {}
    for event in uow.events.of_kind(ids, Fact.SNOOZE):
        try:
            until = datetime.fromisoformat(event.data["until"])
            snooze = Snooze(Promise(event.data["clock"]), until)
        except (KeyError, ValueError, TypeError):
            continue
        found.setdefault(event.lead_id, []).append(snooze)
    return {lead_id: tuple(items) for lead_id, items in found.items()}


def _warm_away_cache(services: Services, now: datetime) -> None:
    """Look up whether the owners of due leads are out of office *before* any row lock: it may
    ask Slack, and a lock held across a network call stalls every other writer."""
    with services.unit_of_work() as uow:
        owners = uow.notices.due_owners(now, BATCH)
        uow.rollback()
    people = {o for o in owners if o}
    if services.policy.auto_assign.enabled:
        people |= services.directory.members("reps")
    services.directory.refresh_away(people)
