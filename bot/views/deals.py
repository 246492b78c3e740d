"""Deal outcomes as the reports word them (SPEC 10): pure helpers shared by ``/sla-status``,
the weekly digest and the monthly review pack, from ``bot.reporting.outcome_metrics`` figures.

Amounts are shown per currency, side by side and never added up (``bot.money``).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.i18n import Translator, format_number, format_percent
from bot.money import format_amounts
from bot.mrkdwn import escape
from bot.reporting.outcome_metrics import CurrencySum, DealSummary

__all__ = ["amounts", "deals_status_line", "loss_reason_label", "loss_reasons_text", "rate"]


def rate(value: float | None, t: Translator) -> str:
    """A share as ``20 %``, or a dash when nothing stands behind it."""
    return t("deals.na") if value is None else format_percent(value, t.language)


def amounts(sums: Sequence[CurrencySum], t: Translator) -> str:
    """Sums per currency side by side (``¥1,200,000, $3,400.00``), or a dash."""
    return format_amounts(sums, t.language, empty=t("deals.na"))


def loss_reason_label(code: str, t: Translator) -> str:
    """A loss reason as people read it: its translation, else the code as configured
    (operators may add their own reasons to ``[outcomes] loss_reasons``). Not escaped."""
    key = f"loss_reason.{code}"
    text = t(key)
    return code if text == key else text


def loss_reasons_text(reasons: Sequence[tuple[str, int]], t: Translator, *,
                      limit: int = 5) -> str:
    """``competitor 3, price 2, +2 more``, most frequent first (escaped mrkdwn)."""
    shown = [t("deals.reason_count", reason=escape(loss_reason_label(code, t)),
               count=format_number(count, t.language)) for code, count in reasons[:limit]]
    if len(reasons) > limit:
        shown.append(t("deals.more", count=len(reasons) - limit))
    return t("deals.list_separator").join(shown)


def deals_status_line(summary: DealSummary, t: Translator) -> str:
    """``/sla-status``'s line: won amount per currency, deals won, win rate (of closed)."""
    figures = summary.figures
    if not figures.closed:
        return t("deals.status_none")
    return t("deals.status", revenue=amounts(figures.revenue, t),
             deals=t.plural("deals.won_deals", figures.won),
             rate=rate(figures.win_rate, t), won=format_number(figures.won, t.language),
             closed=format_number(figures.closed, t.language))
