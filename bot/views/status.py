"""The ``/sla-status`` answer: the agreement, and how both sides are doing against it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.i18n import (
    Translator,
    format_datetime,
    format_duration,
    format_number,
    format_percent,
    format_weekdays,
)
from bot.mrkdwn import escape
from bot.policy import WEEKDAYS, Policy
from bot.reporting.metrics import BreachList, Scorecard
from bot.reporting.outcome_metrics import DealSummary
from bot.reporting.periods import Period
from bot.views.blocks import (
    SECTION_LIMIT,
    context,
    fit_escaped,
    fit_mrkdwn,
    header,
    section,
    thread_link,
    utf16_len,
)
from bot.views.deals import deals_status_line
from bot.views.labels import country_label, reason_label


def agreement_blocks(policy: Policy, t: Translator) -> list[dict[str, Any]]:
    """The promises of the agreement as configured, for both sides to see."""
    a = policy.agreement
    cal = policy.calendar
    hours = ", ".join(f"{s:%H:%M}–{e:%H:%M}" for s, e in cal.working_hours)
    lines = [
        t("status.mql_target", target=a.mql_monthly_target),
        t("status.handoff", hours=a.handoff_within_hours),
        t("status.first_contact", hours=f"{a.first_contact_business_hours:g}"),
        t("status.touches", touches=a.min_touches),
        t("status.decision", days=a.decision_days),
        t(
            "status.calendar",
            days=format_weekdays((WEEKDAYS.index(d) for d in cal.working_days), t.language),
            hours=hours,
            timezone=cal.timezone,
            holidays=(country_label(cal.holidays, t, cal.holiday_subdivision) if cal.holidays
                      else t("status.no_holidays")),
        ),
    ]
    return [
        header(t("status.title")),
        section(f"*{t('status.agreement')}*\n" + "\n".join(f"• {line}" for line in lines)),
        context(t("status.footer", version=policy.mql_definition.version)),
    ]


# ------------------------------------------------------------------------------ the report

#: Slack's limits: 50 blocks a message, 3,000 characters a section
MAX_BLOCKS = 50
BREACHES_SHOWN = 15
REPS_SHOWN = 30
NAME_BUDGET = 60


@dataclass(frozen=True)
class StatusReport:
    """Everything one ``/sla-status`` answer shows, already read and permission-checked."""

    period: Period
    team: Scorecard
    #: the figures of one rep: the asker's own, or (managers) the rep asked about
    rep: Scorecard | None
    #: managers only: every owner's figures
    reps: dict[str, Scorecard] | None
    breaches: BreachList
    language: str
    tz: ZoneInfo
    #: the deals closed in the period (SPEC 10): the team's, and the rep's shown above
    team_deals: DealSummary | None = None
    rep_deals: DealSummary | None = None


def _pct(rate: float | None, language: str, t: Translator) -> str:
    return t("status_report.na") if rate is None else format_percent(rate, language)


def _minutes(value: float | None, language: str, t: Translator) -> str:
    if value is None:
        return t("status_report.na")
    return format_duration(timedelta(minutes=round(value)), language)


def _mark(ok: bool | None) -> str:
    return "" if ok is None else ("✅" if ok else "⚠️")


def _full(rate: float | None) -> bool | None:
    return None if rate is None else rate >= 1 - 1e-9


def scorecard_lines(card: Scorecard, policy: Policy, t: Translator, language: str,
                    *, marketing: bool = True, deals: DealSummary | None = None) -> list[str]:
    """One line per promise: target, actual, ✅/⚠️ (marketing's promises for the team only);
    then the deals closed in the period, when given."""
    a = policy.agreement
    lines: list[str] = []
    if marketing and card.mql_target is not None:
        lines.append(t(
            "status_report.mql",
            target=format_number(card.mql_target, language),
            monthly=format_number(a.mql_monthly_target, language),
            actual=format_number(card.handed_off, language),
            mark=_mark(card.handed_off >= card.mql_target - 1e-9),
        ))
        lines.append(t("status_report.handoff", hours=a.handoff_within_hours,
                       actual=_pct(card.handoff_rate, language, t),
                       mark=_mark(_full(card.handoff_rate))))
        lines.append(t("status_report.history", actual=_pct(card.history_rate, language, t),
                       mark=_mark(_full(card.history_rate))))
        lines.append(t("status_report.not_qualified",
                       count=format_number(card.not_qualified, language)))
    else:
        lines.append(t("status_report.handed_off",
                       count=format_number(card.handed_off, language)))
    contact = card.time_to_first_contact
    lines.append(t(
        "status_report.first_contact",
        hours=f"{a.first_contact_business_hours:g}",
        actual=_pct(card.first_contact_rate, language, t),
        median=_minutes(contact.median, language, t),
        p90=_minutes(contact.p90, language, t),
        mark=_mark(_full(card.first_contact_rate)),
    ))
    lines.append(t("status_report.claim",
                   median=_minutes(card.time_to_claim.median, language, t),
                   p90=_minutes(card.time_to_claim.p90, language, t)))
    per_lead = card.touches_per_lead
    lines.append(t(
        "status_report.touches",
        touches=a.min_touches,
        actual=format_number(card.recycled_under_min_touches, language),
        per_lead=t("status_report.na") if per_lead is None
        else format_number(per_lead, language, 1),
        mark=_mark(None if card.recycled == 0 and card.decided == 0
                   else card.recycled_under_min_touches == 0),
    ))
    lines.append(t("status_report.decision", days=a.decision_days,
                   actual=_pct(card.decision_rate, language, t),
                   mark=_mark(_full(card.decision_rate))))
    lines.append(t("status_report.sql_rate", rate=_pct(card.sql_rate, language, t),
                   converted=format_number(card.converted, language),
                   decided=format_number(card.decided, language)))
    if deals is not None:
        lines.append(deals_status_line(deals, t))
    if card.recycle_reasons:
        reasons = ", ".join(f"{escape(reason_label(code, t))} {count}"
                            for code, count in card.recycle_reasons[:8])
        lines.append(t("status_report.reasons", reasons=reasons))
    return lines


def _sections(heading: str, lines: list[str]) -> list[dict[str, Any]]:
    """``lines`` under ``heading``, split into sections of at most 3,000 characters."""
    blocks: list[dict[str, Any]] = []
    current = heading
    for line in lines:
        item = fit_escaped(f"• {line}", SECTION_LIMIT - 10) if line else ""  # already mrkdwn
        candidate = f"{current}\n{item}" if current else item
        if utf16_len(candidate) > SECTION_LIMIT:
            blocks.append(section(current))
            current = item
        else:
            current = candidate
    if current:
        blocks.append(section(current))
    return blocks


def _breach_lines(report: StatusReport, t: Translator) -> list[str]:
    lines = []
    for row in report.breaches.rows[:BREACHES_SHOWN]:
        owner = f"<@{escape(row.owner_id)}>" if row.owner_id else t("status_report.unowned")
        name = fit_mrkdwn(row.contact_name, NAME_BUDGET)
        if row.company_name:
            name += f" ({fit_mrkdwn(row.company_name, NAME_BUDGET)})"
        link = thread_link(row.channel_id, row.message_ts)
        if link:
            name = f"<{link}|{name}>"
        promises = ", ".join(t(f"details.promise.{p}") for p in row.promises)
        lines.append(t("status_report.breach_row", owner=owner, lead=name, promises=promises,
                       since=format_datetime(row.first_breach_at, report.language, report.tz)))
    hidden = report.breaches.total - min(len(report.breaches.rows), BREACHES_SHOWN)
    if hidden > 0:
        lines.append(t("status_report.more", count=hidden))
    return lines


def _rep_line(rep: str, card: Scorecard, t: Translator, language: str) -> str:
    return t(
        "status_report.rep_row",
        rep=f"<@{escape(rep)}>",
        handed_off=format_number(card.handed_off, language),
        first_contact=_pct(card.first_contact_rate, language, t),
        median=_minutes(card.time_to_first_contact.median, language, t),
        decision=_pct(card.decision_rate, language, t),
        sql=_pct(card.sql_rate, language, t),
        converted=format_number(card.converted, language),
        decided=format_number(card.decided, language),
    )


def status_blocks(report: StatusReport, policy: Policy, t: Translator) -> list[dict[str, Any]]:
    """The ``/sla-status`` answer: targets against actuals, breaches, per-rep table (managers)."""
    language, period = report.language, report.period
    last_day = period.end - timedelta(seconds=1)
    blocks: list[dict[str, Any]] = [
        header(t("status_report.title", period=period.label)),
        context(t(
            "status_report.range",
            start=format_date(period.start, language, report.tz),
            end=format_date(last_day, language, report.tz),
            now=format_datetime(report.team.now, language, report.tz),
        )),
    ]
    if report.rep is not None:
        blocks += _sections(
            t("status_report.rep_heading", rep=f"<@{escape(report.rep.rep or '')}>"),
            scorecard_lines(report.rep, policy, t, language, marketing=False,
                            deals=report.rep_deals))
    blocks += _sections(t("status_report.team"),
                        scorecard_lines(report.team, policy, t, language,
                                        deals=report.team_deals))
    breach_lines = _breach_lines(report, t)
    blocks += _sections(
        t("status_report.breaches", count=format_number(report.breaches.total, language)),
        breach_lines or [t("status_report.no_breaches")])
    if report.reps is not None:
        reps = list(report.reps.items())
        lines = [_rep_line(rep, card, t, language) for rep, card in reps[:REPS_SHOWN]]
        if len(reps) > REPS_SHOWN:
            lines.append(t("status_report.more", count=len(reps) - REPS_SHOWN))
        blocks += _sections(t("status_report.per_rep"),
                            lines or [t("status_report.no_reps")])
    agreement = agreement_blocks(policy, t)[1]  # the promises as configured, for reference
    footer = context(t("status_report.footer", version=policy.mql_definition.version))
    if len(blocks) >= MAX_BLOCKS - 2:
        blocks = [*blocks[:MAX_BLOCKS - 3], section(t("status_report.truncated"))]
    return [*blocks, agreement, footer]


def status_text(report: StatusReport, t: Translator) -> str:
    """The notification fallback: the title only (the blocks carry the figures)."""
    return t("status_report.title", period=report.period.label)


def format_date(at: datetime, language: str, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    if language == "ja":
        return f"{local.year}/{local.month}/{local.day}"
    return f"{local.day} {local:%b %Y}"
