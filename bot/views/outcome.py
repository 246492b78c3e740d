"""A deal's outcome in Slack (SPEC 10): the thread reply, the hand-off message's line, the
marketing post and the Details history's words — pure functions of ``bot.deal``'s facts.

"Won ¥1,200,000" / "Lost (went with a competitor): note". The amount is written as readers
of the language write money in its currency (``bot.currencies.format_money``); a loss reason
code is shown by its translation, an operator's own code as configured, and ``other`` with
the sender's words. Everything that came from the CRM (the reason's words, the note) is
escaped and cut to a budget before it is assembled.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.currencies import format_money
from bot.deal import DealOutcome, OutcomeNotice
from bot.i18n import Translator, format_number
from bot.mrkdwn import escape
from bot.policy import OTHER_LOSS_REASON, Policy
from bot.views.blocks import (
    CONTEXT_LIMIT,
    FALLBACK_LIMIT,
    SECTION_LIMIT,
    context,
    fit_escaped,
    fit_mrkdwn,
    section,
    section_field,
)
from bot.views.labels import criterion_text

__all__ = [
    "closed_on",
    "handoff_outcome_line",
    "loss_reason_label",
    "money",
    "outcome_announcement",
    "outcome_detail",
    "outcome_text",
    "thread_reply",
]

#: the mark before each outcome (Slack emoji shortcodes, the same in both languages)
ICONS = {"won": ":trophy:", "lost": ":x:", "open": ":arrows_counterclockwise:"}
CORRECTION_ICON = ":pencil2:"
# our own budgets within Slack's limits, so one long note cannot crowd out the rest
REASON_BUDGET = 200
THREAD_NOTE_BUDGET = 1000
NOTE_BUDGET = 2800
NAME_BUDGET = 200
VALUE_BUDGET = 300
CRITERION_BUDGET = 300
CRITERIA_SHOWN = 5


def money(deal: DealOutcome, t: Translator) -> str | None:
    """The deal's amount in its currency (``¥1,200,000``), or None without one."""
    if deal.amount is None or not deal.currency:
        return None
    return escape(format_money(deal.amount, deal.currency, t.language))


def loss_reason_label(deal: DealOutcome, t: Translator) -> str | None:
    """The loss reason as people read it, escaped: its translation, an operator's own code as
    configured, ``other: <the sender's words>``; None when no reason was given."""
    code = deal.reason or ""
    if not code:
        return None
    key = f"loss_reason.{code}"
    label = t(key)
    if label == key:
        label = code
    if code == OTHER_LOSS_REASON and deal.reason_text:
        return t("outcome.other_reason", text=fit_mrkdwn(" ".join(deal.reason_text.split()),
                                                          REASON_BUDGET))
    return fit_mrkdwn(label, REASON_BUDGET)


def outcome_text(deal: DealOutcome, t: Translator) -> str:
    """``Won ¥1,200,000`` / ``Lost (price)`` / ``Deal open again`` (mrkdwn, escaped)."""
    if deal.outcome == "won":
        amount = money(deal, t)
        return t("outcome.won", amount=amount) if amount else t("outcome.won_no_amount")
    if deal.outcome == "lost":
        reason = loss_reason_label(deal, t)
        return t("outcome.lost", reason=reason) if reason else t("outcome.lost_no_reason")
    return t("outcome.open")


def closed_on(at: datetime, policy: Policy, t: Translator) -> str:
    """The closing date in the policy's time zone: ``20 Nov 2026`` / ``2026年11月20日``."""
    local = at.astimezone(policy.tz)
    if t.language == "ja":
        return f"{local.year}年{local.month}月{local.day}日"
    return f"{local.day} {local:%b} {local.year}"


def thread_reply(deal: DealOutcome, t: Translator) -> str:
    """The reply under the hand-off message: "Won ¥1,200,000", "Lost (competitor): note",
    and for a later outcome correcting an earlier one, saying what it was before."""
    text = outcome_text(deal, t)
    if deal.previous is not None:
        text = t("outcome.correction", outcome=text,
                 previous=t(f"outcome.previous.{deal.previous}"))
    note = (deal.note or "").strip()
    if note:
        text = t("outcome.with_note", outcome=text, note=fit_mrkdwn(note, THREAD_NOTE_BUDGET))
    return fit_escaped(f"{ICONS[deal.outcome]} {text}", SECTION_LIMIT)


def handoff_outcome_line(deal: DealOutcome, policy: Policy, t: Translator) -> str:
    """The hand-off message's line for a closed deal: ":trophy: *Won ¥1,200,000* · closed
    20 Nov 2026" (the reason for a loss; the note stays in the thread)."""
    text = f"{ICONS[deal.outcome]} *{outcome_text(deal, t)}*"
    if deal.closed_at is not None and deal.outcome in ("won", "lost"):
        text += " · " + t(f"outcome.closed.{deal.outcome}",
                          date=closed_on(deal.closed_at, policy, t))
    return fit_escaped(text, CONTEXT_LIMIT)


def outcome_detail(deal: DealOutcome, t: Translator) -> list[str]:
    """What the Details history says after "Deal won · via webhook": the amount or reason,
    and the outcome it corrected."""
    parts: list[str] = []
    if deal.outcome == "won":
        amount = money(deal, t)
        if amount:
            parts.append(amount)
    elif deal.outcome == "lost":
        reason = loss_reason_label(deal, t)
        if reason:
            parts.append(reason)
    if deal.previous is not None:
        parts.append(t("outcome.details_correction",
                       previous=t(f"outcome.previous.{deal.previous}")))
    return parts


def outcome_announcement(
    notice: OutcomeNotice, *, channel: str, policy: Policy, t: Translator
) -> dict[str, Any]:
    """``chat.postMessage`` args telling marketing how an MQL's deal ended, and why it was
    lost: the lead, what qualified it, the amount or the reason and the CRM's note."""
    deal = notice.deal
    who = _who(notice, t)
    reason = loss_reason_label(deal, t) or t("handoff.not_given")
    headline = t(f"outcome.marketing.{deal.outcome}", lead=who, reason=reason)
    blocks: list[dict[str, Any]] = [section(f"{ICONS[deal.outcome]} {headline}")]
    if deal.previous is not None:
        correction = t("outcome.marketing.correction",
                       previous=t(f"outcome.previous.{deal.previous}"))
        blocks.append(context(f"{CORRECTION_ICON} {correction}", CONTEXT_LIMIT))
    fields: list[tuple[str, str]] = []
    amount = money(deal, t)
    if amount and deal.outcome in ("won", "lost"):
        fields.append((t(f"outcome.marketing.field_amount_{deal.outcome}"), amount))
    if deal.closed_at is not None and deal.outcome in ("won", "lost"):
        fields.append((t(f"outcome.marketing.field_closed_{deal.outcome}"),
                       closed_on(deal.closed_at, policy, t)))
    fields.append((t("decide.field_source"), _value(notice.source, t)))
    fields.append((t("outcome.marketing.field_criteria"), _criteria(notice.criteria, policy, t)))
    blocks.append({"type": "section", "fields": [section_field(label, value)
                                                 for label, value in fields]})
    note = (deal.note or "").strip()
    if note:
        blocks.append(section(f"*{t('outcome.marketing.note_heading')}*\n"
                               f"{fit_mrkdwn(note, NOTE_BUDGET)}"))
    parts = [t("decide.lead_number", lead_id=notice.lead_id)]
    if notice.thread:
        parts.append(f"<{notice.thread}|{escape(t('decide.thread_link'))}>")
    blocks.append(context(" · ".join(parts), CONTEXT_LIMIT))
    fallback = t(f"outcome.marketing.{deal.outcome}_fallback", lead=who, reason=reason)
    return {"channel": channel, "text": fit_escaped(fallback, FALLBACK_LIMIT), "blocks": blocks}


def _who(notice: OutcomeNotice, t: Translator) -> str:
    name = fit_mrkdwn(notice.lead_name.strip() or t("handoff.unnamed"), NAME_BUDGET)
    company = (notice.company or "").strip()
    if company:
        return t("decide.lead_company", name=name, company=fit_mrkdwn(company, NAME_BUDGET))
    return t("decide.lead", name=name)


def _criteria(criteria: tuple[Any, ...], policy: Policy, t: Translator) -> str:
    """The criteria the lead met, one per line, the first few and "+N more"."""
    if not criteria:
        return t("handoff.not_given")
    shown = [fit_escaped(criterion_text(c if isinstance(c, dict) else str(c), policy, t),
                      CRITERION_BUDGET) for c in criteria[:CRITERIA_SHOWN]]
    rest = len(criteria) - len(shown)
    if rest:
        shown.append(t("handoff.more_activities", count=format_number(rest, t.language)))
    return "\n".join(shown)


def _value(text: str | None, t: Translator) -> str:
    text = (text or "").strip()
    return fit_mrkdwn(text, VALUE_BUDGET) if text else t("handoff.not_given")
