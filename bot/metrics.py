"""How both sides are doing against the agreement, for any period and optionally one rep.

Every figure is defined ONCE here and read by ``/sla-status``, the weekly digest and the
monthly review. Counts and rates are SQL aggregates over ``leads`` (one grouped query, never
every lead loaded into Python). The exception is business-time durations (time to claim, time
to first contact): business minutes need the calendar (holidays, closures, DST), so the
``(start, end)`` instants of the period's handed-off leads are fetched in ONE query — bounded
by the leads handed off in the period — and measured in Python.

Definitions (``P`` is the period ``[start, end)``; "now" is the clock when the report is made):

- handed off (MQLs): ``posted_at`` in P; a rep's figures: those leads the rep owns now.
- MQL target: ``mql_monthly_target`` × the elapsed fraction of each month P covers (up to now).
- not qualified: ``received_at`` in P and status ``not_qualified``.
- handoff within N h: handed off in P with ``posted_at ≤ qualified_at + handoff_within_hours``.
- behaviour history: handed off in P with ≥ 1 activity row.
- time to claim: business minutes from ``posted_at`` to the lead's first ``claim`` event
  (a button press or auto-assignment), for leads handed off in P that were ever claimed.
- time to first contact: business minutes from ``posted_at`` to ``first_touch_at``.
- first contact within target: of the leads handed off in P whose first-contact clock is
  settled (touched, decided, or past the deadline now), those touched — or, untouched, decided —
  by the deadline (business hours of their tier, as ``bot.deadlines``). Same rule as the
  breach notices.
- decided: ``decided_at`` in P (converted or recycled); touches per lead is the mean
  ``touch_count`` of those; recycles under ``min_touches`` counts recycled ones below it.
- decision within N days: of the leads handed off in P that are decided or past
  ``posted_at + decision_days × 24 h`` now, those decided by then. (Counted in 24 h days: a
  DST switch inside the week moves this boundary by an hour, unlike the reminder's wall-time
  deadline.)
- MQL→SQL rate (the one shown): converted / decided, both by ``decided_at`` in P. Also kept:
  converted / handed off for the cohort handed off in P (``cohort_converted``).
- recycle reasons: recycled leads decided in P, counted by ``decision_reason``.
- open breaches: leads open now (posted, claimed, working) with ≥ 1 ``breach`` event; not
  limited to P.

API (stable; the digest and the review import it):

- ``Scorecard`` — the figures of one period (team or one rep), rates as properties.
- ``Durations`` — count, median and p90 of business minutes.
- ``scorecard(source, policy, period, rep=None, *, now=None) -> Scorecard``
- ``per_rep(source, policy, period, *, now=None) -> dict[str, Scorecard]`` (owners only)
- ``recycle_reasons(source, policy, period, rep=None) -> list[tuple[str, int]]``
- ``open_breaches(source, policy, rep=None, *, limit=50) -> BreachList``
- ``OpenBreach``, ``BreachList``
- ``percentile(values, fraction)``, ``median(values)``, ``merge_reasons(cards)``

``source`` is ``Services`` (a short read in its unit of work, ``now`` from its clock) or a
SQLAlchemy ``Session`` (then pass ``now``; it defaults to the period's end).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from bot.calendar import BusinessTimeline
from bot.deadlines import first_contact_target_hours
from bot.periods import Period, month
from bot.policy import Policy
from storage.models import Activity, Lead, LeadEvent, LeadStatus

if TYPE_CHECKING:
    from bot.services import Services

__all__ = [
    "BreachList",
    "Durations",
    "OpenBreach",
    "Scorecard",
    "median",
    "merge_reasons",
    "open_breaches",
    "per_rep",
    "percentile",
    "recycle_reasons",
    "scorecard",
]

OPEN_STATUSES = (LeadStatus.POSTED.value, LeadStatus.CLAIMED.value, LeadStatus.WORKING.value)


# ------------------------------------------------------------------------------ figures


#: how far past the period (or now) the timeline reaches: first-contact deadlines of the period's
#: last leads, over holidays and the year-end closure (past it, the calendar itself answers)
TIMELINE_MARGIN = timedelta(days=30)


_Timings = tuple[list[float], list[float], int, int]


def median(values: Sequence[float]) -> float | None:
    """The middle value (mean of the two middle ones for an even count); None when empty."""
    return float(statistics.median(values)) if values else None


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile: the smallest value with ≥ ``fraction`` of values at or below.

    Nearest rank (not interpolation) so the figure is always a real lead's time.
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return float(ordered[rank - 1])


@dataclass(frozen=True)
class Durations:
    """Business minutes over a set of leads."""

    count: int = 0
    median: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, minutes: Sequence[float]) -> Durations:
        return cls(len(minutes), median(minutes), percentile(minutes, 0.9))


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Scorecard:
    """The figures of one period for the team (``rep`` None) or one rep. See module doc."""

    period: Period
    rep: str | None
    now: datetime
    handed_off: int = 0
    #: the pro-rated MQL target for the period (None for a rep: volume is marketing's)
    mql_target: float | None = None
    not_qualified: int = 0
    handoff_on_time: int = 0
    with_history: int = 0
    time_to_claim: Durations = field(default_factory=Durations)
    time_to_first_contact: Durations = field(default_factory=Durations)
    #: leads whose first-contact clock is settled, and those that kept the promise
    first_contact_settled: int = 0
    first_contact_on_time: int = 0
    decided: int = 0
    converted: int = 0
    recycled: int = 0
    touches_on_decided: int = 0
    recycled_under_min_touches: int = 0
    decision_settled: int = 0
    decision_on_time: int = 0
    #: converted leads among those handed off in the period (the cohort view)
    cohort_converted: int = 0
    recycle_reasons: tuple[tuple[str, int], ...] = ()

    @property
    def handoff_rate(self) -> float | None:
        return _rate(self.handoff_on_time, self.handed_off)

    @property
    def history_rate(self) -> float | None:
        return _rate(self.with_history, self.handed_off)

    @property
    def first_contact_rate(self) -> float | None:
        return _rate(self.first_contact_on_time, self.first_contact_settled)

    @property
    def decision_rate(self) -> float | None:
        return _rate(self.decision_on_time, self.decision_settled)

    @property
    def touches_per_lead(self) -> float | None:
        return self.touches_on_decided / self.decided if self.decided else None

    @property
    def sql_rate(self) -> float | None:
        """MQL→SQL as shown: converted / decided, both decided in the period."""
        return _rate(self.converted, self.decided)

    @property
    def cohort_sql_rate(self) -> float | None:
        """Converted / handed off, for the leads handed off in the period (so far)."""
        return _rate(self.cohort_converted, self.handed_off)

    @property
    def mql_rate(self) -> float | None:
        if self.mql_target is None or self.mql_target <= 0:
            return None
        return self.handed_off / self.mql_target


@dataclass(frozen=True)
class OpenBreach:
    """An open lead with a recorded breach: who owns it and which promises lapsed."""

    lead_id: int
    owner_id: str | None
    contact_name: str
    company_name: str | None
    #: the promises breached ("handoff", "first_contact", "decision"), oldest first
    promises: tuple[str, ...]
    first_breach_at: datetime
    channel_id: str | None
    message_ts: str | None


@dataclass(frozen=True)
class BreachList:
    rows: tuple[OpenBreach, ...]
    #: how many open leads have a breach in all (``rows`` holds at most ``limit``)
    total: int


# ------------------------------------------------------------------------------ public API


def scorecard(
    source: Services | Session,
    policy: Policy,
    period: Period,
    rep: str | None = None,
    *,
    now: datetime | None = None,
) -> Scorecard:
    """The figures of ``period`` for the team, or for the leads ``rep`` owns."""
    with _reading(source) as (session, clock_now):
        at = now or clock_now or period.end
        cards = _compute(session, policy, period, at, rep=rep, by_rep=False)
    return cards.get(None) or Scorecard(period, rep, at, mql_target=_target(policy, period, at,
                                                                            rep))


def per_rep(
    source: Services | Session,
    policy: Policy,
    period: Period,
    *,
    now: datetime | None = None,
) -> dict[str, Scorecard]:
    """One scorecard per current owner of leads handed off or decided in ``period``."""
    with _reading(source) as (session, clock_now):
        at = now or clock_now or period.end
        cards = _compute(session, policy, period, at, rep=None, by_rep=True)
    return {rep: card for rep, card in sorted(cards.items(), key=lambda kv: kv[0] or "")
            if rep is not None}


def team_and_reps(
    source: Services | Session,
    policy: Policy,
    period: Period,
    *,
    now: datetime | None = None,
) -> tuple[Scorecard, dict[str, Scorecard]]:
    """``scorecard`` and ``per_rep`` together, from one pass: the team's figures are the sum of
    every owner's (the unowned included), so a manager's answer reads the database once."""
    with _reading(source) as (session, clock_now):
        at = now or clock_now or period.end
        counts, timings, reasons = _grouped(session, policy, period, at)
    team_counts: dict[str, int] = defaultdict(int)
    team_timings: _Timings = ([], [], 0, 0)
    team_reasons: dict[str, int] = defaultdict(int)
    for owner in set(counts) | set(timings) | set(reasons):
        for name, value in counts.get(owner, {}).items():
            team_counts[name] += value
        claims, contacts, settled, on_time = timings.get(owner, ([], [], 0, 0))
        team_timings = (team_timings[0] + claims, team_timings[1] + contacts,
                        team_timings[2] + settled, team_timings[3] + on_time)
        for reason, value in reasons.get(owner, {}).items():
            team_reasons[reason] += value
    team = _card(policy, period, at, None, dict(team_counts), team_timings, dict(team_reasons))
    reps = {
        owner: _card(policy, period, at, owner, counts.get(owner, {}),
                     timings.get(owner, ([], [], 0, 0)), reasons.get(owner, {}))
        for owner in sorted(o for o in set(counts) | set(timings) if o is not None)
    }
    return team, reps


def recycle_reasons(
    source: Services | Session, policy: Policy, period: Period, rep: str | None = None
) -> list[tuple[str, int]]:
    """Recycled leads decided in ``period`` by reason, most frequent first."""
    with _reading(source) as (session, _):
        rows = _reasons(session, period, rep, by_rep=False)
    return sorted(rows.get(None, {}).items(), key=lambda kv: (-kv[1], kv[0]))


def open_breaches(
    source: Services | Session, policy: Policy, rep: str | None = None, *, limit: int = 50
) -> BreachList:
    """Open leads with ≥ 1 recorded breach, oldest breach first; at most ``limit`` rows."""
    with _reading(source) as (session, _):
        return _open_breaches(session, rep, limit)


# ------------------------------------------------------------------------------ queries


@contextmanager
def _reading(source: Services | Session) -> Iterator[tuple[Session, datetime | None]]:
    """A read session from Services (its unit of work, its clock) or a given Session."""
    if isinstance(source, Session):
        yield source, None
        return
    with source.unit_of_work() as uow:
        yield uow.session, source.clock.now()


def _in(column: Any, period: Period) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


def _within(session: Session, start: Any, end: Any, limit: timedelta) -> ColumnElement[bool]:
    """``end <= start + limit`` in SQL, on both databases (to the millisecond on SQLite)."""
    if session.get_bind().dialect.name == "sqlite":
        days = limit.total_seconds() / 86400 + 1e-3 / 86400
        return func.julianday(end) <= func.julianday(start) + days
    return end <= start + literal(limit)


def _total(condition: ColumnElement[bool], value: Any = 1) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def _compute(
    session: Session, policy: Policy, period: Period, now: datetime, *, rep: str | None,
    by_rep: bool,
) -> dict[str | None, Scorecard]:
    """Every figure of the period, keyed by owner (``by_rep``) or under None (the total)."""
    counts, timings, reasons = _grouped(session, policy, period, now, rep=rep, by_rep=by_rep)
    return {
        owner: _card(policy, period, now, rep if not by_rep else owner, counts.get(owner, {}),
                     timings.get(owner, ([], [], 0, 0)), reasons.get(owner, {}))
        for owner in set(counts) | set(timings)
    }


def _grouped(
    session: Session, policy: Policy, period: Period, now: datetime, *, rep: str | None = None,
    by_rep: bool = True,
) -> tuple[dict[str | None, dict[str, int]], dict[str | None, _Timings],
           dict[str | None, dict[str, int]]]:
    """The raw figures (counts, duration lists, reasons) keyed by owner or under None."""
    agreement = policy.agreement
    posted = _in(Lead.posted_at, period)
    decided = _in(Lead.decided_at, period)
    received = _in(Lead.received_at, period)
    converted = Lead.status == LeadStatus.CONVERTED.value
    recycled = Lead.status == LeadStatus.RECYCLED.value
    has_history = exists().where(Activity.lead_id == Lead.id)
    decision_limit = timedelta(days=agreement.decision_days)
    key = Lead.owner_id if by_rep else literal(None)
    columns = {
        "handed_off": _total(posted),
        "not_qualified": _total(and_(received, Lead.status == LeadStatus.NOT_QUALIFIED.value)),
        "handoff_on_time": _total(and_(posted, _within(
            session, Lead.qualified_at, Lead.posted_at,
            timedelta(hours=agreement.handoff_within_hours)))),
        "with_history": _total(and_(posted, has_history)),
        "decided": _total(decided),
        "converted": _total(and_(decided, converted)),
        "recycled": _total(and_(decided, recycled)),
        "touches_on_decided": _total(decided, func.coalesce(Lead.touch_count, 0)),
        "recycled_under_min_touches": _total(and_(
            decided, recycled, func.coalesce(Lead.touch_count, 0) < agreement.min_touches)),
        "decision_settled": _total(and_(posted, or_(
            Lead.decided_at.is_not(None), Lead.posted_at <= now - decision_limit))),
        "decision_on_time": _total(and_(posted, Lead.decided_at.is_not(None), _within(
            session, Lead.posted_at, Lead.decided_at, decision_limit))),
        "cohort_converted": _total(and_(posted, converted)),
    }
    query = select(key.label("owner"), *(c.label(n) for n, c in columns.items())).where(
        or_(posted, decided, received))
    if rep is not None:
        query = query.where(Lead.owner_id == rep)
    if by_rep:
        query = query.group_by(Lead.owner_id)
    counts: dict[str | None, dict[str, int]] = {}
    for row in session.execute(query).mappings():
        counts[row["owner"] if by_rep else None] = {n: int(row[n]) for n in columns}
    timings = _timings(session, policy, period, now, rep, by_rep)
    reasons = _reasons(session, period, rep, by_rep)
    return counts, timings, reasons


def _card(
    policy: Policy, period: Period, now: datetime, who: str | None, figures: dict[str, int],
    timings: _Timings, reasons: dict[str, int],
) -> Scorecard:
    claim_minutes, contact_minutes, settled, on_time = timings
    return Scorecard(
        period=period, rep=who, now=now,
        mql_target=_target(policy, period, now, who),
        time_to_claim=Durations.of(claim_minutes),
        time_to_first_contact=Durations.of(contact_minutes),
        first_contact_settled=settled, first_contact_on_time=on_time,
        recycle_reasons=tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        **figures,
    )


def _timings(
    session: Session, policy: Policy, period: Period, now: datetime, rep: str | None,
    by_rep: bool,
) -> dict[str | None, tuple[list[float], list[float], int, int]]:
    """Business-minute durations, from ONE query of the period's handed-off leads' instants.

    Bounded by the leads handed off in the period (the only per-lead read of this module).
    """
    first_claim = (
        select(func.min(LeadEvent.at))
        .where(LeadEvent.lead_id == Lead.id, LeadEvent.kind == "claim")
        .correlate(Lead)
        .scalar_subquery()
    )
    query = select(Lead.owner_id, Lead.tier, Lead.posted_at, first_claim, Lead.first_touch_at,
                   Lead.decided_at).where(_in(Lead.posted_at, period))
    if rep is not None:
        query = query.where(Lead.owner_id == rep)
    # every lead's durations are measured on one timeline: bisections instead of a walk of the
    # calendar per lead (a month of 100,000 leads took seconds the other way)
    cal = BusinessTimeline(policy.business_calendar, period.start,
                           max(now, period.end) + TIMELINE_MARGIN)
    out: dict[str | None, tuple[list[float], list[float], int, int]] = defaultdict(
        lambda: ([], [], 0, 0))
    for owner, tier, posted_at, claimed_at, touched_at, decided_at in session.execute(query):
        claims, contacts, settled, on_time = out[owner if by_rep else None]
        claimed_at = _aware(claimed_at)
        if claimed_at is not None:
            claims.append(_minutes(cal.between(posted_at, max(claimed_at, posted_at))))
        if touched_at is not None:
            contacts.append(_minutes(cal.between(posted_at, touched_at)))
        hours = first_contact_target_hours(_TierOf(tier), policy)
        due = cal.add(posted_at, timedelta(hours=hours))
        kept = touched_at or decided_at
        if kept is not None or due <= now:
            settled += 1
            on_time += int(kept is not None and kept <= due)
        out[owner if by_rep else None] = (claims, contacts, settled, on_time)
    return dict(out)


@dataclass(frozen=True)
class _TierOf:
    tier: str | None


def _aware(value: datetime | None) -> datetime | None:
    """A scalar subquery's value skips the column type: make SQLite's naive UTC aware."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60


def _reasons(
    session: Session, period: Period, rep: str | None, by_rep: bool
) -> dict[str | None, dict[str, int]]:
    key = Lead.owner_id if by_rep else literal(None)
    query = (
        select(key.label("owner"), Lead.decision_reason, func.count())
        .where(_in(Lead.decided_at, period), Lead.status == LeadStatus.RECYCLED.value)
        .group_by(key, Lead.decision_reason)
    )
    if rep is not None:
        query = query.where(Lead.owner_id == rep)
    out: dict[str | None, dict[str, int]] = defaultdict(dict)
    for owner, reason, count in session.execute(query):
        out[owner if by_rep else None][reason or "other"] = int(count)
    return dict(out)


def _open_breaches(session: Session, rep: str | None, limit: int) -> BreachList:
    """Open leads with a breach: one grouped query for the page, one count for "+N more"."""
    breached = (
        select(LeadEvent.lead_id, func.min(LeadEvent.at).label("first_at"))
        .join(Lead, Lead.id == LeadEvent.lead_id)
        .where(LeadEvent.kind == "breach", Lead.status.in_(OPEN_STATUSES))
        .group_by(LeadEvent.lead_id)
    )
    if rep is not None:
        breached = breached.where(Lead.owner_id == rep)
    sub = breached.subquery()
    total = session.scalar(select(func.count()).select_from(sub)) or 0
    page = session.execute(
        select(Lead.id, Lead.owner_id, Lead.contact_name, Lead.company_name, Lead.channel_id,
               Lead.message_ts, sub.c.first_at)
        .join(sub, sub.c.lead_id == Lead.id)
        .order_by(sub.c.first_at, Lead.id)
        .limit(limit)
    ).all()
    ids = [row[0] for row in page]
    promises: dict[int, list[str]] = defaultdict(list)
    if ids:
        for lead_id, data in session.execute(
            select(LeadEvent.lead_id, LeadEvent.data)
            .where(LeadEvent.kind == "breach", LeadEvent.lead_id.in_(ids))
            .order_by(LeadEvent.lead_id, LeadEvent.at, LeadEvent.id)
        ):
            promise = str((data or {}).get("promise") or "")
            if promise and promise not in promises[lead_id]:
                promises[lead_id].append(promise)
    rows = tuple(
        OpenBreach(lead_id, owner, name, company, tuple(promises.get(lead_id, ())),
                   _aware(first_at) or first_at, channel, ts)
        for lead_id, owner, name, company, channel, ts, first_at in page
    )
    return BreachList(rows, int(total))


# ------------------------------------------------------------------------------ targets


def _target(policy: Policy, period: Period, now: datetime, rep: str | None) -> float | None:
    """The monthly MQL target pro-rated over the part of ``period`` elapsed by ``now``.

    Each month the period touches contributes target × (elapsed overlap / month length), so
    the 10th of a 30-day month expects 9/30 of the target (nine whole days elapsed plus the
    part of the 10th), and a whole past week expects 7/30 or 7/31 of it.
    """
    if rep is not None:
        return None
    end = min(period.end, max(now, period.start))
    total = 0.0
    cursor = period.start
    while cursor < end:
        local = cursor.astimezone(policy.tz)
        m = month(local.year, local.month, policy.tz)
        stop = min(m.end, end)
        total += (stop - cursor) / (m.end - m.start)
        cursor = stop
    return policy.agreement.mql_monthly_target * total


def merge_reasons(cards: Iterable[Scorecard]) -> list[tuple[str, int]]:
    """Recycle reasons summed over several scorecards, most frequent first."""
    counts: dict[str, int] = defaultdict(int)
    for card in cards:
        for reason, count in card.recycle_reasons:
            counts[reason] += count
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

