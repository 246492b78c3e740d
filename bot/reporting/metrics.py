"""How both sides are doing against the agreement, for any period and optionally one rep.

Every figure is defined ONCE here and read by ``/sla-status``, the weekly digest and the
monthly review. Never every lead loaded into Python: business-time durations are facts stamped
with each lead when its hand-off, first claim and first touch happen (``bot.timings``), so on
PostgreSQL the figures are two aggregate statements (counts per owner; durations and their
medians and p90 per owner and for the team, as ordered-set aggregates). On SQLite — and on
PostgreSQL while a lead of the period has stale stamps (a changed calendar not yet re-stamped)
— counts are one grouped query and durations are gathered in Python from one row per lead
handed off in the period, measured there when stale. The tests compare both to the microsecond.

Definitions (``P`` is the period ``[start, end)``; "now" is the clock when the report is made):

- handed off (MQLs): ``posted_at`` in P; a rep's figures: those leads the rep owns now.
- MQL target: ``mql_monthly_target`` × the elapsed fraction of each month P covers (up to now).
- not qualified: ``received_at`` in P and status ``not_qualified``.
- handoff within N h: handed off in P with ``posted_at ≤ qualified_at + handoff_within_hours``.
- behaviour history: handed off in P with ≥ 1 activity row (``has_history``, stored when the
  activities arrive).
- time to claim: business minutes from ``posted_at`` to the lead's first claim ever — a button
  press or auto-assignment; ``first_claimed_at``, stored at that claim and kept through release,
  re-claim and reassignment — for leads handed off in P that were ever claimed.
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
- open breaches: leads open now (posted, claimed, working) with a recorded breach (the earliest
  breached deadline is stored with the lead as ``first_breach_at``); not limited to P.

API (stable; the digest and the review import it):

- ``Scorecard`` — the figures of one period (team or one rep), rates as properties.
- ``Durations`` — count, median and p90 of business minutes.
- ``scorecard(source, policy, period, rep=None, *, now=None) -> Scorecard``
- ``per_rep(source, policy, period, *, now=None) -> dict[str, Scorecard]`` (owners only)
- ``team_and_reps(source, policy, period, *, now=None)`` — both, from one statement
- ``recycle_reasons(source, policy, period, rep=None) -> list[tuple[str, int]]``
- ``open_breaches(source, policy, rep=None, *, limit=50) -> BreachList``
- ``OpenBreach``, ``BreachList``
- ``percentile(values, fraction)``, ``median(values)``, ``merge_reasons(cards)``

``source`` is ``Services`` (a short read in its unit of work, ``now`` from its clock) or a
SQLAlchemy ``Session`` (then pass ``now``; it defaults to the period's end). The statements
are built here and run by the unit of work's report reads (``storage.report_queries``), which
own the session and the report's settings on PostgreSQL.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Double,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.orm import Session

from bot import timings
from bot.calendar import BusinessTimeline
from bot.event_kind import Fact
from bot.lifecycle import SQL_STATUSES
from bot.policy import Policy
from bot.reporting.periods import Period, month
from storage.models import OPEN_BREACHED, Lead, LeadEvent, LeadStatus
from storage.report_queries import ReportQueries

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
    "team_and_reps",
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
    with _reading(source) as (reads, clock_now):
        at = now or clock_now or period.end
        raw = _figures(reads, policy, period, at, rep=rep, team=True, reps=False)
    return _card(policy, period, at, rep, raw[TEAM])


def per_rep(
    source: Services | Session,
    policy: Policy,
    period: Period,
    *,
    now: datetime | None = None,
) -> dict[str, Scorecard]:
    """One scorecard per current owner of leads handed off or decided in ``period``."""
    with _reading(source) as (reads, clock_now):
        at = now or clock_now or period.end
        raw = _figures(reads, policy, period, at, rep=None, team=False, reps=True)
    return {owner: _card(policy, period, at, owner, figures)
            for owner, figures in sorted(raw.items(), key=lambda kv: str(kv[0]))
            if isinstance(owner, str)}


def team_and_reps(
    source: Services | Session,
    policy: Policy,
    period: Period,
    *,
    now: datetime | None = None,
) -> tuple[Scorecard, dict[str, Scorecard]]:
    """``scorecard`` and ``per_rep`` together, from one pass: the team's figures and every
    owner's (the unowned counted in the team only), so a manager's answer reads the leads once."""
    with _reading(source) as (reads, clock_now):
        at = now or clock_now or period.end
        raw = _figures(reads, policy, period, at, rep=None, team=True, reps=True)
    team = _card(policy, period, at, None, raw[TEAM])
    reps = {owner: _card(policy, period, at, owner, figures)
            for owner, figures in sorted(raw.items(), key=lambda kv: str(kv[0]))
            if isinstance(owner, str)}
    return team, reps


def recycle_reasons(
    source: Services | Session, policy: Policy, period: Period, rep: str | None = None
) -> list[tuple[str, int]]:
    """Recycled leads decided in ``period`` by reason, most frequent first."""
    with _reading(source) as (reads, _):
        rows = _reasons(reads, period, rep, by_rep=False)
    return sorted(rows.get(None, {}).items(), key=lambda kv: (-kv[1], kv[0]))


def open_breaches(
    source: Services | Session, policy: Policy, rep: str | None = None, *, limit: int = 50
) -> BreachList:
    """Open leads with ≥ 1 recorded breach, oldest breach first; at most ``limit`` rows."""
    with _reading(source) as (reads, _):
        return _open_breaches(reads, rep, limit)


# ------------------------------------------------------------------------------ queries


@contextmanager
def _reading(source: Services | Session) -> Iterator[tuple[ReportQueries, datetime | None]]:
    """The report's reads from Services (its own unit of work, tuned for reports; its clock)
    or in a given Session."""
    if isinstance(source, Session):
        yield ReportQueries(source), None
        return
    with source.unit_of_work() as uow:
        uow.reports.tune()
        yield uow.reports, source.clock.now()


def _in(column: Any, period: Period) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


def _within(reads: ReportQueries, start: Any, end: Any, limit: timedelta) -> ColumnElement[bool]:
    """``end <= start + limit`` in SQL, on both databases (to the millisecond on SQLite).

    On PostgreSQL as ``end - start <= limit``: a day is 24 h whatever the session's time zone
    (adding a day to a ``timestamptz`` follows the zone's wall clock), and it is cheaper.
    """
    if reads.on_sqlite:
        days = limit.total_seconds() / 86400 + 1e-3 / 86400
        return func.julianday(end) <= func.julianday(start) + days
    return end - start <= literal(limit)


def _total(condition: ColumnElement[bool], value: Any = 1) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


class _Team:
    """The key of the team's figures (every lead of the period, whoever owns it)."""

    def __repr__(self) -> str:
        return "TEAM"


TEAM = _Team()
_Key = str | None | _Team


@dataclass(frozen=True)
class _Raw:
    """One owner's (or the team's) figures before they become a ``Scorecard``."""

    counts: dict[str, int]
    claim: Durations = field(default_factory=Durations)
    contact: Durations = field(default_factory=Durations)
    first_contact_settled: int = 0
    first_contact_on_time: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def _card(policy: Policy, period: Period, now: datetime, who: str | None, raw: _Raw) -> Scorecard:
    return Scorecard(
        period=period, rep=who, now=now,
        mql_target=_target(policy, period, now, who),
        time_to_claim=raw.claim, time_to_first_contact=raw.contact,
        first_contact_settled=raw.first_contact_settled,
        first_contact_on_time=raw.first_contact_on_time,
        recycle_reasons=tuple(sorted(raw.reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        **raw.counts,
    )


def _figures(
    reads: ReportQueries, policy: Policy, period: Period, now: datetime, *, rep: str | None,
    team: bool, reps: bool,
) -> dict[_Key, _Raw]:
    """The period's figures under ``TEAM`` (when ``team``) and per owner (when ``reps``).

    Two evaluations of the same definitions. On PostgreSQL two aggregate statements compute
    everything from the stamped business-time facts (``_sql_figures``). Elsewhere — and on
    PostgreSQL while a lead of the period has stale stamps — the counts and the recycle reasons
    are grouped queries and the durations are gathered in Python (``_timings``). Both give the
    same numbers to the microsecond (tests/test_metrics_sql.py compares them).
    """
    if reads.on_postgresql:
        figures = _sql_figures(reads, policy, period, now, rep=rep, team=team, reps=reps)
        if figures is not None:
            return figures
    figures = _python_figures(reads, policy, period, now, rep=rep, team=team, reps=reps)
    return _with_reasons(figures, _reasons(reads, period, rep, by_rep=reps))


def _with_reasons(figures: dict[_Key, _Raw],
                  reasons: dict[str | None, dict[str, int]]) -> dict[_Key, _Raw]:
    """Each owner's recycle reasons (``reasons`` by owner, or under None for all) and the
    team's, their sum, added to the figures."""
    team_reasons = _summed(reasons.values())
    out: dict[_Key, _Raw] = {}
    for key, raw in figures.items():
        own = dict(team_reasons) if isinstance(key, _Team) else reasons.get(key, {})
        out[key] = replace(raw, reasons=own)
    return out


def _atoms(reads: ReportQueries, policy: Policy, period: Period,
           now: datetime) -> dict[str, ColumnElement[Any]]:
    """What a lead's counts are made of, as SQL over ``leads`` (see ``_counts``)."""
    agreement = policy.agreement
    decision_limit = timedelta(days=agreement.decision_days)
    posted = _in(Lead.posted_at, period)
    return {
        "posted": posted,
        "decided": _in(Lead.decided_at, period),
        "received": _in(Lead.received_at, period),
        "status": Lead.status,
        "touches": func.coalesce(Lead.touch_count, 0),
        "handoff_kept": _within(reads, Lead.qualified_at, Lead.posted_at,
                                timedelta(hours=agreement.handoff_within_hours)),
        # stored with the lead when its activities arrive (intake, a vendor's later behaviour)
        "history": Lead.has_history,
        "decision_settled": or_(Lead.decided_at.is_not(None),
                                Lead.posted_at <= now - decision_limit),
        "decision_kept": and_(Lead.decided_at.is_not(None), _within(
            reads, Lead.posted_at, Lead.decided_at, decision_limit)),
    }


def _counts(atoms: dict[str, Any], policy: Policy) -> dict[str, ColumnElement[bool]]:
    """Each lead count of the scorecard as the condition a lead meets to be counted (see the
    module doc); ``touches_on_decided`` sums ``touches`` over its condition. ``atoms`` are
    ``_atoms`` themselves or a subquery's columns holding them."""
    posted, decided, status = atoms["posted"], atoms["decided"], atoms["status"]
    converted = status.in_([s.value for s in SQL_STATUSES])  # an SQL, whatever its deal did
    recycled = status == LeadStatus.RECYCLED.value
    return {
        "handed_off": posted,
        "not_qualified": and_(atoms["received"], status == LeadStatus.NOT_QUALIFIED.value),
        "handoff_on_time": and_(posted, atoms["handoff_kept"]),
        "with_history": and_(posted, atoms["history"]),
        "decided": decided,
        "converted": and_(decided, converted),
        "recycled": and_(decided, recycled),
        "touches_on_decided": decided,
        "recycled_under_min_touches": and_(
            decided, recycled, atoms["touches"] < policy.agreement.min_touches),
        "decision_settled": and_(posted, atoms["decision_settled"]),
        "decision_on_time": and_(posted, atoms["decision_kept"]),
        "cohort_converted": and_(posted, converted),
    }


def _scope(period: Period) -> ColumnElement[bool]:
    """The leads any figure of the period counts: handed off, decided or received in it."""
    return or_(_in(Lead.posted_at, period), _in(Lead.decided_at, period),
               _in(Lead.received_at, period))


def _python_figures(
    reads: ReportQueries, policy: Policy, period: Period, now: datetime, *, rep: str | None,
    team: bool, reps: bool,
) -> dict[_Key, _Raw]:
    """Counts from one grouped query; business minutes measured in Python, lead by lead."""
    atoms = _atoms(reads, policy, period, now)
    columns = _counts(atoms, policy)
    values = {n: atoms["touches"] if n == "touches_on_decided" else 1 for n in columns}
    query = select(Lead.owner_id, *(_total(c, values[n]).label(n) for n, c in columns.items())
                   ).where(_scope(period)).group_by(Lead.owner_id)
    if rep is not None:
        query = query.where(Lead.owner_id == rep)
    counts: dict[str | None, dict[str, int]] = {
        row["owner_id"]: {n: int(row[n]) for n in columns}
        for row in reads.rows(query).mappings()
    }
    timings = _timings(reads, policy, period, now, rep)
    out: dict[_Key, _Raw] = {}
    zero = dict.fromkeys(columns, 0)
    if reps:
        for owner in set(counts) | set(timings):
            claims, contacts, settled, on_time = timings.get(owner, ([], [], 0, 0))
            out[owner] = _Raw(counts.get(owner, zero), Durations.of(claims),
                              Durations.of(contacts), settled, on_time)
    if team:
        total = dict(zero)
        for by_owner in counts.values():
            for name, value in by_owner.items():
                total[name] += value
        claims = [m for t in timings.values() for m in t[0]]
        contacts = [m for t in timings.values() for m in t[1]]
        out[TEAM] = _Raw(total, Durations.of(claims), Durations.of(contacts),
                         sum(t[2] for t in timings.values()), sum(t[3] for t in timings.values()))
    return out


def _timings(
    reads: ReportQueries, policy: Policy, period: Period, now: datetime, rep: str | None,
) -> dict[str | None, _Timings]:
    """Business-minute durations per owner, from ONE query of the period's handed-off leads.

    Bounded by the leads handed off in the period (the only per-lead read of this module).
    A lead's stamped facts (``bot.timings``) are read as stored when current; a lead with stale
    ones is measured here, on one timeline for the period (bisections instead of a walk of the
    calendar per lead), as ``bot.timings.stamp`` would store them.
    """
    query = select(Lead.owner_id, Lead.tier, Lead.posted_at, Lead.first_claimed_at,
                   Lead.first_touch_at, Lead.decided_at, Lead.first_contact_due_at,
                   Lead.claim_business_us, Lead.contact_business_us, Lead.timing_basis,
                   ).where(_in(Lead.posted_at, period))
    if rep is not None:
        query = query.where(Lead.owner_id == rep)
    current = timings.basis(policy)
    timeline: BusinessTimeline | None = None
    out: dict[str | None, _Timings] = defaultdict(lambda: ([], [], 0, 0))
    for lead in reads.rows(query):
        if not timings.is_stamped(lead, current):
            timeline = timeline or _timeline(policy, period, now)
        facts = timings.facts(lead, policy, current, on=timeline)
        claims, contacts, settled, on_time = out[lead.owner_id]
        if facts.claim_business_us is not None:
            claims.append(_minutes(timedelta(microseconds=facts.claim_business_us)))
        if facts.contact_business_us is not None:
            contacts.append(_minutes(timedelta(microseconds=facts.contact_business_us)))
        due = facts.first_contact_due_at
        kept = lead.first_touch_at or lead.decided_at
        if due is not None and (kept is not None or due <= now):
            settled += 1
            on_time += int(kept is not None and kept <= due)
        out[lead.owner_id] = (claims, contacts, settled, on_time)
    return dict(out)


def _timeline(policy: Policy, period: Period, now: datetime) -> BusinessTimeline:
    return BusinessTimeline(policy.business_calendar, period.start,
                            max(now, period.end) + TIMELINE_MARGIN)


#: the percentiles asked of PostgreSQL: nearest rank 0.5 (the lower middle), just above 0.5
#: (the upper middle: rank ⌊n/2⌋ + 1 for any n below 10^11) and 0.9 (``percentile``)
_FRACTIONS = (0.5, 0.5 + 1e-12, 0.9)


def _sql_figures(
    reads: ReportQueries, policy: Policy, period: Period, now: datetime, *, rep: str | None,
    team: bool, reps: bool,
) -> dict[_Key, _Raw] | None:
    """Every figure in two statements on PostgreSQL, or None when Python must measure.

    Business time is read from the facts stamped with each lead (``bot.timings``), so both
    statements are plain aggregates the database can spread over parallel workers: the counts
    per owner (the team's are their sums), then the durations' counts and percentiles per
    owner and for the team (grouping sets; medians from the two middle ranks, as
    ``statistics.median``). None when a lead handed off in the period has stale stamps (a
    changed calendar not yet re-stamped): then Python measures those leads itself.
    """
    atoms = _atoms(reads, policy, period, now)
    counted = _counts(atoms, policy)
    posted = atoms["posted"]
    kept = func.coalesce(Lead.first_touch_at, Lead.decided_at)
    due = Lead.first_contact_due_at
    counts = [
        *(func.count().filter(cond).label(n) for n, cond in counted.items()
          if n != "touches_on_decided"),
        func.coalesce(func.sum(atoms["touches"]).filter(counted["touches_on_decided"]), 0)
        .label("touches_on_decided"),
        func.count().filter(and_(posted, or_(kept.is_not(None), due <= now)))
        .label("fc_settled"),
        func.count().filter(and_(posted, kept <= due)).label("fc_on_time"),
        func.count().filter(and_(posted, timings.stale(timings.basis(policy)))).label("stale"),
    ]
    # the recycle reasons come out of the same pass: the recycled leads decided in the period
    # are grouped by reason too (``_reasons``' rule: no reason counts as "other")
    reason = case((counted["recycled"], func.coalesce(func.nullif(Lead.decision_reason, ""),
                                                      "other"))).label("reason")
    query = (select(Lead.owner_id, reason, *counts).where(_scope(period))
             .group_by(Lead.owner_id, reason))
    if rep is not None:
        query = query.where(Lead.owner_id == rep)
    rows = reads.rows(query).mappings().all()
    if any(row["stale"] for row in rows):
        return None
    names = [*counted, "fc_settled", "fc_on_time"]
    by_owner: dict[str | None, dict[str, int]] = {}
    reasons: dict[str | None, dict[str, int]] = defaultdict(dict)
    for row in rows:
        owner = row["owner_id"]
        summed = by_owner.setdefault(owner, dict.fromkeys(names, 0))
        for name in names:
            summed[name] += int(row[name] or 0)
        if row["reason"] is not None:
            reasons[owner][row["reason"]] = int(row["recycled"])
    durations = _sql_durations(reads, period, rep, team=team, reps=reps)
    out: dict[_Key, _Raw] = {}

    def raw(values: dict[str, int], key: _Key) -> _Raw:
        claim, contact = durations.get(key, (Durations(), Durations()))
        settled, on_time = values.pop("fc_settled"), values.pop("fc_on_time")
        return _Raw(values, claim, contact, settled, on_time)

    if reps:
        for owner, values in by_owner.items():
            out[owner] = raw(dict(values), owner)
    if team:
        total = dict.fromkeys(names, 0)
        for values in by_owner.values():
            for name, value in values.items():
                total[name] += value
        out[TEAM] = raw(total, TEAM)
    return _with_reasons(out, dict(reasons) if reps else {None: _summed(reasons.values())})


def _summed(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for by_key in counts:
        for key, count in by_key.items():
            total[key] += count
    return dict(total)


def _sql_durations(
    reads: ReportQueries, period: Period, rep: str | None, *, team: bool, reps: bool,
) -> dict[_Key, tuple[Durations, Durations]]:
    """Time to claim and to first contact (count, median, p90) of the leads handed off in the
    period, per owner and/or for the team, from their stamped business microseconds."""
    fractions = bindparam("fractions", list(_FRACTIONS), type_=ARRAY(Double))
    figures = [
        func.count(Lead.claim_business_us).label("claim_n"),
        func.percentile_disc(fractions).within_group(Lead.claim_business_us).label("claim_q"),
        func.count(Lead.contact_business_us).label("contact_n"),
        func.percentile_disc(fractions).within_group(Lead.contact_business_us)
        .label("contact_q"),
    ]
    if team and reps:
        query = select(Lead.owner_id, func.grouping(Lead.owner_id).label("total"), *figures
                       ).group_by(func.grouping_sets(tuple_(Lead.owner_id), tuple_()))
    elif reps:
        query = select(Lead.owner_id, literal(0).label("total"), *figures
                       ).group_by(Lead.owner_id)
    else:
        query = select(literal(None).label("owner_id"), literal(1).label("total"), *figures)
    query = query.where(_in(Lead.posted_at, period))
    if rep is not None:
        query = query.where(Lead.owner_id == rep)
    out: dict[_Key, tuple[Durations, Durations]] = {}
    for row in reads.rows(query).mappings():
        key: _Key = TEAM if row["total"] else row["owner_id"]
        out[key] = (_durations(row["claim_n"], row["claim_q"]),
                    _durations(row["contact_n"], row["contact_q"]))
    return out


def _durations(count: int, ranks: Sequence[int] | None) -> Durations:
    """``Durations.of`` from the count and the (lower middle, upper middle, p90) microseconds."""
    if not count or not ranks:
        return Durations()
    low, high, p90 = (_minutes(timedelta(microseconds=v)) for v in ranks)
    return Durations(int(count), low if count % 2 else (low + high) / 2, p90)


def _minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60


def _reasons(
    reads: ReportQueries, period: Period, rep: str | None, by_rep: bool
) -> dict[str | None, dict[str, int]]:
    """Recycle reasons of the leads decided in the period, per owner (``by_rep``) or in all."""
    key = Lead.owner_id if by_rep else literal(None)
    query = (
        select(key.label("owner"), Lead.decision_reason, func.count())
        .where(_in(Lead.decided_at, period), Lead.status == LeadStatus.RECYCLED.value)
        .group_by(key, Lead.decision_reason)
    )
    if rep is not None:
        query = query.where(Lead.owner_id == rep)
    out: dict[str | None, dict[str, int]] = defaultdict(dict)
    for owner, reason, count in reads.rows(query):
        counts = out[owner if by_rep else None]
        counts[reason or "other"] = counts.get(reason or "other", 0) + int(count)  # NULL, ""
    return dict(out)


def _open_breaches(reads: ReportQueries, rep: str | None, limit: int) -> BreachList:
    """Open leads with a breach, by their stored first breach: the page and the total ("+N
    more"), both read from one partial index (``ix_leads_open_breaches``, whose condition is
    spelled the same), then the page's promises (at most ``limit`` leads, by index)."""
    breached = [text(OPEN_BREACHED)]
    if rep is not None:
        breached.append(Lead.owner_id == rep)
    page = reads.rows(
        select(Lead.id, Lead.owner_id, Lead.contact_name, Lead.company_name, Lead.channel_id,
               Lead.message_ts, Lead.first_breach_at)
        .where(*breached).order_by(Lead.first_breach_at, Lead.id).limit(limit)
    ).all()
    total = (len(page) if len(page) < limit else
             int(reads.scalar(select(func.count()).select_from(Lead).where(*breached)) or 0))
    ids = [row[0] for row in page]
    promises: dict[int, list[str]] = defaultdict(list)
    if ids:
        for lead_id, data in reads.rows(
            select(LeadEvent.lead_id, LeadEvent.data)
            .where(LeadEvent.kind == Fact.BREACH, LeadEvent.lead_id.in_(ids))
            .order_by(LeadEvent.lead_id, LeadEvent.at, LeadEvent.id)
        ):
            promise = str((data or {}).get("promise") or "")
            if promise and promise not in promises[lead_id]:
                promises[lead_id].append(promise)
    rows = tuple(
        OpenBreach(lead_id, owner, name, company, tuple(promises.get(lead_id, ())),
                   first_at, channel, ts)
        for lead_id, owner, name, company, channel, ts, first_at in page
    )
    return BreachList(rows, total)


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

