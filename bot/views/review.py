"""The monthly review pack message (SPEC 4): pure functions from the figures to Block Kit.

What the meeting reads top to bottom: the suggestions (or "All promises kept"), every promise
against its target with last month beside it, the deals (the funnel MQL → SQL → won, pipeline
and revenue per currency, days to close, loss reasons, and the deals by source, criterion,
behaviour, tier, definition and agreement version; SPEC 10), then where conversion and
recycles come from — by MQL-definition criterion, source, behaviour and definition version.
Every list is capped and every section budgeted, so the message stays inside Slack's limits
(50 blocks, 3,000 characters per section) whatever the data. The same blocks print as text
for the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.i18n import Translator, format_datetime, format_number, format_percent
from bot.reporting.chart import FunnelLabels, FunnelStage
from bot.views.blocks import (
    FALLBACK_LIMIT,
    SECTION_LIMIT,
    context,
    fit_escaped,
    fit_lines,
    fit_mrkdwn,
    header,
    section,
)
from bot.views.deals import amounts, loss_reasons_text
from bot.views.digest import arrow
from bot.views.labels import activity_label, criterion_group_text, reason_label

if TYPE_CHECKING:
    from bot.reporting.metrics import Scorecard
    from bot.reporting.outcome_metrics import DealFigures
    from bot.reporting.review import Breakdown, ReviewFigures, Suggestion

__all__ = ["MAX_BLOCKS", "MAX_ROWS", "SECTION_LIMIT", "funnel_comment", "funnel_labels",
           "funnel_stages", "month_label", "percent", "review_message"]

MAX_BLOCKS = 50
#: rows per breakdown section (the biggest groups); the rest are told as "+N more"
MAX_ROWS = 12
MAX_REASONS = 3
LABEL_BUDGET = 120
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def percent(value: float | None, t: Translator) -> str:
    """A share as people read it in the pack's language (``32 %``), or a dash."""
    if value is None:
        return t("review.na")
    return format_percent(value, t.language)


def month_label(figures_label: str, t: Translator) -> str:
    """``2026-11`` → ``November 2026`` / ``2026年11月``."""
    year, number = figures_label.split("-")
    return t("review.month_name", year=year, month=t(f"review.months.m{int(number)}"))


def review_message(
    figures: ReviewFigures, found: Sequence[Suggestion], t: Translator, tz: ZoneInfo
) -> dict[str, Any]:
    """``{"text", "blocks"}`` for ``chat.postMessage`` (and, through
    ``bot.terminal_text.blocks_as_text``, for the CLI)."""
    title = t("review.title", month=month_label(figures.period.label, t))
    blocks: list[dict[str, Any]] = [header(title)]
    blocks.append(section(_suggestions(found, t)))
    blocks.append(section(_promises(figures, t)))
    if figures.deals is not None:
        blocks.append(section(_deals(figures, t)))
        if figures.deals.figures.sqls or figures.deals.figures.closed:
            for dimension, groups in figures.deals_by:
                if groups:
                    blocks.append(section(_deal_breakdown(dimension, groups, figures, t)))
    blocks.append(section(_breakdown(t("review.by_criterion"), figures.by_criterion, t,
                                      reasons=True, empty=t("review.no_decided"))))
    blocks.append(section(_breakdown(t("review.by_source"), figures.by_source, t,
                                      reasons=True, empty=t("review.no_decided"))))
    behaviour = list(figures.by_behaviour) + [_Only(b) for b in figures.by_single_behaviour]
    blocks.append(section(_breakdown(t("review.by_behaviour"), behaviour, t, reasons=False,
                                      empty=t("review.no_decided"), activities=True)))
    blocks.append(section(_versions(figures, t)))
    if figures.agreement_versions:
        blocks.append(section(_agreement(figures, t, tz)))
    blocks.append(context(t("review.footer", month=figures.period.label)))
    summary = (t("review.summary_kept") if not found
               else t.plural("review.summary", len(found)))
    return {"text": fit_escaped(f"{title} — {summary}", FALLBACK_LIMIT),
            "blocks": blocks[:MAX_BLOCKS]}


# ------------------------------------------------------------------------------ sections


def _suggestions(found: Sequence[Suggestion], t: Translator) -> str:
    if not found:
        return f"*{t('review.suggestions')}*\n{t('review.all_kept')}"
    lines = [f"*{t('review.suggestions')}*"]
    lines += [f"• {_suggestion(s, t)}" for s in found]
    return _fit_lines(lines, t)


def _suggestion(s: Suggestion, t: Translator) -> str:
    params: dict[str, str] = {}
    for name, value in s.params.items():
        if isinstance(value, bool) or value is None or isinstance(value, dict):
            continue
        if isinstance(value, float):
            params[name] = percent(value, t)
        elif isinstance(value, int):
            params[name] = format_number(value, t.language)
        else:
            params[name] = fit_mrkdwn(str(value), LABEL_BUDGET)
    if isinstance(s.params.get("criterion_code"), dict):
        params["criterion"] = _criterion_label(s.params["criterion_code"], t)
    if "behaviour" in s.params:
        params["behaviour"] = _behaviour_label(str(s.params["behaviour"]), t, only=True)
    if s.key.startswith("win_rate_"):  # a deal group, named as its breakdown names it
        params["group"] = _deal_group_label(s.key.removeprefix("win_rate_"),
                                            str(s.params.get("group") or ""),
                                            s.params.get("criterion_code"), None, t)
    if "weekday" in s.params:
        half = "pm" if s.params.get("afternoon") else "am"
        params["slot"] = t("review.slot", day=t(f"review.weekday.{_DAYS[s.params['weekday']]}"),
                           half=t(f"review.half.{half}"))
    count = s.params.get("count")
    if isinstance(count, int) and not isinstance(count, bool):
        del params["count"]
        return t.plural(f"review.suggest.{s.key}", count, **params)
    return t(f"review.suggest.{s.key}", **params)


def _promises(figures: ReviewFigures, t: Translator) -> str:
    card, before = figures.card, figures.before
    lang = t.language
    mark = arrow(card.handed_off, before.handed_off)
    lines = [
        f"*{t('review.promises')}*",
        t("review.promise.mql", actual=format_number(card.handed_off, lang),
          target=format_number(card.mql_target or 0, lang), arrow=mark,
          previous=format_number(before.handed_off, lang)),
        _rate_line("handoff", card.handoff_rate, before.handoff_rate, t,
                   hours=figures.handoff_hours),
        _rate_line("history", card.history_rate, before.history_rate, t),
        _rate_line("first_contact", card.first_contact_rate, before.first_contact_rate, t,
                   median=_minutes(card, t)),
        t("review.promise.touches", touches=figures.min_touches,
          actual=format_number(card.recycled_under_min_touches, lang),
          previous=format_number(before.recycled_under_min_touches, lang),
          arrow=arrow(card.recycled_under_min_touches, before.recycled_under_min_touches)),
        _rate_line("decision", card.decision_rate, before.decision_rate, t,
                   days=figures.decision_days),
        _rate_line("sql", card.sql_rate, before.sql_rate, t,
                   converted=format_number(card.converted, lang),
                   decided=format_number(card.decided, lang)),
    ]
    return _fit_lines([re.sub(r" {2,}", " ", line) for line in lines], t)  # no arrow: one space


# ------------------------------------------------------------------------------ deals


def funnel_stages(figures: ReviewFigures, t: Translator) -> list[FunnelStage]:
    """MQL → SQL → won for the chart: the month's counts, each step's rate in words."""
    if figures.deals is None:
        return []
    deals, lang = figures.deals.figures, t.language
    return [
        FunnelStage(t("review.funnel.mql"), figures.card.handed_off),
        FunnelStage(t("review.funnel.sql"), deals.sqls,
                    t("review.funnel.sql_step", rate=percent(deals.sql_rate, t),
                      decided=format_number(deals.decided, lang))),
        FunnelStage(t("review.funnel.won"), deals.won,
                    t("review.funnel.won_step", rate=percent(deals.win_rate, t),
                      closed=format_number(deals.closed, lang))),
    ]


def funnel_labels(figures: ReviewFigures, t: Translator) -> FunnelLabels:
    return FunnelLabels(title=t("review.funnel.title", month=month_label(figures.period.label, t)),
                        footnote=t("review.funnel.footnote"))


def funnel_comment(figures: ReviewFigures, t: Translator) -> str:
    """The chart upload's comment (what the picture shows, for those who cannot see it)."""
    if figures.deals is None:
        return ""
    deals, lang = figures.deals.figures, t.language
    return t("review.funnel.comment", month=month_label(figures.period.label, t),
             mql=format_number(figures.card.handed_off, lang),
             sql=format_number(deals.sqls, lang), won=format_number(deals.won, lang))


def _deals(figures: ReviewFigures, t: Translator) -> str:
    """The funnel in words, pipeline and revenue per currency, days to close, loss reasons."""
    assert figures.deals is not None
    summary, lang = figures.deals, t.language
    deals = summary.figures
    lines = [f"*{t('review.deals')}*"]
    lines.append(t("review.deals_funnel", mql=format_number(figures.card.handed_off, lang),
                   sql=format_number(deals.sqls, lang), sql_rate=percent(deals.sql_rate, t),
                   decided=format_number(deals.decided, lang),
                   won=format_number(deals.won, lang), win_rate=percent(deals.win_rate, t),
                   closed=format_number(deals.closed, lang),
                   lost=format_number(deals.lost, lang)))
    lines.append(t("review.deals_pipeline", amounts=amounts(deals.pipeline, t)))
    lines.append(t("review.deals_revenue", amounts=amounts(deals.revenue, t)))
    lines.append(t("review.deals_days", days=t("review.na") if summary.days_to_close is None
                   else t("review.days", days=format_number(summary.days_to_close, lang, 1))))
    if summary.loss_reasons:
        lines.append(t("review.deals_loss_reasons",
                       reasons=loss_reasons_text(summary.loss_reasons, t)))
    return _fit_lines(lines, t)


def _deal_group_label(dimension: str, key: str, code: Any, current: str | None,
                      t: Translator) -> str:
    """A deal group as its breakdown names it (escaped mrkdwn)."""
    if dimension == "criterion" and isinstance(code, dict):
        return _criterion_label(code, t)
    if dimension == "behaviour":
        return _behaviour_label(key or t("review.unknown"), t, only=False)
    if dimension == "tier" and not key:
        return t("review.deals_no_tier")
    if dimension == "agreement":
        return (t("review.deals_agreement", number=key) if key
                else t("review.agreement_unrecorded"))
    label = fit_mrkdwn(key or t("review.unknown"), LABEL_BUDGET)
    if dimension == "definition" and key and key == current:
        return t("review.current_version", version=label)
    return label


def _deal_breakdown(dimension: str, groups: Sequence[DealFigures], figures: ReviewFigures,
                    t: Translator) -> str:
    lang = t.language
    lines = [f"*{t(f'review.deals_by.{dimension}')}*"]
    for group in list(groups)[:MAX_ROWS]:
        label = _deal_group_label(dimension, group.key, figures.criterion_codes.get(group.key),
                                  figures.current_version, t)
        lines.append(t("review.deal_line", group=label, sqls=format_number(group.sqls, lang),
                       sql_rate=percent(group.sql_rate, t),
                       won=format_number(group.won, lang),
                       closed=format_number(group.closed, lang),
                       win_rate=percent(group.win_rate, t),
                       pipeline=amounts(group.pipeline, t),
                       revenue=amounts(group.revenue, t)))
    return _fit_lines(lines, t, max(len(groups) - MAX_ROWS, 0))


def _rate_line(key: str, now: float | None, then: float | None, t: Translator,
               **extra: Any) -> str:
    return t(f"review.promise.{key}", actual=percent(now, t), previous=percent(then, t),
             arrow=arrow(now, then), **extra)


def _minutes(card: Scorecard, t: Translator) -> str:
    value = card.time_to_first_contact.median
    if value is None:
        return t("review.na")
    return t("review.minutes", minutes=format_number(value, t.language))


class _Only:
    """A "one behaviour only" group shown among the behaviour rows."""

    def __init__(self, group: Breakdown) -> None:
        self.group = group
        self.key, self.decided, self.converted = group.key, group.decided, group.converted
        self.reasons = group.reasons
        self.rate = group.rate


def _behaviour_label(kind: str, t: Translator, *, only: bool) -> str:
    if only and not kind:
        return t("review.no_history")
    label = fit_mrkdwn(activity_label(kind, None, t), LABEL_BUDGET)  # "Webinar", not "webinar"
    return t("review.only", behaviour=label) if only else label


def _breakdown(heading: str, groups: Sequence[Any], t: Translator, *, reasons: bool,
               empty: str, activities: bool = False) -> str:
    lines = [f"*{heading}*"]
    if not groups:
        return "\n".join([*lines, empty])
    for group in list(groups)[:MAX_ROWS]:
        if isinstance(group, _Only):
            label = _behaviour_label(group.key, t, only=True)
        elif activities:  # groups named by activity type: shown by the type's name
            label = _behaviour_label(group.key or t("review.unknown"), t, only=False)
        elif getattr(group, "criterion", None) is not None:  # a criterion, by its code
            label = _criterion_label(group.criterion, t)
        else:
            label = fit_mrkdwn(group.key or t("review.unknown"), LABEL_BUDGET)
        line = t("review.group_line", group=label, rate=percent(group.rate, t),
                 converted=format_number(group.converted, t.language),
                 decided=format_number(group.decided, t.language))
        if reasons and group.reasons:
            top = ", ".join(
                t("review.reason_count", reason=fit_mrkdwn(reason_label(r, t), 80),
                  count=format_number(c, t.language))
                for r, c in group.reasons[:MAX_REASONS])
            line += t("review.recycled_because", reasons=top)
        lines.append(line)
    return _fit_lines(lines, t, max(len(groups) - MAX_ROWS, 0))


def _criterion_label(criterion: Any, t: Translator) -> str:
    """A criterion group in the reader's language (already escaped), cut to the label budget."""
    text = criterion_group_text(criterion, None, t)
    return text if len(text) <= LABEL_BUDGET else text[: LABEL_BUDGET - 1] + "…"


def _versions(figures: ReviewFigures, t: Translator) -> str:
    lines = [f"*{t('review.by_version')}*"]
    if not figures.by_version:
        return "\n".join([*lines, t("review.no_decided")])
    for group in figures.by_version:
        label = fit_mrkdwn(group.key or t("review.unknown"), LABEL_BUDGET)
        if group.key == figures.current_version:
            label = t("review.current_version", version=label)
        lines.append(t("review.group_line", group=label, rate=percent(group.rate, t),
                       converted=format_number(group.converted, t.language),
                       decided=format_number(group.decided, t.language)))
    return _fit_lines(lines, t)


def _agreement(figures: ReviewFigures, t: Translator, tz: ZoneInfo) -> str:
    """SPEC 9: the agreement version(s) of the month; figures per version when it changed."""
    def since(at: datetime | None) -> str:
        return format_datetime(at, t.language, tz) if at else t("review.na")

    if len(figures.agreement_versions) == 1:
        (head,) = figures.agreement_versions
        return t("review.agreement", number=head.number, since=since(head.since))
    lines = [f"*{t('review.agreement_changed')}*"]
    for group in figures.by_agreement:
        label = (t("review.agreement_version", number=group.number, since=since(group.since))
                 if group.number is not None else t("review.agreement_unrecorded"))
        lines.append(t("review.agreement_line", version=label,
                       handed_off=format_number(group.handed_off, t.language),
                       first_contact=percent(group.first_contact_rate, t),
                       sql=percent(group.sql_rate, t),
                       converted=format_number(group.converted, t.language),
                       decided=format_number(group.decided, t.language)))
    if not figures.by_agreement:
        lines.append(t("review.agreement_none"))
    return _fit_lines(lines, t)


# ------------------------------------------------------------------------------ helpers


def _fit_lines(lines: list[str], t: Translator, hidden: int = 0) -> str:
    """Join lines, dropping whole lines from the end (told as "+N more") to fit a section."""
    return fit_lines(lines, lambda count: t("review.more", count=count), hidden)
