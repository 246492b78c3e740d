"""Deal outcomes in the reports (SPEC 10): the funnel, pipeline and revenue, days to close, loss
reasons — defined once here for ``/sla-status``, the weekly digest and the monthly review.

Definitions (``P`` is the period ``[start, end)``; a rep's figures: the leads the rep owns):

- decided: ``decided_at`` in P, converted or recycled (``Scorecard.decided``).
- SQLs: ``decided_at`` in P and an SQL (converted, won or lost: ``Scorecard.converted``); the
  funnel's MQL → SQL rate is SQLs ÷ decided, the rate every report shows.
- won / lost: ``closed_at`` in P, and won / lost as the CRM last reported it (a later
  correction moves the deal); the win rate is won ÷ (won + lost), deals closed in P.
- pipeline: the deal amounts of the SQLs of P; revenue: those of the deals won in P. Both are
  summed per currency and never converted (an SQL without an amount counts as a deal and adds
  nothing).
- days to close: calendar days from becoming an SQL (``decided_at``) to ``closed_at``, for the
  deals closed in P (whole seconds, never below 0; the median is the mean of the two middle
  values, as ``statistics.median``).
- loss reasons: deals lost in P by reason code (``[outcomes] loss_reasons``), most first.

Every figure is an aggregate in SQL (counts and sums per currency; on PostgreSQL the median as
an ordered-set aggregate, on SQLite from the period's closed deals' durations): the amounts stay
exact (``storage.types.Money``), and nothing per lead is loaded but the durations on SQLite and
the few deals a digest lists.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Double,
    and_,
    bindparam,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from bot.lifecycle import SQL_STATUSES
from bot.reporting.metrics import _reading, median
from bot.reporting.periods import Period
from storage.models import Lead, LeadStatus
from storage.report_queries import ReportQueries

if TYPE_CHECKING:
    from bot.services import Services

__all__ = [
    "ClosedDeal",
    "CurrencySum",
    "DealFigures",
    "DealSummary",
    "DealTally",
    "closed_deals",
    "closed_summaries",
    "deal_columns",
    "deal_scope",
    "deal_summary",
]

SQL_VALUES = tuple(sorted(s.value for s in SQL_STATUSES))
DECIDED_VALUES = (*SQL_VALUES, LeadStatus.RECYCLED.value)
CLOSED_VALUES = (LeadStatus.WON.value, LeadStatus.LOST.value)
SECONDS_A_DAY = 86400


@dataclass(frozen=True)
class CurrencySum:
    """The deals of one currency: how many carry an amount, and its exact sum."""

    currency: str
    amount: Decimal
    deals: int


@dataclass(frozen=True)
class DealFigures:
    """One group's deals in a period (a source, a criterion…; ``key`` "" for them all)."""

    key: str
    decided: int = 0
    sqls: int = 0
    won: int = 0
    lost: int = 0
    pipeline: tuple[CurrencySum, ...] = ()
    revenue: tuple[CurrencySum, ...] = ()

    @property
    def closed(self) -> int:
        return self.won + self.lost

    @property
    def sql_rate(self) -> float | None:
        return self.sqls / self.decided if self.decided else None

    @property
    def win_rate(self) -> float | None:
        return self.won / self.closed if self.closed else None


@dataclass(frozen=True)
class DealSummary:
    """A period's deals for the team (``rep`` None) or one rep. See the module doc."""

    period: Period
    rep: str | None
    figures: DealFigures
    #: median calendar days from SQL to close of the deals closed in the period
    days_to_close: float | None = None
    loss_reasons: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class ClosedDeal:
    """A deal closed in the period, for the digest's list (user text escaped when shown)."""

    lead_label: str
    won: bool
    amount: Decimal | None
    currency: str | None
    loss_reason: str | None
    loss_reason_text: str | None
    owner_id: str | None
    channel_id: str | None
    message_ts: str | None


# ------------------------------------------------------------------------------ SQL


def _in(column: Any, period: Period) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


def _conditions(period: Period) -> dict[str, ColumnElement[bool]]:
    decided = _in(Lead.decided_at, period)
    closed = _in(Lead.closed_at, period)
    return {
        "decided": and_(decided, Lead.status.in_(DECIDED_VALUES)),
        "sqls": and_(decided, Lead.status.in_(SQL_VALUES)),
        "won": and_(closed, Lead.status == LeadStatus.WON.value),
        "lost": and_(closed, Lead.status == LeadStatus.LOST.value),
    }


def deal_scope(period: Period, *, closed_only: bool = False) -> ColumnElement[bool]:
    """The leads a deal figure of the period counts: decided in it, or closed in it."""
    closed = and_(_in(Lead.closed_at, period), Lead.status.in_(CLOSED_VALUES))
    return closed if closed_only else or_(_in(Lead.decided_at, period), closed)


def deal_columns(period: Period) -> list[Any]:
    """The aggregates of ``DealFigures``, to select with ``Lead.deal_currency`` and a group
    key, grouped by both (read back by ``DealTally.add_row``)."""
    cond = _conditions(period)
    return [
        *(func.count().filter(c).label(name) for name, c in cond.items()),
        func.sum(Lead.deal_amount).filter(cond["sqls"]).label("pipeline"),
        func.count(Lead.deal_amount).filter(cond["sqls"]).label("pipeline_deals"),
        func.sum(Lead.deal_amount).filter(cond["won"]).label("revenue"),
        func.count(Lead.deal_amount).filter(cond["won"]).label("revenue_deals"),
    ]


class DealTally:
    """``DealFigures`` per group, summed from grouped rows: of ``deal_columns`` (``add_row``),
    or of leads alike (``add_alike``, for groups SQL cannot form: a lead's matched criteria)."""

    def __init__(self, period: Period) -> None:
        self.period = period
        self._counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self._money: dict[tuple[str, str, str], list[Any]] = {}

    def _add_money(self, key: str, kind: str, currency: str | None, amount: Decimal | None,
                   deals: int) -> None:
        if currency is None or amount is None or not deals:
            return
        entry = self._money.setdefault((key, kind, currency), [Decimal(0), 0])
        entry[0] += amount
        entry[1] += deals

    def add_row(self, key: str, row: Mapping[str, Any]) -> None:
        """A grouped row of ``deal_columns`` with its ``deal_currency``."""
        counts = self._counts[key]
        for i, name in enumerate(("decided", "sqls", "won", "lost")):
            counts[i] += int(row[name] or 0)
        currency = row["deal_currency"]
        self._add_money(key, "pipeline", currency, row["pipeline"], int(row["pipeline_deals"]))
        self._add_money(key, "revenue", currency, row["revenue"], int(row["revenue_deals"]))

    def add_alike(self, keys: Iterable[str], status: str, *, decided: bool, closed: bool,
                  currency: str | None, leads: int, amount: Decimal | None,
                  priced: int) -> None:
        """``leads`` leads of ``deal_scope`` alike (one status, currency, and whether decided
        and closed in the period), ``priced`` of them with an amount summing to ``amount``;
        counted in each of ``keys`` (``_conditions`` in Python)."""
        sql = decided and status in SQL_VALUES
        won = closed and status == LeadStatus.WON.value
        flags = (decided and status in DECIDED_VALUES, sql, won,
                 closed and status == LeadStatus.LOST.value)
        for key in keys:
            counts = self._counts[key]
            for i, flag in enumerate(flags):
                counts[i] += leads if flag else 0
            if sql:
                self._add_money(key, "pipeline", currency, amount, priced)
            if won:
                self._add_money(key, "revenue", currency, amount, priced)

    def figures(self) -> dict[str, DealFigures]:
        sums: dict[tuple[str, str], list[CurrencySum]] = defaultdict(list)
        for (key, kind, currency), (amount, deals) in self._money.items():
            sums[(key, kind)].append(CurrencySum(currency, amount, deals))
        return {key: DealFigures(key, *counts, pipeline=_ordered(sums[(key, "pipeline")]),
                                 revenue=_ordered(sums[(key, "revenue")]))
                for key, counts in self._counts.items()}


def _ordered(sums: Sequence[CurrencySum]) -> tuple[CurrencySum, ...]:
    """The currency with most deals first (a team's own currency leads), then by code."""
    return tuple(sorted(sums, key=lambda s: (-s.deals, s.currency)))


#: the two middle ranks for the median on PostgreSQL
#: (``bot.reporting.metrics._FRACTIONS``' reasoning)
_MIDDLE = (0.5, 0.5 + 1e-12)


def _days_to_close(reads: ReportQueries, period: Period, rep: str | None) -> float | None:
    where = [deal_scope(period, closed_only=True), Lead.decided_at.is_not(None)]
    if rep is not None:
        where.append(Lead.owner_id == rep)
    if reads.on_postgresql:
        seconds = func.greatest(func.round(func.extract(
            "epoch", Lead.closed_at - Lead.decided_at)), 0)
        fractions = bindparam("middle", list(_MIDDLE), type_=ARRAY(Double))
        count, ranks = reads.rows(
            select(func.count(), func.percentile_disc(fractions).within_group(seconds))
            .where(*where)).one()
        if not count or not ranks:
            return None
        low, high = (float(v) / SECONDS_A_DAY for v in ranks)
        return low if count % 2 else (low + high) / 2
    seconds = func.max(func.round(
        (func.julianday(Lead.closed_at) - func.julianday(Lead.decided_at)) * SECONDS_A_DAY), 0)
    values = [float(v) / SECONDS_A_DAY for (v,) in reads.rows(select(seconds).where(*where))]
    return median(values)


def _loss_reasons(
    reads: ReportQueries, period: Period, rep: str | None
) -> tuple[tuple[str, int], ...]:
    query = (select(Lead.loss_reason, func.count())
             .where(_in(Lead.closed_at, period), Lead.status == LeadStatus.LOST.value)
             .group_by(Lead.loss_reason))
    if rep is not None:
        query = query.where(Lead.owner_id == rep)
    counts: dict[str, int] = defaultdict(int)
    for reason, count in reads.rows(query):
        counts[reason or "other"] += int(count)  # a loss reported without a reason
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# ------------------------------------------------------------------------------ public API


def deal_summary(
    source: Services | Session, period: Period, rep: str | None = None, *,
    closed_only: bool = False,
) -> DealSummary:
    """The period's deals (team, or the leads ``rep`` owns).

    ``closed_only``: the deals closed in the period alone (won, lost, revenue, the loss
    reasons) — what ``/sla-status`` and the digest show, from the ``closed_at`` index; the
    SQLs, pipeline and days to close are then left empty (see ``closed_summaries``).
    """
    with _reading(source) as (reads, _):
        if closed_only:
            return _closed(reads, period, rep, only_rep=True)[0]
        query = (select(Lead.deal_currency, *deal_columns(period))
                 .where(deal_scope(period)).group_by(Lead.deal_currency))
        if rep is not None:
            query = query.where(Lead.owner_id == rep)
        tally = DealTally(period)
        for row in reads.rows(query).mappings():
            tally.add_row("", row)
        figures = tally.figures().get("", DealFigures(""))
        days = _days_to_close(reads, period, rep)
        reasons = _loss_reasons(reads, period, rep)
    return DealSummary(period, rep, figures, days, reasons)


def closed_summaries(
    source: Services | Session, period: Period, rep: str | None = None,
) -> tuple[DealSummary, DealSummary | None]:
    """The deals closed in the period for the team, and for ``rep`` when given, from ONE
    statement over the ``closed_at`` index (each as ``deal_summary(closed_only=True)``)."""
    with _reading(source) as (reads, _):
        summaries = _closed(reads, period, rep, only_rep=False)
    return summaries[0], summaries[1] if rep is not None else None


def _closed(reads: ReportQueries, period: Period, rep: str | None, *,
            only_rep: bool) -> list[DealSummary]:
    """Won, lost, revenue and loss reasons of the deals closed in the period, grouped by
    currency and loss reason, and by whether ``rep`` owns them when both the team's and the
    rep's are asked for (``only_rep`` False): ``[team, rep]``; else ``[rep or team]``."""
    cond = _conditions(period)
    keys: list[Any] = [Lead.deal_currency, Lead.loss_reason]
    split = rep is not None and not only_rep
    if split:
        keys.append((Lead.owner_id == rep).label("mine"))
    query = select(
        *keys,
        func.count().filter(cond["won"]).label("won"),
        func.count().filter(cond["lost"]).label("lost"),
        func.sum(Lead.deal_amount).filter(cond["won"]).label("revenue"),
        func.count(Lead.deal_amount).filter(cond["won"]).label("revenue_deals"),
    ).where(deal_scope(period, closed_only=True)).group_by(*keys)
    if only_rep and rep is not None:
        query = query.where(Lead.owner_id == rep)
    owners = [None, rep] if split else [rep if only_rep else None]
    tallies = [DealTally(period) for _ in owners]
    reasons: list[dict[str, int]] = [defaultdict(int) for _ in owners]
    for row in reads.rows(query).mappings():
        values = {"decided": 0, "sqls": 0, "pipeline": None, "pipeline_deals": 0, **row}
        for i in (0, 1) if split and row["mine"] else (0,):
            tallies[i].add_row("", values)
            if row["lost"]:
                reasons[i][row["loss_reason"] or "other"] += int(row["lost"])
    out = []
    for owner, tally, counted in zip(owners, tallies, reasons, strict=True):
        figures = tally.figures().get("", DealFigures(""))
        ranked = tuple(sorted(counted.items(), key=lambda kv: (-kv[1], kv[0])))
        out.append(DealSummary(period, owner, figures, None, ranked))
    return out


def closed_deals(source: Services | Session, period: Period, *,
                 limit: int) -> tuple[ClosedDeal, ...]:
    """Deals closed in the period, wins first, the latest first; at most ``limit``. (Never
    ranked by amount: amounts in different currencies do not compare.)"""
    with _reading(source) as (reads, _):
        rows = reads.rows(
            select(Lead.company_name, Lead.contact_name, Lead.status, Lead.deal_amount,
                   Lead.deal_currency, Lead.loss_reason, Lead.loss_reason_text,
                   Lead.owner_id, Lead.channel_id, Lead.message_ts)
            .where(deal_scope(period, closed_only=True))
            .order_by((Lead.status == LeadStatus.WON.value).desc(), Lead.closed_at.desc(),
                      Lead.id.desc())
            .limit(limit)
        ).all()
    return tuple(
        ClosedDeal(company or contact, status == LeadStatus.WON.value, amount, currency,
                   reason, reason_text, owner, channel, ts)
        for company, contact, status, amount, currency, reason, reason_text, owner, channel, ts
        in rows
    )
