"""The weekly digest message (SPEC 4): pure functions from the week's figures to Block Kit.

Last week against the week before (an arrow per promise), the week's breaches, top recycle
reasons, the deals won and lost in the week (SPEC 10; only when one closed: a team whose CRM
reports no outcomes is not told "no deals" every Monday), marketer feedback with links to its
threads, per-rep figures. A week without
handoffs still gets a digest that says so: silence would read as "the bot is broken".
Every list is capped and every section budgeted so the message stays inside Slack's limits
(50 blocks, 3,000 characters per section text) whatever the data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bot.i18n import Translator, format_datetime, format_number
from bot.money import format_amount
from bot.reporting.chart import ChartLabels
from bot.reporting.outcome_metrics import DealSummary
from bot.views.agreement import AgreementHeadline
from bot.views.blocks import (
    context,
    fit_lines,
    fit_mrkdwn,
    header,
    section,
)
from bot.views.deals import amounts, loss_reason_label, loss_reasons_text, rate

__all__ = [
    "BreachLine",
    "DealLine",
    "DigestFigures",
    "FeedbackLine",
    "PromiseFigure",
    "RepLine",
    "arrow",
    "chart_comment",
    "chart_labels",
    "digest_message",
]

MAX_BLOCKS = 50
MAX_BREACHES = 10
MAX_REASONS = 5
MAX_FEEDBACK = 5
MAX_REPS = 20
MAX_DEALS = 8
UP, DOWN, SAME = "▲", "▼", "＝"


@dataclass(frozen=True)
class PromiseFigure:
    """One promise's figure this week and the week before (a share 0..1, or a count)."""

    key: str  # a locale key under ``digest.promise``
    current: float | None
    previous: float | None
    percent: bool = True


@dataclass(frozen=True)
class BreachLine:
    lead_label: str  # user text (company / contact): escaped when rendered
    promise: str  # ``notice.clock`` key: handoff, first_contact, decision...
    owner_id: str | None
    link: str | None


@dataclass(frozen=True)
class DealLine:
    """A deal closed in the week (``bot.reporting.outcome_metrics.ClosedDeal`` with its thread
    link)."""

    lead_label: str  # user text: escaped when rendered
    won: bool
    amount: Decimal | None
    currency: str | None
    loss_reason: str | None
    loss_reason_text: str | None  # the CRM's words for an unlisted reason: escaped
    owner_id: str | None
    link: str | None


@dataclass(frozen=True)
class FeedbackLine:
    lead_label: str
    author_id: str
    link: str | None


@dataclass(frozen=True)
class RepLine:
    rep_id: str
    claimed: int
    first_contact_rate: float | None
    converted: int
    recycled: int
    breaches: int


@dataclass(frozen=True)
class DigestFigures:
    week_label: str  # 2026-W48
    start: datetime
    end: datetime
    handoffs: int
    previous_handoffs: int
    promises: Sequence[PromiseFigure] = ()
    breaches: Sequence[BreachLine] = ()
    breach_total: int = 0
    recycle_reasons: Sequence[tuple[str, int]] = ()
    feedback_count: int = 0
    feedback: Sequence[FeedbackLine] = ()
    reps: Sequence[RepLine] = field(default_factory=tuple)
    #: agreement versions that took effect during the week (SPEC 9), oldest first
    agreement_changes: Sequence[AgreementHeadline] = ()
    #: the deals closed in the week (SPEC 10) and the first of them, wins first
    deals: DealSummary | None = None
    deal_lines: Sequence[DealLine] = ()


def arrow(current: float | None, previous: float | None) -> str:
    """▲ up, ▼ down, ＝ unchanged against the week before; empty when either is unknown."""
    if current is None or previous is None:
        return ""
    if round(current, 4) > round(previous, 4):
        return UP
    if round(current, 4) < round(previous, 4):
        return DOWN
    return SAME


def digest_message(figures: DigestFigures, t: Translator, tz: ZoneInfo) -> dict[str, Any]:
    """``{"text", "blocks"}`` for ``chat.postMessage``."""
    days = _days(figures, t, tz)
    title = t("digest.title", week=figures.week_label, days=days)
    blocks: list[dict[str, Any]] = [header(title)]
    if figures.handoffs == 0:
        blocks.append(section(t("digest.quiet", previous=figures.previous_handoffs)))
    else:
        blocks.append(section(_headline(figures, t)))
    if figures.agreement_changes:
        blocks.append(section(_agreement(figures, t, tz)))
    if figures.promises:
        blocks.append(section(_promises(figures, t)))
    blocks.append(section(_breaches(figures, t)))
    if figures.recycle_reasons:
        blocks.append(section(_reasons(figures, t)))
    if figures.deals is not None and figures.deals.figures.closed:
        blocks.append(section(_deals(figures, t)))
    blocks.append(section(_feedback(figures, t)))
    if figures.reps:
        blocks.append(section(_reps(figures, t)))
    blocks.append(context(t("digest.footer")))
    blocks = blocks[:MAX_BLOCKS]
    fallback = title if figures.handoffs else f"{title} — {t('digest.quiet_short')}"
    return {"text": fallback, "blocks": blocks}


def chart_labels(figures: DigestFigures, t: Translator, tz: ZoneInfo) -> ChartLabels:
    """Every word drawn on the week's chart, in the reader's language."""
    return ChartLabels(
        title=t("digest.chart.title", week=figures.week_label, days=_days(figures, t, tz)),
        x_axis=t("digest.chart.x_axis"),
        left_axis=t("digest.chart.left_axis"),
        right_axis=t("digest.chart.right_axis"),
        bars=t("digest.chart.bars"),
        line=t("digest.chart.line"),
    )


def chart_comment(figures: DigestFigures, t: Translator) -> str:
    """The upload's comment: the chart's legend, in the reader's language."""
    return t("digest.chart_comment", week=figures.week_label)


# ------------------------------------------------------------------------------ sections


def _days(figures: DigestFigures, t: Translator, tz: ZoneInfo) -> str:
    first = figures.start.astimezone(tz)
    last = (figures.end - timedelta(seconds=1)).astimezone(tz)
    if t.language == "ja":
        return f"{first.month}/{first.day}–{last.month}/{last.day}"
    return f"{first.day} {first:%b} – {last.day} {last:%b}"


def _agreement(figures: DigestFigures, t: Translator, tz: ZoneInfo) -> str:
    """SPEC 9: "the weekly digest mentions a change" — which version, since when."""
    lines = [t("digest.agreement_changed", number=head.number,
               since=format_datetime(head.since, t.language, tz) if head.since else "—")
             for head in figures.agreement_changes]
    return _fit_lines([*lines, t("digest.agreement_read")], t)


def _headline(figures: DigestFigures, t: Translator) -> str:
    mark = arrow(figures.handoffs, figures.previous_handoffs)
    return t.plural("digest.headline", figures.handoffs, arrow=mark,
                    previous=figures.previous_handoffs)


def _value(value: float | None, percent: bool, t: Translator) -> str:
    if value is None:
        return t("digest.none")
    return f"{value * 100:.0f}%" if percent else f"{value:g}"


def _promises(figures: DigestFigures, t: Translator) -> str:
    lines = [f"*{t('digest.promises')}*"]
    for p in figures.promises:
        line = t(
            "digest.promise_line",
            promise=t(f"digest.promise.{p.key}"),
            value=_value(p.current, p.percent, t),
            arrow=arrow(p.current, p.previous),
            previous=_value(p.previous, p.percent, t),
        )
        lines.append(re.sub(r" {2,}", " ", line))  # no arrow without a week to compare
    return _fit_lines(lines, t)


def _breaches(figures: DigestFigures, t: Translator) -> str:
    if not figures.breach_total:
        return f"*{t('digest.breaches', count=0)}*\n{t('digest.no_breaches')}"
    lines = [f"*{t('digest.breaches', count=figures.breach_total)}*"]
    for b in figures.breaches[:MAX_BREACHES]:
        lead = _linked(fit_mrkdwn(b.lead_label, 120), b.link)
        owner = f"<@{_id(b.owner_id)}>" if b.owner_id else t("digest.unowned")
        lines.append(t("digest.breach_line", lead=lead, promise=t(f"notice.clock.{b.promise}"),
                       owner=owner))
    hidden = figures.breach_total - min(len(figures.breaches), MAX_BREACHES)
    return _fit_lines(lines, t, hidden)


def _reasons(figures: DigestFigures, t: Translator) -> str:
    lines = [f"*{t('digest.recycle_reasons')}*"]
    for reason, count in list(figures.recycle_reasons)[:MAX_REASONS]:
        label = t(f"recycle_reason.{reason}")
        if label == f"recycle_reason.{reason}":  # a reason no longer in the catalog
            label = fit_mrkdwn(reason, 100)
        lines.append(t("digest.reason_line", reason=label, count=count))
    return _fit_lines(lines, t)


def _deals(figures: DigestFigures, t: Translator) -> str:
    """Wins and losses of the week: the totals, a line per deal, the loss reasons."""
    assert figures.deals is not None
    deals, lang = figures.deals.figures, t.language
    lines = [t("digest.deals", won=format_number(deals.won, lang),
               revenue=amounts(deals.revenue, t), lost=format_number(deals.lost, lang),
               rate=rate(deals.win_rate, t))]
    for d in figures.deal_lines[:MAX_DEALS]:
        lead = _linked(fit_mrkdwn(d.lead_label, 120), d.link)
        owner = f"<@{_id(d.owner_id)}>" if d.owner_id else t("digest.unowned")
        if d.won:
            amount = (format_amount(d.amount, d.currency, lang)
                      if d.amount is not None and d.currency else t("digest.none"))
            lines.append(t("digest.deal_won", lead=lead, amount=amount, owner=owner))
            continue
        reason = loss_reason_label(d.loss_reason, t) if d.loss_reason else ""
        if d.loss_reason_text:
            reason = t("digest.deal_reason_text", reason=reason,
                       text=fit_mrkdwn(d.loss_reason_text, 100))
        key = "digest.deal_lost_reason" if reason else "digest.deal_lost"
        lines.append(t(key, lead=lead, reason=reason, owner=owner))
    hidden = deals.closed - min(len(figures.deal_lines), MAX_DEALS)
    if figures.deals.loss_reasons:
        lines.append(t("digest.deal_loss_reasons",
                       reasons=loss_reasons_text(figures.deals.loss_reasons, t)))
        if hidden > 0:  # "+N more" belongs with the deal lines, before the reasons
            lines.insert(-1, t("digest.more", count=hidden))
            hidden = 0
    return _fit_lines(lines, t, hidden)


def _feedback(figures: DigestFigures, t: Translator) -> str:
    lines = [f"*{t('digest.feedback', count=figures.feedback_count)}*"]
    if not figures.feedback_count:
        lines.append(t("digest.no_feedback"))
    for f in figures.feedback[:MAX_FEEDBACK]:
        lead = _linked(fit_mrkdwn(f.lead_label, 120), f.link)
        lines.append(t("digest.feedback_line", lead=lead, author=f"<@{_id(f.author_id)}>"))
    return _fit_lines(lines, t)


def _reps(figures: DigestFigures, t: Translator) -> str:
    lines = [f"*{t('digest.reps')}*"]
    for r in list(figures.reps)[:MAX_REPS]:
        lines.append(t(
            "digest.rep_line", rep=f"<@{_id(r.rep_id)}>", claimed=r.claimed,
            first_contact=_value(r.first_contact_rate, True, t), converted=r.converted,
            recycled=r.recycled, breaches=r.breaches,
        ))
    return _fit_lines(lines, t, max(len(figures.reps) - MAX_REPS, 0))


# ------------------------------------------------------------------------------ helpers


def _fit_lines(lines: list[str], t: Translator, hidden: int = 0) -> str:
    """Join lines, dropping whole lines from the end (told as "+N more") to fit a section."""
    return fit_lines(lines, lambda count: t("digest.more", count=count), hidden)


def _linked(label: str, link: str | None) -> str:
    # the label is escaped already; "|" and ">" cannot appear in it unescaped except "|"
    return f"<{link}|{label.replace('|', '¦')}>" if link else label


def _id(user_id: str | None) -> str:
    return "".join(c for c in user_id or "" if c.isalnum())
