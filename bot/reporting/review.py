"""The monthly review pack (SPEC 1 and 4): the month's figures, breakdowns, suggestions, CSV.

Both sides meet once a month to review the agreement. The pack gives them, for one calendar
month in the policy's time zone:

- every promise against its target, with the month before (``bot.reporting.metrics.scorecard``: one
  definition of each figure for ``/sla-status``, the digest and the review);
- conversion (converted ÷ decided, leads *decided* in the month) and recycle reasons broken
  down by MQL-definition criterion, by source and by behaviour type, and conversion by
  definition version;
- the deals (SPEC 10, ``bot.reporting.outcome_metrics``): the funnel MQL → SQL → won with its
  rates and a chart, pipeline and revenue per currency, median days from SQL to close, loss reasons
  ranked, and the deals broken down by source, criterion, behaviour, tier, definition version
  and agreement version;
- plain suggestions, each a pure rule over those figures (thresholds are named constants
  below; a win rate only with ``MIN_CLOSED_FOR_WIN_RATE`` closed deals behind it), or
  "All promises kept" when none fires;
- a CSV of the month's leads with their timings and no personal data.

How the breakdowns are computed: by source, by behaviour type and by definition version are
SQL aggregates (grouped queries). By criterion is NOT: the criteria a lead matched live in the
``Lead.qualification`` JSON (a list), and unnesting a JSON list portably (SQLite's
``json_each`` vs PostgreSQL's ``jsonb_array_elements``) is awkward, so ONE query fetches
``(qualification, status, reason)`` for the month's decided leads and Python counts them —
bounded by the leads decided in the month. Likewise the first-contact breaches of the month
are fetched as ``(posted_at)`` instants (one query, bounded by the month's breaches) to put them
in local weekday / half-day slots, which needs the time zone.

When it is posted: the pack of month M is due on ``[review] post_on_day`` of the month after,
at the digest hour (``[digest] hour``, 09:00 by default). ``review_step`` runs in every sweep
and posts the *latest* due month's pack unless it was queued already — so a bot that was down
on the 1st posts it once when it comes back, and a bot down for months posts only the latest
(an operator can post any month with ``sla-bot report --month YYYY-MM --post``).

Exactly once: the pack is one outbox row keyed ``review:<YYYY-MM>``; the unique key is the
guarantee (two sweepers race, one insert wins), and the CLI uses the same key; its funnel chart
follows as ``review:<YYYY-MM>:chart``. The sweep step and the queueing are the digest's too:
``bot.reporting.posting``.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, case, cast, func, or_, select

from bot.agreement.reading import versions_in_force
from bot.event_kind import Fact
from bot.lifecycle import SQL_STATUSES
from bot.outcomes import exact_text
from bot.policy import Policy
from bot.reporting import metrics
from bot.reporting.chart import render_funnel_chart
from bot.reporting.metrics import Scorecard
from bot.reporting.outcome_metrics import (
    DealFigures,
    DealSummary,
    DealTally,
    deal_columns,
    deal_scope,
    deal_summary,
)
from bot.reporting.periods import Period, month
from bot.reporting.posting import Chart, ReportPost, Schedule, chart_note, queue_post, schedule_step
from bot.services import Services
from bot.terminal_text import blocks_as_text
from bot.views.agreement import AgreementHeadline
from bot.views.review import funnel_comment, funnel_labels, funnel_stages, review_message
from storage.models import Activity, Lead, LeadEvent, LeadStatus
from storage.report_queries import ReportQueries
from storage.unit_of_work import UnitOfWorkFactory

__all__ = [
    "CSV_COLUMNS",
    "BadMonth",
    "BreachSlot",
    "Breakdown",
    "ReviewFigures",
    "Suggestion",
    "build_review",
    "due_month",
    "parse_month",
    "queue_review",
    "review_figures",
    "review_key",
    "review_step",
    "suggestions",
    "write_csv",
]

log = logging.getLogger(__name__)

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
#: an SQL counts as converted whatever its deal did since (won, lost)
_SQL = tuple(sorted(s.value for s in SQL_STATUSES))
_DECIDED = (*_SQL, LeadStatus.RECYCLED.value)

# ------------------------------------------------------------------------------ thresholds

#: a rate compared between months or groups needs at least this many decided leads behind it
MIN_DECIDED_FOR_RATE = 5
#: "the MQL→SQL rate fell": by at least this much (a share: 0.10 = 10 points)
SQL_RATE_DROP = 0.10
#: a breakdown group worth naming: at least this many decided leads...
MIN_GROUP_DECIDED = 3
#: ...converting at most this fraction of the team's rate
WEAK_GROUP_FACTOR = 0.5
#: the MQL volume promise counts as missed below this share of the target
MQL_TARGET_SHARE = 1.0
#: a weekday/half-day slot is a pattern when it holds at least this many breaches...
HOTSPOT_MIN = 2
#: ...and at least this share of the month's first-contact breaches
HOTSPOT_SHARE = 0.5
#: a win rate is compared only with at least this many deals closed behind it, in the group
#: and overall: below it one lucky or unlucky deal swings the rate by 10 points or more, and
#: a meeting would review a rule on noise. A constant, not a setting: the agreement's
#: sections are versioned and approved by both sides, and how the pack reads its figures is
#: not part of what they agree.
MIN_CLOSED_FOR_WIN_RATE = 10
#: a group's win rate worth naming: at most this fraction of the overall win rate
WEAK_WIN_FACTOR = 0.5
#: the deal breakdowns, in the order the pack shows them (locale keys ``review.deals_by.*``)
DEAL_DIMENSIONS = ("source", "criterion", "behaviour", "tier", "definition", "agreement")


class BadMonth(ValueError):
    """``--month`` that is not ``YYYY-MM``."""


# ------------------------------------------------------------------------------ figures


@dataclass(frozen=True)
class Breakdown:
    """One group of the month's decided leads (a criterion, a source, a behaviour type...)."""

    key: str
    decided: int
    converted: int
    #: recycle reasons in the group, most frequent first
    reasons: tuple[tuple[str, int], ...] = ()
    #: a criterion group's code and values (``matched_codes`` without the lead's own number),
    #: rendered in the reader's language; None for other groups and leads stored without codes
    criterion: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def recycled(self) -> int:
        return self.decided - self.converted

    @property
    def rate(self) -> float | None:
        return self.converted / self.decided if self.decided else None


@dataclass(frozen=True)
class BreachSlot:
    """First-contact breaches of leads handed off in one local weekday / half-day."""

    weekday: int  # 0 Monday .. 6 Sunday
    afternoon: bool
    count: int


@dataclass(frozen=True)
class AgreementFigures:
    """Leads handed off in the month under one agreement version (None: before versions were
    recorded), when the agreement changed during the month (SPEC 9)."""

    number: int | None
    since: datetime | None
    handed_off: int
    first_contact_settled: int
    first_contact_on_time: int
    decided: int
    converted: int

    @property
    def first_contact_rate(self) -> float | None:
        return (self.first_contact_on_time / self.first_contact_settled
                if self.first_contact_settled else None)

    @property
    def sql_rate(self) -> float | None:
        return self.converted / self.decided if self.decided else None


@dataclass(frozen=True)
class ReviewFigures:
    period: Period
    previous: Period
    card: Scorecard
    before: Scorecard
    min_touches: int
    handoff_hours: int
    decision_days: int
    current_version: str
    by_criterion: tuple[Breakdown, ...] = ()
    by_source: tuple[Breakdown, ...] = ()
    #: per activity type present on a lead (a lead counts once in each of its types)
    by_behaviour: tuple[Breakdown, ...] = ()
    #: leads whose history holds ONE activity type only ("download only"); "" = no history
    by_single_behaviour: tuple[Breakdown, ...] = ()
    #: by definition version, over every lead decided before the month's end, newest first
    by_version: tuple[Breakdown, ...] = ()
    first_contact_breaches: int = 0
    breach_slots: tuple[BreachSlot, ...] = ()
    #: the agreement versions in force during the month, oldest first (SPEC 9)
    agreement_versions: tuple[AgreementHeadline, ...] = ()
    #: per version, only when the agreement changed during the month
    by_agreement: tuple[AgreementFigures, ...] = ()
    #: the month's deals (SPEC 10): the funnel's SQLs and wins, pipeline, revenue, days to
    #: close, loss reasons; None only for figures built by hand
    deals: DealSummary | None = None
    #: the deals per group, by each of ``DEAL_DIMENSIONS`` (biggest groups first)
    deals_by: tuple[tuple[str, tuple[DealFigures, ...]], ...] = ()
    #: a criterion group's code (``Breakdown.criterion``), for every criterion key above
    criterion_codes: Mapping[str, Mapping[str, Any] | None] = field(
        default_factory=dict, compare=False)


def review_figures(services: Services, period: Period) -> ReviewFigures:
    """Every figure of the pack for ``period`` (short reads; nothing is written)."""
    policy = services.policy
    previous = _previous_month(period, policy.tz)
    card = metrics.scorecard(services, policy, period)
    before = metrics.scorecard(services, policy, previous)
    in_force = versions_in_force(services.uow, period)
    deals = deal_summary(services, period)
    with services.unit_of_work() as uow:
        reads = uow.reports
        criteria, deals_by_criterion, codes = _by_criterion(reads, period)
        behaviour, deals_by_behaviour = _by_behaviour(reads, period)
        deals_by = {**_deals_by_columns(reads, period),
                    "criterion": deals_by_criterion, "behaviour": deals_by_behaviour}
        sources = _grouped(reads, period, Lead.source)
        single = _by_single_behaviour(reads, period)
        versions = _by_version(reads, period)
        breaches, slots = _breach_slots(reads, period, policy.tz)
        per_version = (_by_agreement(reads, period, in_force, services.clock.now())
                       if len(in_force) > 1 else ())
        uow.rollback()
    agreement = policy.agreement
    return ReviewFigures(
        period=period, previous=previous, card=card, before=before,
        min_touches=agreement.min_touches, handoff_hours=agreement.handoff_within_hours,
        decision_days=agreement.decision_days,
        current_version=policy.mql_definition.version,
        by_criterion=criteria, by_source=sources, by_behaviour=behaviour,
        by_single_behaviour=single, by_version=versions,
        first_contact_breaches=breaches, breach_slots=slots,
        agreement_versions=in_force, by_agreement=per_version,
        deals=deals, deals_by=tuple((d, deals_by.get(d, ())) for d in DEAL_DIMENSIONS),
        criterion_codes=codes,
    )


def _previous_month(period: Period, tz: ZoneInfo) -> Period:
    local = (period.start - timedelta(days=1)).astimezone(tz)
    return month(local.year, local.month, tz)


def _decided_in(period: Period) -> Any:
    return and_(Lead.decided_at >= period.start, Lead.decided_at < period.end,
                Lead.status.in_(_DECIDED))


def _converted() -> Any:
    return func.coalesce(func.sum(case((Lead.status.in_(_SQL), 1),
                                       else_=0)), 0)


def _sorted(rows: Iterable[Breakdown]) -> tuple[Breakdown, ...]:
    """Biggest groups first, then by name: the ones a meeting should look at lead."""
    return tuple(sorted(rows, key=lambda b: (-b.decided, b.key)))


def _with_reasons(
    counts: dict[str, tuple[int, int]], reasons: dict[str, Counter[str]],
    criteria: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> tuple[Breakdown, ...]:
    return _sorted(
        Breakdown(key, decided, converted,
                  tuple(sorted(reasons.get(key, Counter()).items(),
                               key=lambda kv: (-kv[1], kv[0]))),
                  criterion=(criteria or {}).get(key))
        for key, (decided, converted) in counts.items()
    )


def _grouped(reads: ReportQueries, period: Period, column: Any) -> tuple[Breakdown, ...]:
    """Decided / converted and recycle reasons per value of ``column``: two grouped queries."""
    counts = {
        str(key or ""): (int(decided), int(converted))
        for key, decided, converted in reads.rows(
            select(column, func.count(), _converted()).where(_decided_in(period))
            .group_by(column))
    }
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for key, reason, count in reads.rows(
        select(column, Lead.decision_reason, func.count())
        .where(_decided_in(period), Lead.status == LeadStatus.RECYCLED.value)
        .group_by(column, Lead.decision_reason)
    ):
        reasons[str(key or "")][reason or "other"] += int(count)
    return _with_reasons(counts, reasons)


def criterion_key(matched: str) -> str:
    """A matched criterion as a group name: the lead's own number dropped.

    ``employees: 250 ≥ 50`` and ``score: 72 ≥ 30`` would otherwise be one group per lead;
    behaviour rules, industries and title keywords are kept as written.
    """
    name, _, rest = matched.partition(": ")
    if name in {"employees", "score"} and rest:
        _, _, bound = rest.partition(" ")
        return f"{name}: {bound}" if bound else name
    return matched


#: a matched criterion's own values that are the lead's, not the definition's: dropped to group
_LEADS_OWN = {"employees": "employees", "score": "score"}


def criterion_group(code: Mapping[str, Any]) -> dict[str, Any]:
    """A matched criterion's code as a group: ``{"code": "employees", "employees": 250,
    "low": 50}`` → ``{"code": "employees", "low": 50}`` (one group per bound, not per lead)."""
    own = _LEADS_OWN.get(str(code.get("code")))
    return {k: v for k, v in code.items() if k != own}


def _by_criterion(
    reads: ReportQueries, period: Period
) -> tuple[tuple[Breakdown, ...], tuple[DealFigures, ...], dict[str, Mapping[str, Any] | None]]:
    """Per matched MQL-definition criterion: ONE query of the month's decided leads' lists
    (and of the deals closed in the month), for conversion and for the deals.

    Grouped by the stored codes (``matched_codes``), so the pack names each criterion in its
    reader's language; a group keeps the English wording of its first lead as its key (stable
    in the CSV of suggestions and in the API). Leads stored before criteria had codes are
    grouped by that English wording. Aggregated in Python (see module doc): leads alike (the
    same lists, status, reason, currency, decided and closed in the month or not) are read as
    one grouped row, so the rows are bounded by the leads decided or closed in the month, and
    far fewer when leads share their criteria. Returns the conversion groups, the deal groups
    and every group's code.
    """
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    keys: dict[str, str] = {}  # a group's code (as JSON) → its key
    criteria: dict[str, Mapping[str, Any] | None] = {}
    deals = DealTally(period)
    decided_here, closed_here = _decided_in(period), deal_scope(period, closed_only=True)
    # only the two lists are read: decoding each lead's whole qualification took seconds
    # for a month of 100,000 leads
    leads = (
        select(Lead.qualification["matched"].label("matched"),
               Lead.qualification["matched_codes"].label("codes"),
               Lead.status, Lead.decision_reason, Lead.deal_currency, Lead.deal_amount,
               case((decided_here, 1), else_=0).label("decided"),
               case((closed_here, 1), else_=0).label("closed"))
        .where(or_(decided_here, closed_here))
        .subquery()
    )
    alike = [leads.c.matched, leads.c.codes, leads.c.status, leads.c.decision_reason,
             leads.c.deal_currency, leads.c.decided, leads.c.closed]
    for (matched_json, codes_json, status, reason, currency, decided, closed, n, amount,
         priced) in reads.rows(
        select(*alike, func.count(), func.sum(leads.c.deal_amount),
               func.count(leads.c.deal_amount)).group_by(*alike)
    ):
        matched = [str(m) for m in matched_json or []]
        codes = [c for c in codes_json or [] if isinstance(c, Mapping)]
        groups: dict[str, None] = {}
        if codes and len(codes) == len(matched):
            for english, code in zip(matched, codes, strict=True):
                group = criterion_group(code)
                signature = json.dumps(group, sort_keys=True, ensure_ascii=False, default=str)
                key = keys.setdefault(signature, criterion_key(english))
                criteria.setdefault(key, group)
                groups[key] = None
        else:
            for english in matched:
                groups[criterion_key(english)] = None
        n = int(n)
        deals.add_alike(groups, status, decided=bool(decided), closed=bool(closed),
                        currency=currency, leads=n, amount=amount, priced=int(priced))
        if not decided:
            continue  # deals closed in the month, decided before it
        for key in groups:
            counts[key][0] += n
            if status in _SQL:
                counts[key][1] += n
            else:
                reasons[key][reason or "other"] += n
    breakdowns = _with_reasons({k: (v[0], v[1]) for k, v in counts.items()}, reasons, criteria)
    return breakdowns, _deal_groups(deals), criteria


def _deal_groups(tally: DealTally) -> tuple[DealFigures, ...]:
    """Groups with deals in the month (an SQL or a closed deal), the biggest first."""
    groups = [g for g in tally.figures().values() if g.sqls or g.closed]
    return tuple(sorted(groups, key=lambda g: (-(g.sqls + g.closed), -g.closed, g.key)))


#: the deal breakdowns read from a lead's own columns, and the column each reads
_DEAL_COLUMNS: dict[str, Any] = {
    "source": Lead.source,
    "tier": Lead.tier,
    "definition": Lead.definition_version,
    "agreement": cast(Lead.agreement_version, String),
}


def _deals_by_columns(reads: ReportQueries, period: Period) -> dict[str, tuple[DealFigures, ...]]:
    """The deals by source, tier, definition version and agreement version: ONE grouped query
    (every combination of the four with the currency; few rows), rolled up per dimension."""
    columns = [c.label(name) for name, c in _DEAL_COLUMNS.items()]
    query = (select(*columns, Lead.deal_currency, *deal_columns(period))
             .where(deal_scope(period))
             .group_by(*_DEAL_COLUMNS.values(), Lead.deal_currency))
    tallies = {name: DealTally(period) for name in _DEAL_COLUMNS}
    for row in reads.rows(query).mappings():
        for name, tally in tallies.items():
            tally.add_row(str(row[name] or ""), row)
    return {name: _deal_groups(tally) for name, tally in tallies.items()}




def _lead_types(period: Period) -> Any:
    """Distinct (lead, activity type) pairs of the month's decided leads (a subquery)."""
    return (
        select(Activity.lead_id.label("lead_id"), func.lower(Activity.type).label("type"))
        .join(Lead, Lead.id == Activity.lead_id)
        .where(_decided_in(period))
        .distinct()
        .subquery()
    )


def _by_behaviour(
    reads: ReportQueries, period: Period
) -> tuple[tuple[Breakdown, ...], tuple[DealFigures, ...]]:
    """Per activity type present on the lead: which behaviours predict SQLs, and the deals.

    ONE aggregate over the (lead, type) pairs of the leads decided or closed in the month,
    grouped by type, currency and recycle reason: conversion is its decided and SQL counts,
    the recycle reasons its recycled count per reason, the deals its ``deal_columns``.
    """
    pairs = (
        select(Activity.lead_id.label("lead_id"), func.lower(Activity.type).label("type"))
        .join(Lead, Lead.id == Activity.lead_id)
        .where(deal_scope(period))
        .distinct()
        .subquery()
    )
    recycled = and_(_decided_in(period), Lead.status == LeadStatus.RECYCLED.value)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    deals = DealTally(period)
    for row in reads.rows(
        select(pairs.c.type, Lead.deal_currency, Lead.decision_reason, *deal_columns(period),
               func.count().filter(recycled).label("recycled"))
        .join(Lead, Lead.id == pairs.c.lead_id)
        .group_by(pairs.c.type, Lead.deal_currency, Lead.decision_reason)
    ).mappings():
        kind = str(row["type"])
        deals.add_row(kind, row)
        counts[kind][0] += int(row["decided"])
        counts[kind][1] += int(row["sqls"])
        if row["recycled"]:
            reasons[kind][row["decision_reason"] or "other"] += int(row["recycled"])
    conversion = {k: (v[0], v[1]) for k, v in counts.items() if v[0]}
    return _with_reasons(conversion, reasons), _deal_groups(deals)


def _by_single_behaviour(reads: ReportQueries, period: Period) -> tuple[Breakdown, ...]:
    """Leads with one activity type only ("download only"), and leads with no history ("")."""
    pairs = _lead_types(period)
    per_lead = (
        select(pairs.c.lead_id, func.min(pairs.c.type).label("type"),
               func.count().label("kinds"))
        .group_by(pairs.c.lead_id).subquery()
    )
    counts = {
        str(kind): (int(decided), int(converted))
        for kind, decided, converted in reads.rows(
            select(per_lead.c.type, func.count(), _converted())
            .join(Lead, Lead.id == per_lead.c.lead_id)
            .where(per_lead.c.kinds == 1).group_by(per_lead.c.type))
    }
    none = reads.rows(
        select(func.count(), _converted()).where(
            _decided_in(period), ~select(Activity.id).where(Activity.lead_id == Lead.id)
            .exists())
    ).one()
    if none[0]:
        counts[""] = (int(none[0]), int(none[1]))
    return _with_reasons(counts, {})


#: how many definition versions the pack compares (the current one and those before it)
MAX_VERSIONS = 3


def _by_version(reads: ReportQueries, period: Period) -> tuple[Breakdown, ...]:
    """Conversion per definition version, over every lead decided before the month's end.

    Not only the month: a definition changes rarely, so the month alone usually holds one
    version and nothing to compare. Newest version (latest qualified lead) first.
    """
    rows = reads.rows(
        select(Lead.definition_version, func.count(), _converted(),
               func.max(Lead.qualified_at).label("latest"))
        .where(Lead.decided_at < period.end, Lead.status.in_(_DECIDED))
        .group_by(Lead.definition_version)
        .order_by(func.max(Lead.qualified_at).desc())
        .limit(MAX_VERSIONS)
    ).all()
    return tuple(Breakdown(str(version or ""), int(decided), int(converted))
                 for version, decided, converted, _ in rows)


def _by_agreement(
    reads: ReportQueries, period: Period, in_force: Sequence[AgreementHeadline], now: datetime
) -> tuple[AgreementFigures, ...]:
    """Leads handed off in the month, per the agreement version they were handed off under
    (``leads.agreement_version``): volume, first contact on time (settled and kept as
    ``bot.reporting.metrics`` counts them, from the stamped deadline), and MQL → SQL among the
    decided.
    """
    kept = func.coalesce(Lead.first_touch_at, Lead.decided_at)
    due = Lead.first_contact_due_at
    rows = reads.rows(
        select(Lead.agreement_version, func.count(),
               func.count().filter(or_(kept.is_not(None), due <= now)),
               func.count().filter(kept <= due),
               func.count().filter(Lead.status.in_(_DECIDED)),
               func.count().filter(Lead.status.in_(_SQL)))
        .where(Lead.posted_at >= period.start, Lead.posted_at < period.end)
        .group_by(Lead.agreement_version)
    ).all()
    since = {head.number: head.since for head in in_force}
    figures = [AgreementFigures(number, since.get(number), int(n), int(settled), int(on_time),
                                int(decided), int(converted))
               for number, n, settled, on_time, decided, converted in rows]
    return tuple(sorted(figures, key=lambda f: -1 if f.number is None else f.number))


def _breach_slots(
    reads: ReportQueries, period: Period, tz: ZoneInfo
) -> tuple[int, tuple[BreachSlot, ...]]:
    """First-contact breaches recorded in the month, by the lead's local hand-off slot.

    The breach event's ``at`` is the missed deadline; what a team can change is how leads
    handed off at a given time are covered, so the slot is the hand-off's (e.g. Friday
    afternoon leads breach on Monday morning). One query, bounded by the month's breaches.
    """
    slots: Counter[tuple[int, bool]] = Counter()
    total = 0
    for (posted_at,) in reads.rows(
        select(Lead.posted_at).join(LeadEvent, LeadEvent.lead_id == Lead.id)
        .where(LeadEvent.kind == Fact.BREACH, LeadEvent.at >= period.start,
               LeadEvent.at < period.end)
        .where(LeadEvent.data["promise"].as_string() == "first_contact")
    ):
        total += 1
        if posted_at is not None:
            local = posted_at.astimezone(tz)
            slots[(local.weekday(), local.hour >= 12)] += 1
    ordered = sorted(slots.items(), key=lambda kv: (-kv[1], kv[0]))
    return total, tuple(BreachSlot(day, pm, count) for (day, pm), count in ordered)


# ------------------------------------------------------------------------------ suggestions


@dataclass(frozen=True)
class Suggestion:
    """One plain suggestion: a locale key under ``review.suggest`` and its values.

    Floats are shares (rendered as percentages), ints are counts, strings are labels (user or
    configuration text: escaped when rendered).
    """

    key: str
    params: dict[str, Any] = field(default_factory=dict)


Rule = Callable[[ReviewFigures], "Suggestion | None"]


def _weakest(groups: Sequence[Breakdown], team_rate: float) -> Breakdown | None:
    """The lowest-converting group big enough to name, when it is well below the team."""
    candidates = [g for g in groups if g.decided >= MIN_GROUP_DECIDED and g.rate is not None
                  and g.rate <= team_rate * WEAK_GROUP_FACTOR]
    return min(candidates, key=lambda g: (g.rate or 0.0, -g.decided, g.key), default=None)


def rule_definition(figures: ReviewFigures) -> Suggestion | None:
    """MQL target met but MQL→SQL fell: the definition lets in leads that do not convert."""
    card, before = figures.card, figures.before
    if card.mql_rate is None or card.mql_rate < MQL_TARGET_SHARE:
        return None
    if card.decided < MIN_DECIDED_FOR_RATE or before.decided < MIN_DECIDED_FOR_RATE:
        return None
    now, then = card.sql_rate, before.sql_rate
    if now is None or then is None or then - now < SQL_RATE_DROP - 1e-9:  # float noise
        return None
    weak = _weakest(figures.by_single_behaviour, then)
    if weak is not None:
        label = weak.key
        return Suggestion("definition_only", {"before": then, "now": now, "behaviour": label,
                                              "rate": weak.rate or 0.0})
    crit = _weakest(figures.by_criterion, then)
    if crit is not None:
        return Suggestion("definition_criterion", {"before": then, "now": now,
                                                   "criterion": crit.key,
                                                   "criterion_code": crit.criterion,
                                                   "rate": crit.rate or 0.0})
    return Suggestion("definition", {"before": then, "now": now})


def rule_volume(figures: ReviewFigures) -> Suggestion | None:
    """Marketing handed off fewer MQLs than agreed."""
    card = figures.card
    if card.mql_rate is None or card.mql_rate >= MQL_TARGET_SHARE:
        return None
    return Suggestion("volume", {"actual": card.handed_off,
                                 "target": round(card.mql_target or 0)})


def rule_late_handoff(figures: ReviewFigures) -> Suggestion | None:
    late = figures.card.handed_off - figures.card.handoff_on_time
    return Suggestion("late_handoff", {"count": late, "hours": figures.handoff_hours}) \
        if late > 0 else None


def rule_history(figures: ReviewFigures) -> Suggestion | None:
    missing = figures.card.handed_off - figures.card.with_history
    return Suggestion("history", {"count": missing}) if missing > 0 else None


def rule_first_contact(figures: ReviewFigures) -> Suggestion | None:
    """First contact breached: name the hand-off slot when most breaches share it."""
    total = figures.first_contact_breaches
    if total <= 0:
        return None
    top = figures.breach_slots[0] if figures.breach_slots else None
    if top is not None and top.count >= HOTSPOT_MIN and top.count >= total * HOTSPOT_SHARE:
        return Suggestion("first_contact_slot", {"count": total, "slot_count": top.count,
                                                 "weekday": top.weekday,
                                                 "afternoon": top.afternoon})
    return Suggestion("first_contact", {"count": total})


def rule_touches(figures: ReviewFigures) -> Suggestion | None:
    count = figures.card.recycled_under_min_touches
    return Suggestion("touches", {"count": count, "touches": figures.min_touches}) \
        if count > 0 else None


def rule_decision(figures: ReviewFigures) -> Suggestion | None:
    late = figures.card.decision_settled - figures.card.decision_on_time
    return Suggestion("decision", {"count": late, "days": figures.decision_days}) \
        if late > 0 else None


def rule_win_rate(figures: ReviewFigures) -> Suggestion | None:
    """A group that reaches SQL yet rarely wins: its rule (or source, tier…) brings in leads
    sales cannot close. Only with ``MIN_CLOSED_FOR_WIN_RATE`` closed deals in the group and
    overall; the weakest group of all the breakdowns is named, the most closed deals first
    when rates tie."""
    if figures.deals is None:
        return None
    overall = figures.deals.figures
    if overall.closed < MIN_CLOSED_FOR_WIN_RATE or overall.win_rate is None:
        return None
    candidates = [
        (group.win_rate, -group.closed, rank, group.key, dimension, group)
        for rank, (dimension, groups) in enumerate(figures.deals_by)
        for group in groups
        if group.closed >= MIN_CLOSED_FOR_WIN_RATE and group.win_rate is not None
        and group.sql_rate is not None
        and group.win_rate <= overall.win_rate * WEAK_WIN_FACTOR + 1e-9  # float noise
    ]
    if not candidates:
        return None
    *_, dimension, weak = min(candidates, key=lambda c: c[:4])
    params: dict[str, Any] = {"group": weak.key, "sql_rate": weak.sql_rate,
                              "win_rate": weak.win_rate, "overall": overall.win_rate}
    if dimension == "criterion":
        params["criterion_code"] = figures.criterion_codes.get(weak.key)
    return Suggestion(f"win_rate_{dimension}", params)


#: every rule, in the order the pack lists what it finds (marketing's side first)
RULES: tuple[Rule, ...] = (rule_volume, rule_definition, rule_late_handoff, rule_history,
                           rule_first_contact, rule_touches, rule_decision, rule_win_rate)


def suggestions(figures: ReviewFigures) -> list[Suggestion]:
    """What the rules find; an empty list is a healthy month ("All promises kept")."""
    return [s for rule in RULES if (s := rule(figures)) is not None]


# ------------------------------------------------------------------------------ the pack


@dataclass(frozen=True)
class Review:
    figures: ReviewFigures
    suggestions: list[Suggestion]
    message: dict[str, Any]  # {"text", "blocks"}
    #: the funnel chart (MQL → SQL → won); None for a month without an MQL or a deal
    chart_png: bytes | None = None
    chart_comment: str = ""

    def as_text(self) -> str:
        return blocks_as_text(self.message) + chart_note(
            self.figures.period.label, self.chart_png, self.chart_comment)

    def post(self) -> ReportPost:
        """The pack under the month's key, then its funnel chart (as the digest's chart)."""
        label = self.figures.period.label
        chart = (None if self.chart_png is None else
                 Chart(f"sla-review-{label}-funnel.png", self.chart_png, self.chart_comment))
        return ReportPost(review_key(self.figures.period), self.message, chart)


def build_review(services: Services, period: Period) -> Review:
    figures = review_figures(services, period)
    found = suggestions(figures)
    t, tz = services.t, services.policy.tz
    stages = funnel_stages(figures, t)
    chart = (render_funnel_chart(stages, funnel_labels(figures, t))
             if any(stage.count for stage in stages) else None)
    return Review(figures, found, review_message(figures, found, t, tz), chart,
                  funnel_comment(figures, t))


def parse_month(label: str, tz: ZoneInfo) -> Period:
    """``2026-11`` → that calendar month in the time zone ``tz`` (the policy's)."""
    match = _MONTH.match(label.strip())
    if match is None or not 1 <= int(match[2]) <= 12:
        raise BadMonth(f"expected a month like 2026-11, got {label!r}")
    return month(int(match[1]), int(match[2]), tz)


def due_at(policy: Policy, period: Period) -> datetime:
    """When the pack of ``period`` falls due: ``post_on_day`` of the next month, digest hour."""
    tz = policy.tz
    following = period.end.astimezone(tz).date()
    day = following.replace(day=policy.review.post_on_day)
    return datetime.combine(day, time(policy.digest.hour), tzinfo=tz)


def due_month(policy: Policy, now: datetime) -> Period:
    """The latest month whose pack is due at ``now``."""
    tz = policy.tz
    local = now.astimezone(tz)
    this = month(local.year, local.month, tz)
    last = _previous_month(this, tz)
    if due_at(policy, last) <= now:
        return last
    return _previous_month(last, tz)


def review_key(period: Period) -> str:
    return f"review:{period.label}"


def review_step(services: Services, now: datetime) -> bool:
    """Sweep step: queue the latest due month's pack once; True when this call queued it."""
    return schedule_step(SCHEDULE, services, now)


def queue_review(services: Services, period: Period, now: datetime,
                 review: Review | None = None) -> bool:
    """Queue the pack under the month's key; False when the key was taken already.

    Figures are read before the writing transaction, so no lock is held while computing.
    """
    review = review or build_review(services, period)
    return queue_post(services.uow, services.outbox_ready,
                      services.policy.channels.digest_channel, review.post(), now)


SCHEDULE = Schedule("monthly review", log, lambda policy: policy.review.enabled, due_month,
                    due_at, review_key, queue_review)


# ------------------------------------------------------------------------------ CSV

CSV_COLUMNS = (
    "external_id", "source", "status", "definition_version", "tier", "owner",
    "qualified_at", "posted_at", "claimed_at", "first_touch_at", "decided_at",
    "minutes_to_claim", "minutes_to_first_contact", "touches", "decision_reason",
    "outcome", "amount", "currency", "closed_at", "loss_reason",
)
#: the ``outcome`` column: an SQL's deal as the CRM last reported it (blank: not an SQL)
_OUTCOME_OF = {LeadStatus.CONVERTED.value: "open", LeadStatus.WON.value: "won",
               LeadStatus.LOST.value: "lost"}
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str | None) -> str:
    """Text as a spreadsheet reads it safely: a leading ``=`` would be run as a formula."""
    text = value or ""
    return "'" + text if text.startswith(_FORMULA) else text


def csv_rows(
    policy: Policy, unit_of_work: UnitOfWorkFactory, period: Period
) -> Iterator[list[str]]:
    """The month's leads (handed off, decided or closed in it), oldest hand-off first; no
    contacts. An SQL's deal: its outcome, exact amount and currency, close and loss reason.

    One query (the first claim is the lead's stored ``first_claimed_at``, as
    ``bot.reporting.metrics`` counts time to claim); business minutes are measured with the
    calendar in Python, row by row.
    """
    tz = policy.tz
    cal = policy.business_calendar
    in_month = ((Lead.posted_at >= period.start) & (Lead.posted_at < period.end)) | (
        (Lead.decided_at >= period.start) & (Lead.decided_at < period.end)) | (
        (Lead.closed_at >= period.start) & (Lead.closed_at < period.end))
    query = (
        select(Lead.external_id, Lead.source, Lead.status, Lead.definition_version, Lead.tier,
               Lead.owner_id, Lead.qualified_at, Lead.posted_at, Lead.first_claimed_at,
               Lead.first_touch_at, Lead.decided_at, Lead.touch_count, Lead.decision_reason,
               Lead.deal_amount, Lead.deal_currency, Lead.closed_at, Lead.loss_reason)
        .where(in_month).order_by(Lead.posted_at, Lead.id)
    )

    def instant(at: datetime | None) -> str:
        return at.astimezone(tz).isoformat(timespec="seconds") if at else ""

    def minutes(start: datetime | None, end: datetime | None) -> str:
        if start is None or end is None:
            return ""
        return str(round(cal.between(start, max(start, end)).total_seconds() / 60))

    with unit_of_work() as uow:
        for (external_id, source, status, version, tier, owner, qualified, posted, claimed,
             touched, decided, touches, reason, amount, currency, closed,
             loss) in uow.reports.rows(query):
            yield [
                _cell(external_id), _cell(source), str(status), _cell(version), _cell(tier),
                owner or "", instant(qualified), instant(posted), instant(claimed),
                instant(touched), instant(decided), minutes(posted, claimed),
                minutes(posted, touched), str(touches or 0), _cell(reason),
                _OUTCOME_OF.get(str(status), ""), exact_text(amount) or "", currency or "",
                instant(closed), _cell(loss),
            ]
        uow.rollback()


def write_csv(services: Services, period: Period, out: IO[str]) -> int:
    """Write the month's CSV (header + one row a lead) to ``out``; returns the row count."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in csv_rows(services.policy, services.uow, period):
        writer.writerow(row)
        count += 1
    return count
