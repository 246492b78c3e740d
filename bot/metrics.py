"""How both sides are doing against the agreement, for any period and optionally one rep.

Every figure is defined ONCE here and read by ``/sla-status``, the weekly digest and the
monthly review. Never every lead loaded into Python: on PostgreSQL ONE statement computes all
the figures of a period (team, per owner, or both through grouping sets), business-time
durations included — the period's business calendar, precomputed as a timeline of open
intervals (``bot.calendar.BusinessTimeline``), is sent as arrays and the same bisection
arithmetic runs per lead in SQL; medians and p90 are ordered-set aggregates. On SQLite (and on
PostgreSQL when an instant lies outside the timeline's window, so the calendar itself must
answer) counts are one grouped query and durations are measured in Python from one row per lead
handed off in the period. Both evaluations are compared to the microsecond by the tests.

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
- open breaches: leads open now (posted, claimed, working) with ≥ 1 ``breach`` event; not
  limited to P.

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
SQLAlchemy ``Session`` (then pass ``now``; it defaults to the period's end).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    DateTime,
    Double,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import Grouping

from bot.calendar import BusinessTimeline, micros
from bot.deadlines import first_contact_target_hours
from bot.periods import Period, month
from bot.policy import Policy
from storage.models import Lead, LeadEvent, LeadStatus

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
    with _reading(source) as (session, clock_now):
        at = now or clock_now or period.end
        raw = _figures(session, policy, period, at, rep=rep, team=True, reps=False)
    return _card(policy, period, at, rep, raw[TEAM])


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
        raw = _figures(session, policy, period, at, rep=None, team=False, reps=True)
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
    with _reading(source) as (session, clock_now):
        at = now or clock_now or period.end
        raw = _figures(session, policy, period, at, rep=None, team=True, reps=True)
    team = _card(policy, period, at, None, raw[TEAM])
    reps = {owner: _card(policy, period, at, owner, figures)
            for owner, figures in sorted(raw.items(), key=lambda kv: str(kv[0]))
            if isinstance(owner, str)}
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
        if uow.session.get_bind().dialect.name == "postgresql":
            uow.session.execute(text(REPORT_SETTINGS))
        yield uow.session, source.clock.now()


#: for a report's own read transaction on PostgreSQL: compiling its statements to machine
#: code (JIT) costs more than it saves at these sizes (hundreds of ms measured), and its sorts
#: (the per-owner grouping, the percentiles) fit in memory instead of spilling to disk
REPORT_SETTINGS = "SELECT set_config('jit', 'off', true), set_config('work_mem', '32MB', true)"


def _in(column: Any, period: Period) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


def _within(session: Session, start: Any, end: Any, limit: timedelta) -> ColumnElement[bool]:
    """``end <= start + limit`` in SQL, on both databases (to the millisecond on SQLite).

    On PostgreSQL as ``end - start <= limit``: a day is 24 h whatever the session's time zone
    (adding a day to a ``timestamptz`` follows the zone's wall clock), and it is cheaper.
    """
    if session.get_bind().dialect.name == "sqlite":
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
    session: Session, policy: Policy, period: Period, now: datetime, *, rep: str | None,
    team: bool, reps: bool,
) -> dict[_Key, _Raw]:
    """The period's figures under ``TEAM`` (when ``team``) and per owner (when ``reps``).

    Two evaluations of the same definitions. On PostgreSQL one statement computes everything,
    business minutes included (``_sql_figures``: the timeline's intervals as arrays, the
    percentiles as ordered-set aggregates). Elsewhere — and on PostgreSQL in the rare case an
    instant falls outside the timeline's window, where the calendar itself must answer — the
    counts are one grouped query and the durations are measured in Python (``_timings``).
    Both give the same numbers to the microsecond (tests/test_metrics.py compares them).
    """
    reasons = _reasons(session, period, rep, by_rep=reps)
    figures = None
    if session.get_bind().dialect.name == "postgresql":
        figures = _sql_figures(session, policy, period, now, rep=rep, team=team, reps=reps)
    if figures is None:
        figures = _python_figures(session, policy, period, now, rep=rep, team=team, reps=reps)
    team_reasons: dict[str, int] = defaultdict(int)
    for by_owner in reasons.values():
        for reason, count in by_owner.items():
            team_reasons[reason] += count
    out: dict[_Key, _Raw] = {}
    for key, raw in figures.items():
        own = dict(team_reasons) if isinstance(key, _Team) else reasons.get(key, {})
        out[key] = replace(raw, reasons=own)
    return out


def _atoms(session: Session, policy: Policy, period: Period,
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
        "handoff_kept": _within(session, Lead.qualified_at, Lead.posted_at,
                                timedelta(hours=agreement.handoff_within_hours)),
        # stored with the lead when its activities arrive (intake, a vendor's later behaviour)
        "history": Lead.has_history,
        "decision_settled": or_(Lead.decided_at.is_not(None),
                                Lead.posted_at <= now - decision_limit),
        "decision_kept": and_(Lead.decided_at.is_not(None), _within(
            session, Lead.posted_at, Lead.decided_at, decision_limit)),
    }


def _counts(atoms: dict[str, Any], policy: Policy) -> dict[str, ColumnElement[bool]]:
    """Each lead count of the scorecard as the condition a lead meets to be counted (see the
    module doc); ``touches_on_decided`` sums ``touches`` over its condition. ``atoms`` are
    ``_atoms`` themselves or a subquery's columns holding them."""
    posted, decided, status = atoms["posted"], atoms["decided"], atoms["status"]
    converted = status == LeadStatus.CONVERTED.value
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
    session: Session, policy: Policy, period: Period, now: datetime, *, rep: str | None,
    team: bool, reps: bool,
) -> dict[_Key, _Raw]:
    """Counts from one grouped query; business minutes measured in Python, lead by lead."""
    atoms = _atoms(session, policy, period, now)
    columns = _counts(atoms, policy)
    values = {n: atoms["touches"] if n == "touches_on_decided" else 1 for n in columns}
    query = select(Lead.owner_id, *(_total(c, values[n]).label(n) for n, c in columns.items())
                   ).where(_scope(period)).group_by(Lead.owner_id)
    if rep is not None:
        query = query.where(Lead.owner_id == rep)
    counts: dict[str | None, dict[str, int]] = {
        row["owner_id"]: {n: int(row[n]) for n in columns}
        for row in session.execute(query).mappings()
    }
    timings = _timings(session, policy, period, now, rep)
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
    session: Session, policy: Policy, period: Period, now: datetime, rep: str | None,
) -> dict[str | None, _Timings]:
    """Business-minute durations per owner, from ONE query of the period's handed-off leads.

    Bounded by the leads handed off in the period (the only per-lead read of this module).
    """
    query = select(Lead.owner_id, Lead.tier, Lead.posted_at, Lead.first_claimed_at,
                   Lead.first_touch_at,
                   Lead.decided_at).where(_in(Lead.posted_at, period))
    if rep is not None:
        query = query.where(Lead.owner_id == rep)
    # every lead's durations are measured on one timeline: bisections instead of a walk of the
    # calendar per lead (a month of 100,000 leads took seconds the other way)
    cal = _timeline(policy, period, now)
    targets = _targets_by_tier(policy)
    out: dict[str | None, _Timings] = defaultdict(lambda: ([], [], 0, 0))
    for owner, tier, posted_at, claimed_at, touched_at, decided_at in session.execute(query):
        claims, contacts, settled, on_time = out[owner]
        if claimed_at is not None:
            claims.append(_minutes(cal.between(posted_at, max(claimed_at, posted_at))))
        if touched_at is not None:
            contacts.append(_minutes(cal.between(posted_at, touched_at)))
        due = cal.add(posted_at, targets.get(tier, targets[None]))
        kept = touched_at or decided_at
        if kept is not None or due <= now:
            settled += 1
            on_time += int(kept is not None and kept <= due)
        out[owner] = (claims, contacts, settled, on_time)
    return dict(out)


def _timeline(policy: Policy, period: Period, now: datetime) -> BusinessTimeline:
    return BusinessTimeline(policy.business_calendar, period.start,
                            max(now, period.end) + TIMELINE_MARGIN)


#: the percentiles asked of PostgreSQL: nearest rank 0.5 (the lower middle), just above 0.5
#: (the upper middle: rank ⌊n/2⌋ + 1 for any n below 10^11) and 0.9 (``percentile``)
_FRACTIONS = (0.5, 0.5 + 1e-12, 0.9)


def _sql_figures(
    session: Session, policy: Policy, period: Period, now: datetime, *, rep: str | None,
    team: bool, reps: bool,
) -> dict[_Key, _Raw] | None:
    """Every figure in ONE statement on PostgreSQL, or None when Python must measure.

    Business time is the timeline's arithmetic (``TimelineTable``) on microseconds counted from
    the period's start: ``width_bucket`` finds a lead's open interval by binary search over the
    intervals' starts, as ``bisect`` does in Python. Durations are kept as whole microseconds,
    so each figure equals Python's to the bit. Medians come from the two middle ranks
    (``statistics.median``: their mean for an even count). None when an instant lies outside
    the timeline's window or a deadline past its last interval (then the calendar answers).
    """
    table = _timeline(policy, period, now).table()
    targets = {name: target // timedelta(microseconds=1)
               for name, target in _targets_by_tier(policy).items()}
    if not table.starts or min(targets.values()) <= 0:
        return None
    origin = micros(period.start)
    shift = [v - origin for v in table.starts], [v - origin for v in table.ends]
    starts, ends, before, after = (
        Grouping(bindparam(f"tl_{name}", values, type_=ARRAY(BigInteger)))
        for name, values in (("starts", shift[0]), ("ends", shift[1]),
                             ("before", list(table.before)), ("after", list(table.after))))
    since = bindparam("tl_origin", period.start, type_=DateTime(timezone=True))

    def rel(column: Any) -> Any:
        """Microseconds from the period's start (exact: the span is small for a double)."""
        return cast(func.round(func.date_part("epoch", column - since) * 1_000_000), BigInteger)

    atoms = _atoms(session, policy, period, now)
    target = case(*((Lead.tier == name, us) for name, us in targets.items() if name),
                  else_=targets[None])
    # each step a fenced subquery (OFFSET 0): PostgreSQL would otherwise repeat every
    # expression wherever a later step names it
    leads = (
        select(Lead.owner_id.label("owner"), *(c.label(n) for n, c in atoms.items()),
               rel(Lead.posted_at).label("p"),
               rel(Lead.first_claimed_at).label("first_claim"),
               rel(Lead.first_touch_at).label("t"),
               rel(func.coalesce(Lead.first_touch_at, Lead.decided_at)).label("k"),
               target.label("h"))
        .select_from(Lead)
        .where(_scope(period))
    )
    if rep is not None:
        leads = leads.where(Lead.owner_id == rep)
    a = leads.offset(0).subquery("a")
    # time to claim counts from the hand-off even if a claim was stamped before it (greatest()
    # would skip a NULL: no claim stays NULL)
    claim = case((a.c.first_claim.is_not(None), func.greatest(a.c.first_claim, a.c.p)))
    passed = [col for col in a.c if col.name not in ("p", "first_claim", "t")]
    b = select(*passed, a.c.p, claim.label("c"), a.c.t,
               func.width_bucket(a.c.p, starts).label("ip"),
               func.width_bucket(claim, starts).label("ic"),
               func.width_bucket(a.c.t, starts).label("it")).offset(0).subquery("b")

    def open_before(value: Any, i: Any) -> Any:
        return case((i > 0, before[i] + func.least(value, ends[i]) - starts[i]),
                    (i == 0, literal(0, BigInteger)))

    kept = [col for col in b.c if col.name not in ("ip", "ic", "it")]
    c = select(*kept, open_before(b.c.p, b.c.ip).label("op"),
               open_before(b.c.c, b.c.ic).label("oc"),
               open_before(b.c.t, b.c.it).label("ot")).offset(0).subquery("c")
    due_at = c.c.op + c.c.h
    d = select(*[col for col in c.c if col.name not in ("oc", "ot", "op", "h")],
               case((c.c.posted, c.c.oc - c.c.op)).label("claim_us"),
               case((c.c.posted, c.c.ot - c.c.op)).label("contact_us"),
               due_at.label("target"),
               (func.width_bucket(due_at - 1, after) + 1).label("j")).offset(0).subquery("d")
    e = select(*[col for col in d.c if col.name not in ("target", "j")],
               (starts[d.c.j] + (d.c.target - before[d.c.j])).label("due")).subquery("e")
    lo, hi = table.lo - origin, table.hi - origin
    fractions = bindparam("fractions", list(_FRACTIONS), type_=ARRAY(Double))
    on = e.c.posted
    counted = _counts({n: e.c[n] for n in atoms}, policy)
    figures = [
        *(func.count().filter(cond).label(n) for n, cond in counted.items()
          if n != "touches_on_decided"),
        func.coalesce(func.sum(e.c.touches).filter(counted["touches_on_decided"]), 0)
        .label("touches_on_decided"),
        func.count(e.c.claim_us).label("claim_n"),
        func.percentile_disc(fractions).within_group(e.c.claim_us).label("claim_q"),
        func.count(e.c.contact_us).label("contact_n"),
        func.percentile_disc(fractions).within_group(e.c.contact_us).label("contact_q"),
        func.count().filter(and_(on, or_(e.c.k.is_not(None), e.c.due <= micros(now) - origin)))
        .label("fc_settled"),
        func.count().filter(and_(on, e.c.k <= e.c.due)).label("fc_on_time"),
        func.count().filter(and_(on, or_(
            e.c.p < lo, e.c.p > hi, e.c.c > hi, e.c.t < lo, e.c.t > hi, e.c.due.is_(None))))
        .label("outside"),
    ]
    if team and reps:
        query = select(e.c.owner, func.grouping(e.c.owner).label("total"), *figures).group_by(
            func.grouping_sets(tuple_(e.c.owner), tuple_()))
    elif reps:
        query = select(e.c.owner, literal(0).label("total"), *figures).group_by(e.c.owner)
    else:
        query = select(literal(None).label("owner"), literal(1).label("total"), *figures)
    rows = session.execute(query).mappings().all()
    if any(row["outside"] for row in rows):
        return None
    names = list(counted)
    out: dict[_Key, _Raw] = {}
    for row in rows:
        key: _Key = TEAM if row["total"] else row["owner"]
        out[key] = _Raw({n: int(row[n] or 0) for n in names},
                        _durations(row["claim_n"], row["claim_q"]),
                        _durations(row["contact_n"], row["contact_q"]),
                        int(row["fc_settled"]), int(row["fc_on_time"]))
    return out


def _durations(count: int, ranks: Sequence[int] | None) -> Durations:
    """``Durations.of`` from the count and the (lower middle, upper middle, p90) microseconds."""
    if not count or not ranks:
        return Durations()
    low, high, p90 = (_minutes(timedelta(microseconds=v)) for v in ranks)
    return Durations(int(count), low if count % 2 else (low + high) / 2, p90)


@dataclass(frozen=True)
class _TierOf:
    tier: str | None


def _targets_by_tier(policy: Policy) -> dict[str | None, timedelta]:
    """The first-contact window of each tier the policy names (None: leads of no tier; a tier
    the policy no longer names gets that too, as ``first_contact_target_hours`` decides)."""
    names = [None, *(tier.name for tier in policy.tiers if tier.name)]
    return {name: timedelta(hours=first_contact_target_hours(_TierOf(name), policy))
            for name in names}


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
    for owner, reason, count in session.execute(query):
        out[owner if by_rep else None][reason or "other"] = int(count)
    return dict(out)


def _open_breaches(session: Session, rep: str | None, limit: int) -> BreachList:
    """Open leads with a breach: the page and the total ("+N more") in one grouped query, then
    the page's promises (at most ``limit`` leads, by index)."""
    open_leads = select(Lead.id).where(Lead.status.in_(OPEN_STATUSES))
    if rep is not None:
        open_leads = open_leads.where(Lead.owner_id == rep)
    breached = (  # grouped over open leads only: closed leads' breaches pile up with history
        select(LeadEvent.lead_id, func.min(LeadEvent.at).label("first_at"))
        .where(LeadEvent.kind == "breach", LeadEvent.lead_id.in_(open_leads))
        .group_by(LeadEvent.lead_id)
        .subquery()
    )
    query = (
        select(Lead.id, Lead.owner_id, Lead.contact_name, Lead.company_name, Lead.channel_id,
               Lead.message_ts, breached.c.first_at, func.count().over().label("total"))
        .join(breached, breached.c.lead_id == Lead.id)
        .where(Lead.status.in_(OPEN_STATUSES))
        .order_by(breached.c.first_at, Lead.id)
        .limit(limit)
    )
    if rep is not None:
        query = query.where(Lead.owner_id == rep)
    page = session.execute(query).all()
    total = int(page[0][-1]) if page else 0
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
        for lead_id, owner, name, company, channel, ts, first_at, _ in page
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

