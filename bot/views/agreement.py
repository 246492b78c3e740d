"""The agreement as a document (SPEC 9): one content, three renderings.

``agreement_document_content`` turns an ``AgreementView`` into titled sections of lines, in
the reader's language, every number taken from the version's policy and the rule labels as
written. The same content is printed as text or Markdown (``sla-bot agreement``), and shown in
Slack: a summary with a button (``/sla-agreement``, the App Home) and a read-only modal paged
with Previous / Next within Slack's limits. Pure functions: no database, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from bot.action_payloads import AgreementPage, AgreementPayload
from bot.i18n import Translator, format_number, format_weekdays
from bot.ids import Action, Callback
from bot.mrkdwn import escape as mrkdwn_escape
from bot.policy import WEEKDAYS, Policy
from bot.views.blocks import (
    SECTION_LIMIT,
    actions,
    button,
    context,
    divider,
    fit_escaped,
    header,
    modal,
    utf16_len,
)
from bot.views.blocks import section as section_block
from bot.views.labels import activity_label, country_label, industry_label, reason_label

__all__ = [
    "MARKDOWN",
    "PAGE_BLOCKS",
    "SLACK",
    "TEXT",
    "AgreementHeadline",
    "AgreementView",
    "Approval",
    "DocumentContent",
    "HistoryEntry",
    "Line",
    "Markup",
    "Section",
    "agreement_document_content",
    "agreement_modal",
    "agreement_pages",
    "agreement_summary",
    "document_markdown",
    "document_text",
    "headline_text",
    "home_agreement_block",
    "open_button",
    "page_metadata",
]

#: blocks of document per modal page; with the page line and the buttons well within the
#: 100 blocks a modal may hold, and short enough to read without endless scrolling
PAGE_BLOCKS = 40
#: characters of document per modal page (Slack has no smaller limit than the blocks')
PAGE_CHARS = 12000
#: a section's text is cut into blocks of at most this many characters (Slack: 3,000)
CHUNK = min(SECTION_LIMIT, 2800)
#: change lines shown per version in the history (the rest: "+N more")
CHANGES_SHOWN = 15


@dataclass(frozen=True)
class Approval:
    user_id: str
    side: str  # "marketing" | "sales"
    at: datetime


@dataclass(frozen=True)
class AgreementHeadline:
    """"Agreement vN since …, approved by …": what the Home and the summary lead with.

    ``number`` is None while no version is recorded (the bot has not started on this database
    yet): the running policy is shown then.
    """

    number: int | None
    status: str | None
    since: datetime | None
    from_file: bool
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class HistoryEntry:
    """One version that was in force, and what it changed against the one before."""

    number: int
    status: str
    since: datetime | None
    from_file: bool
    approvals: tuple[Approval, ...]
    changes: tuple[str, ...]


@dataclass(frozen=True)
class AgreementView:
    """A whole agreement version to be rendered (built by ``bot.agreement.reading``): its
    headline, its policy (every number of the document comes from it) and the change history
    up to it, oldest first."""

    headline: AgreementHeadline
    policy: Policy
    history: tuple[HistoryEntry, ...] = ()


@dataclass(frozen=True)
class Markup:
    """How a rendering treats text from the policy (labels, keywords) and people."""

    escape: Callable[[str], str]
    person: Callable[[str], str]


def _markdown_escape(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text)


TEXT = Markup(escape=lambda text: text, person=lambda user_id: user_id)
MARKDOWN = Markup(escape=_markdown_escape, person=lambda user_id: f"`{user_id}`")
SLACK = Markup(escape=mrkdwn_escape, person=lambda user_id: f"<@{mrkdwn_escape(user_id)}>")


@dataclass(frozen=True)
class Line:
    text: str
    level: int = 0  # 1: a detail of the line above it


@dataclass(frozen=True)
class Section:
    title: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class DocumentContent:
    title: str
    facts: tuple[str, ...]  # version, in effect since, approved by
    sections: tuple[Section, ...]


# ------------------------------------------------------------------------------ content


def agreement_document_content(
    view: AgreementView, t: Translator, tz: ZoneInfo, markup: Markup = TEXT
) -> DocumentContent:
    """The whole document: headline facts, then sections 1–8 of SPEC 9."""
    policy = view.policy
    sections = (
        Section(t("agreement.document.s_language"), _shared_language(policy, t, markup)),
        Section(t("agreement.document.s_marketing"), _marketing(policy, t)),
        Section(t("agreement.document.s_sales"), _sales(policy, t, markup)),
        Section(t("agreement.document.s_clock"), _clock(policy, t, markup)),
        Section(t("agreement.document.s_reminders"), _reminders(policy, t)),
        Section(t("agreement.document.s_reviews"), _reviews(policy, t)),
        Section(t("agreement.document.s_recycle"),
                tuple(Line(markup.escape(reason_label(code, t)))
                      for code in policy.recycle.reasons)),
        Section(t("agreement.document.s_history"), _history(view.history, t, tz, markup)),
    )
    return DocumentContent(headline_text(view.headline, t), _facts(view.headline, t, tz, markup),
                           sections)


def headline_text(headline: AgreementHeadline, t: Translator) -> str:
    if headline.number is None:
        return t("agreement.document.title_unrecorded")
    return t("agreement.document.title", number=headline.number)


def _facts(headline: AgreementHeadline, t: Translator, tz: ZoneInfo,
           markup: Markup) -> tuple[str, ...]:
    if headline.number is None:
        return (t("agreement.document.unrecorded"),)
    facts = [t("agreement.document.since", since=_when(headline.since, t, tz))]
    if headline.status and headline.status != "active":
        facts.append(t("agreement.document.status",
                       status=t(f"agreement.history.status_{headline.status}")))
    facts.append(_approved(headline.approvals, headline.from_file, t, markup))
    facts.append(t("agreement.document.timezone", timezone=str(tz)))
    return tuple(facts)


def _approved(approvals: Sequence[Approval], from_file: bool, t: Translator,
              markup: Markup) -> str:
    if approvals:
        people = t("agreement.document.separator").join(
            t(f"agreement.document.approver_{a.side}", person=markup.person(a.user_id))
            for a in approvals)
        return t("agreement.document.approved_by", people=people)
    return t("agreement.document.from_file" if from_file else "agreement.document.not_approved")


def _when(at: datetime | None, t: Translator, tz: ZoneInfo) -> str:
    if at is None:
        return t("agreement.history.not_effective")
    local = at.astimezone(tz)
    return f"{_day(local.date(), t)} {local:%H:%M}"


def _num(value: float) -> str:
    """2 → "2", 1.5 → "1.5": hours may be fractions, and nobody writes "2.0 hours"."""
    return format_number(value, "en") if float(value).is_integer() else f"{value:g}"


def _hours(key: str, value: float, t: Translator, **params: Any) -> str:
    """A template whose English form depends on whether ``value`` (hours, days…) is 1."""
    return t.plural(key, 1 if value == 1 else 2, value=_num(value), **params)


def _joined(items: Sequence[str], t: Translator) -> str:
    return t("agreement.document.separator").join(items)


def _shared_language(policy: Policy, t: Translator, markup: Markup) -> tuple[Line, ...]:
    definition = policy.mql_definition
    behaviour = definition.behaviour
    firm = definition.firmographics
    lines = [
        Line(t("agreement.document.mql", version=markup.escape(definition.version))),
        Line(t("agreement.document.mql_all"), 1),
    ]
    if not behaviour.rules:
        lines.append(Line(t("agreement.document.behaviour_any"), 1))
    elif behaviour.min_rules_matched == 0:
        lines.append(Line(_hours("agreement.document.behaviour_optional",
                                 behaviour.lookback_days, t), 1))
    else:
        lines.append(Line(_hours("agreement.document.behaviour", behaviour.lookback_days, t,
                                 needed=behaviour.min_rules_matched,
                                 total=len(behaviour.rules)), 1))
    for rule in behaviour.rules:
        what = markup.escape(activity_label(rule.type, None, t))
        if rule.detail_contains:
            what = t("agreement.document.containing", activity=what,
                     text=markup.escape(rule.detail_contains))
        if rule.min_count > 1:
            what = t("agreement.document.times", activity=what, count=rule.min_count)
        text = (t("agreement.document.rule_labelled", label=markup.escape(rule.label),
                  activity=what) if rule.label else what)
        lines.append(Line(text, 2))
    industries = [markup.escape(industry_label(i, t)) for i in firm.industries]
    lines.append(Line(t("agreement.document.industries", industries=_joined(industries, t))
                      if industries else t("agreement.document.industries_any"), 1))
    low, high = firm.min_employees, firm.max_employees
    size = ("range" if low is not None and high is not None else "min" if low is not None
            else "max" if high is not None else "any")
    lines.append(Line(t(f"agreement.document.employees_{size}",
                        low=format_number(low or 0, t.language),
                        high=format_number(high or 0, t.language)), 1))
    keywords = [markup.escape(k) for k in firm.title_keywords]
    lines.append(Line(t("agreement.document.titles", keywords=_joined(keywords, t))
                      if keywords else t("agreement.document.titles_any"), 1))
    lines.append(Line(t("agreement.document.score", score=format_number(definition.min_score,
                                                                          t.language))
                      if definition.min_score is not None
                      else t("agreement.document.score_any"), 1))
    if policy.tiers:
        lines.append(Line(t("agreement.document.tiers")))
        for tier in policy.tiers:
            conditions = []
            if tier.activity_types:
                names = [markup.escape(activity_label(a, policy, t)) for a in tier.activity_types]
                conditions.append(t("agreement.document.tier_activities",
                                    activities=t("agreement.document.or").join(names)))
            if tier.min_score is not None:
                conditions.append(t("agreement.document.tier_score", score=tier.min_score))
            when = (t("agreement.document.and").join(conditions) if conditions
                    else t("agreement.document.tier_every"))
            lines.append(Line(_hours("agreement.document.tier", tier.first_contact_business_hours,
                                     t, name=markup.escape(tier.name), when=when), 1))
    else:
        lines.append(Line(t("agreement.document.no_tiers")))
    bant = [t(f"convert.bant_item.{item}") for item in policy.agreement.bant_required]
    lines.append(Line(t("agreement.document.sql", items=_joined(bant, t)) if bant
                      else t("agreement.document.sql_none")))
    return tuple(lines)


def _marketing(policy: Policy, t: Translator) -> tuple[Line, ...]:
    agreement = policy.agreement
    return (
        Line(t("agreement.document.mql_target",
               target=format_number(agreement.mql_monthly_target, t.language))),
        Line(_hours("agreement.document.handoff", agreement.handoff_within_hours, t)),
    )


def _sales(policy: Policy, t: Translator, markup: Markup) -> tuple[Line, ...]:
    agreement = policy.agreement
    lines = [Line(_hours("agreement.document.first_contact",
                         agreement.first_contact_business_hours, t))]
    lines += [Line(_hours("agreement.document.first_contact_tier",
                          tier.first_contact_business_hours, t, name=markup.escape(tier.name)), 1)
              for tier in policy.tiers]
    lines.append(Line(_hours("agreement.document.touches", agreement.min_touches, t)))
    lines.append(Line(_hours("agreement.document.follow_up",
                             agreement.follow_up_every_business_hours, t), 1))
    lines.append(Line(_hours("agreement.document.decision", agreement.decision_days, t)))
    if agreement.max_open_leads_per_rep is not None:
        lines.append(Line(t("agreement.document.open_cap",
                            count=agreement.max_open_leads_per_rep)))
    return tuple(lines)


def _clock(policy: Policy, t: Translator, markup: Markup) -> tuple[Line, ...]:
    calendar = policy.calendar
    days = format_weekdays([WEEKDAYS.index(d) for d in calendar.working_days], t.language)
    shifts = _joined([t("agreement.document.shift", start=_hhmm(s), end=_hhmm(e))
                      for s, e in calendar.working_hours], t)
    lines = [
        Line(t("agreement.document.zone", timezone=calendar.timezone)),
        Line(t("agreement.document.days", days=days)),
        Line(t("agreement.document.hours", hours=shifts)),
    ]
    if calendar.holidays:
        country = country_label(calendar.holidays, t, calendar.holiday_subdivision)
        lines.append(Line(t("agreement.document.holidays", country=markup.escape(country))))
    else:
        lines.append(Line(t("agreement.document.no_holidays")))
    closed = [_day(d, t) for d in calendar.closed_dates]
    lines.append(Line(t("agreement.document.closed", dates=_joined(closed, t)) if closed
                      else t("agreement.document.closed_none")))
    closures = [t("agreement.document.range", start=_month_day(a, t), end=_month_day(b, t))
                for a, b in calendar.annual_closures]
    lines.append(Line(t("agreement.document.annual", ranges=_joined(closures, t)) if closures
                      else t("agreement.document.annual_none")))
    return tuple(lines)


def _hhmm(at: time) -> str:
    return f"{at:%H:%M}"


def _day(day: date, t: Translator) -> str:
    """``2026-11-24`` / ``2026年11月24日``: a printed agreement names its dates in full."""
    if t.language == "ja":
        return f"{day.year}年{day.month}月{day.day}日"
    return day.isoformat()


def _month_day(text: str, t: Translator) -> str:
    """An annual closure's ``12-29``: ``29 Dec`` / ``12月29日``."""
    month, day = (int(part) for part in text.split("-"))
    if t.language == "ja":
        return f"{month}月{day}日"
    return f"{day} {date(2024, month, day):%b}"


def _reminders(policy: Policy, t: Translator) -> tuple[Line, ...]:
    reminders = policy.reminders
    lines = [Line(_hours("agreement.document.unclaimed",
                         reminders.unclaimed_after_business_minutes, t))]
    if reminders.first_contact_before_minutes:
        minutes = _joined([_num(m) for m in sorted(reminders.first_contact_before_minutes,
                                                   reverse=True)], t)
        lines.append(Line(t("agreement.document.before_first_contact", minutes=minutes)))
    if reminders.first_contact_at_percent:
        percents = _joined([_num(p) for p in sorted(reminders.first_contact_at_percent)], t)
        lines.append(Line(t("agreement.document.at_percent", percents=percents)))
    if reminders.decision_before_business_days:
        lines.append(Line(_hours("agreement.document.before_decision",
                                 reminders.decision_before_business_days, t)))
    else:
        lines.append(Line(t("agreement.document.no_decision_reminder")))
    for key in ("follow_up_reminders", "escalate_to_managers",
                "notify_marketing_on_late_handoff", "quiet_hours"):
        state = "on" if getattr(reminders, key) else "off"
        lines.append(Line(t(f"agreement.document.{key}_{state}")))
    return tuple(lines)


def _reviews(policy: Policy, t: Translator) -> tuple[Line, ...]:
    digest, review = policy.digest, policy.review
    return (
        Line(t("agreement.document.digest", day=t(f"review.weekday.{digest.day}"),
               time=f"{digest.hour:02d}:00") if digest.enabled
             else t("agreement.document.digest_off")),
        Line(t("agreement.document.review", day=review.post_on_day) if review.enabled
             else t("agreement.document.review_off")),
    )


def _history(entries: Sequence[HistoryEntry], t: Translator, tz: ZoneInfo,
             markup: Markup) -> tuple[Line, ...]:
    if not entries:
        return (Line(t("agreement.document.no_history")),)
    lines: list[Line] = []
    for entry in entries:
        lines.append(Line(t("agreement.document.history_line", number=entry.number,
                            since=_when(entry.since, t, tz),
                            status=t(f"agreement.history.status_{entry.status}"))))
        lines.append(Line(_approved(entry.approvals, entry.from_file, t, markup), 1))
        if entry is entries[0]:
            lines.append(Line(t("agreement.document.first_version"), 1))
        elif not entry.changes:
            lines.append(Line(t("agreement.document.no_changes"), 1))
        shown = entry.changes[:CHANGES_SHOWN]
        lines += [Line(markup.escape(change), 1) for change in shown]
        if len(entry.changes) > len(shown):
            lines.append(Line(t("agreement.document.more",
                                count=len(entry.changes) - len(shown)), 1))
    return tuple(lines)


# ------------------------------------------------------------------------------ text, Markdown


def document_text(content: DocumentContent) -> str:
    """For a terminal or a printer: plain lines, sections underlined."""
    out = [content.title, "=" * _width(content.title), *content.facts]
    for section in content.sections:
        out += ["", section.title, "-" * _width(section.title)]
        out += [f"{'    ' * line.level}- {line.text}" for line in section.lines]
    return "\n".join(out) + "\n"


def _width(text: str) -> int:
    """Columns a terminal gives ``text``: wide (CJK) characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def document_markdown(content: DocumentContent) -> str:
    """For a wiki page or the meeting's notes."""
    out = [f"# {content.title}", ""]
    out += [f"{fact}  " for fact in content.facts]
    for section in content.sections:
        out += ["", f"## {section.title}", ""]
        out += [f"{'  ' * line.level}- {line.text}" for line in section.lines]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------ Slack


def open_button(number: int | None, t: Translator) -> dict[str, Any]:
    """The button that opens the whole text; its value names the version (0: none stored)."""
    return button(Action.AGREEMENT_OPEN.value, t("agreement.slack.open"),
                  AgreementPayload(number or 0).encode())


def agreement_summary(view: AgreementView, t: Translator, tz: ZoneInfo) -> dict[str, Any]:
    """``/sla-agreement``'s ephemeral answer: the headline, the main promises, the button."""
    content = agreement_document_content(view, t, tz, SLACK)
    by_title = {s.title: s for s in content.sections}
    marketing = by_title[t("agreement.document.s_marketing")].lines
    sales = [line for line in by_title[t("agreement.document.s_sales")].lines if line.level == 0]
    promises = "\n".join(
        [f"*{t('agreement.slack.marketing')}*", *(f"• {line.text}" for line in marketing),
         f"*{t('agreement.slack.sales')}*", *(f"• {line.text}" for line in sales)])
    definition = view.policy.mql_definition
    blocks = [
        header(content.title),
        context(_cut("\n".join(content.facts))),
        section_block(_cut(promises)),
        context(_cut(t("agreement.slack.definition",
                       version=mrkdwn_escape(definition.version)))),
        actions([open_button(view.headline.number, t)]),
    ]
    return {"text": content.title, "blocks": blocks}


def home_agreement_block(headline: AgreementHeadline, t: Translator,
                         tz: ZoneInfo) -> dict[str, Any]:
    """The Home's line: "Agreement vN since …, approved by …", with the same button."""
    since = _when(headline.since, t, tz)
    approved = (_approved(headline.approvals, headline.from_file, t, SLACK)
                if headline.approvals or not headline.from_file
                else t("agreement.slack.from_file"))
    text = t("agreement.slack.home", number=headline.number, since=since, approved=approved)
    return {**section_block(_cut(text)), "accessory": open_button(headline.number, t)}


def _cut(text: str) -> str:
    """At most ``CHUNK`` UTF-16 units (the text is mrkdwn already: no entity is split)."""
    return fit_escaped(text, CHUNK)


def _section_blocks(section: Section) -> list[dict[str, Any]]:
    """The section's title and its lines, in as many section blocks as their length needs."""
    blocks: list[dict[str, Any]] = [
        header(section.title)]
    chunk: list[str] = []
    for line in section.lines:
        text = _cut(f"{'　　' * line.level}{'•' if line.level == 0 else '◦'} {line.text}")
        if chunk and utf16_len("\n".join([*chunk, text])) > CHUNK:
            blocks.append(section_block("\n".join(chunk)))
            chunk = []
        chunk.append(text)
    if chunk:
        blocks.append(section_block("\n".join(chunk)))
    return blocks


def agreement_pages(content: DocumentContent) -> list[list[dict[str, Any]]]:
    """The document's blocks cut into pages: whole sections while they fit, a long section
    across pages; the first page opens with the facts."""
    first = [section_block(_cut("\n".join(content.facts))), divider()]
    pages: list[list[dict[str, Any]]] = [first]
    for section in content.sections:
        blocks = _section_blocks(section)
        if _too_big(pages[-1] + blocks) and pages[-1]:
            pages.append([])
        for block in blocks:
            if _too_big([*pages[-1], block]) and pages[-1]:
                pages.append([])
            pages[-1].append(block)
    return pages


def _too_big(blocks: list[dict[str, Any]]) -> bool:
    chars = sum(utf16_len(b["text"]["text"]) for b in blocks if "text" in b)
    return len(blocks) > PAGE_BLOCKS or chars > PAGE_CHARS


def page_metadata(number: int | None, page: int) -> str:
    """``private_metadata``: which version and page the modal shows (checked when read)."""
    return AgreementPage(number or 0, page).encode()


def agreement_modal(content: DocumentContent, number: int | None, page: int,
                    t: Translator) -> dict[str, Any]:
    """Page ``page`` (0-based, within range: the caller checks) of the read-only modal."""
    pages = agreement_pages(content)
    blocks = [header(content.title), *pages[page]]
    if len(pages) > 1:
        blocks.append(context(t("agreement.slack.page", page=page + 1, pages=len(pages))))
        buttons = []
        if page > 0:
            buttons.append(button(Action.AGREEMENT_PREVIOUS.value,
                                  t("agreement.slack.previous"), "previous"))
        if page < len(pages) - 1:
            buttons.append(button(Action.AGREEMENT_NEXT.value, t("agreement.slack.next"),
                                  "next", "primary"))
        blocks.append(actions(buttons))
    return modal(Callback.AGREEMENT_MODAL.value, t("agreement.slack.modal_title"),
                 t("agreement.slack.close"), blocks,
                 private_metadata=page_metadata(number, page))
