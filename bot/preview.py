"""``sla-bot preview``: what the policy would promise and send for one lead, before it goes live.

A sales-ops person tuning the agreement wants to check "a lead at Friday 17:30 before a
holiday Monday" without waiting for one. Everything here is derived from the same pure code
the bot runs — ``bot.deadlines`` for the promises, ``bot.reminders.plan.plan`` for every reminder
and breach notice, ``bot.calendar`` for business time — so the preview cannot drift from what
the bot does. Business-hours deadlines come with their reasoning: which stretches were
counted and which were skipped (night, weekend, holiday, closure).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache

import holidays

from bot.calendar import BusinessCalendar
from bot.deadlines import (
    decision_due_from,
    first_contact_due_from,
    first_contact_target_hours,
    handoff_due_from,
)
from bot.definition import Qualification, evaluate
from bot.i18n import Translator, format_duration
from bot.intake import build_lead, parse_json
from bot.policy import Policy
from bot.policy_diff import policy_differences
from bot.reminders.plan import Audience, LeadClocks, Notice, NoticeKind, Promise, plan
from bot.views.labels import criteria_as_text
from storage.models import LeadStatus

__all__ = ["Preview", "build_preview", "compare_lines", "trace", "when"]


_JA_WEEKDAYS = "月火水木金土日"
_EN = Translator("en")


def when(at: datetime, policy: Policy, language: str = "en") -> str:
    """A local instant with its weekday and full date: previews often cross a year end."""
    local = at.astimezone(policy.tz)
    return f"{_day(local.date(), language)}{'' if language == 'ja' else ' '}{local:%H:%M}"


def _day(day: date, language: str = "en") -> str:
    """``Tue 2027-01-12`` / ``2027-01-12（火）``: the full date, as each language writes it."""
    if language == "ja":
        return f"{day:%Y-%m-%d}（{_JA_WEEKDAYS[day.weekday()]}）"
    return f"{day:%a %Y-%m-%d}"


def _hours(value: float, t: Translator) -> str:
    key = "cli.preview.business_hour" if value == 1 else "cli.preview.business_hours"
    return t(key, hours=f"{value:g}")


@dataclass(frozen=True)
class Span:
    """One stretch between the start and a deadline: counted business time, or skipped."""

    start: datetime
    end: datetime
    counted: bool
    why: str = ""  # for skipped stretches: "night", "weekend", "holiday: …", "closed"…


@dataclass(frozen=True)
class Deadline:
    key: str  # "handoff" | "first_contact" | "decision"
    label: str
    due: datetime
    rule: str
    spans: tuple[Span, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class PlannedNotice:
    key: str  # stable across policies, for --compare
    label: str
    at: datetime
    who: str
    note: str = ""


@dataclass(frozen=True)
class LeadInput:
    """What the preview needs of a lead: when it qualified, its tier, the verdict if known."""

    qualified_at: datetime | None = None
    qualification: Qualification | None = None
    name: str = ""

    @property
    def tier(self) -> str | None:
        return self.qualification.tier if self.qualification else None


@dataclass(frozen=True)
class Preview:
    source: str
    policy: Policy
    arrival: datetime
    lead: LeadInput
    deadlines: tuple[Deadline, ...]
    notices: tuple[PlannedNotice, ...]
    follow_up: str
    language: str = "en"  # the labels above are already in it; lines() follows by default

    @property
    def qualified(self) -> bool:
        return self.lead.qualification is None or self.lead.qualification.qualified

    def deadline(self, key: str) -> Deadline:
        return next(d for d in self.deadlines if d.key == key)

    def lines(self, t: Translator | None = None) -> list[str]:
        """The preview as plain text, one promise or notice after another."""
        t = t or Translator(self.language)
        p, lang = self.policy, t.language
        out = [t("cli.preview.policy", source=self.source, timezone=p.calendar.timezone)]
        who = self.lead.name or t("cli.preview.ordinary_lead")
        if self.lead.tier:
            who = t("cli.preview.lead_tier", lead=who, tier=self.lead.tier)
        out.append(t("cli.preview.lead", lead=who, at=when(self.arrival, p, lang)))
        q = self.lead.qualification
        if q is not None and not q.qualified:
            out.append(t("cli.preview.not_qualified", version=q.version,
                         reasons=t("cli.preview.reason_separator").join(
                             criteria_as_text(q.reason_codes, q.reasons, p, t))))
            out.append(t("cli.preview.no_plan"))
            return out
        cal = p.business_calendar
        closure = _closure(cal, self.arrival.astimezone(p.tz).date(), t)
        if closure:
            out.append("  " + t("cli.preview.closed_day", reason=closure))
        elif not cal.is_open(self.arrival):
            out.append("  " + t("cli.preview.outside_hours"))
        out += ["", t("cli.preview.deadlines")]
        for deadline in self.deadlines:
            out.append("  " + t("cli.preview.deadline", label=deadline.label,
                                at=when(deadline.due, p, lang), rule=deadline.rule))
            out += [f"      {line}" for line in _span_lines(deadline.spans, p, t)]
            if deadline.note:
                out.append(f"      {deadline.note}")
        out += ["", t("cli.preview.notices")]
        if not self.notices:
            out.append("  " + t("cli.preview.no_notices"))
        for notice in self.notices:
            out.append("  " + t("cli.preview.notice", at=when(notice.at, p, lang),
                                label=notice.label, audience=notice.who))
            if notice.note:
                out.append(f"      {notice.note}")
        if self.follow_up:
            out.append(f"  {self.follow_up}")
        return out


def build_preview(
    policy: Policy, arrival: datetime, *, lead_json: bytes | None = None, source: str = "policy",
    t: Translator | None = None,
) -> Preview:
    """The deadlines and notices of a lead handed off at ``arrival`` under ``policy``.

    With ``lead_json`` (the webhook's payload) the lead's own tier and ``qualified_at`` apply,
    and a lead the definition refuses gets no plan; without it an ordinary lead is assumed,
    qualified at the moment it arrives. Labels are in ``t``'s language (default: the
    policy's), so a ``--compare`` can build both previews in one language.
    """
    t = t or Translator(policy.language)
    lang = t.language
    lead = LeadInput()
    if lead_json is not None:
        mql = parse_json(lead_json, now=arrival)
        built = build_lead(mql, arrival)
        lead = LeadInput(mql.qualified_at, evaluate(built, policy, arrival),
                         name=f"{mql.external_id} ({mql.source})")
    qualified_at = lead.qualified_at or arrival
    if lead.qualification is not None and not lead.qualification.qualified:
        return Preview(source, policy, arrival, lead, (), (), "", lang)
    cal = policy.business_calendar
    hours = first_contact_target_hours(lead, policy)
    first = first_contact_due_from(arrival, lead, policy)
    decision = decision_due_from(arrival, policy)
    handoff = handoff_due_from(qualified_at, policy)
    late = arrival - handoff
    first_rule = (t("cli.preview.first_contact_rule_tier", hours=_hours(hours, t), tier=lead.tier)
                  if lead.tier else t("cli.preview.first_contact_rule", hours=_hours(hours, t)))
    deadlines = (
        Deadline("handoff", t("cli.preview.handoff"), handoff.astimezone(policy.tz),
                 t("cli.preview.handoff_rule", hours=policy.agreement.handoff_within_hours,
                   at=when(qualified_at, policy, lang)),
                 note=(t("cli.preview.late", duration=format_duration(late, lang))
                       if late > timedelta(0) else "")),
        Deadline("first_contact", t("cli.preview.first_contact"), first, first_rule,
                 spans=tuple(trace(cal, arrival, first, t))),
        Deadline("decision", t("cli.preview.decision"), decision,
                 t("cli.preview.decision_rule", days=policy.agreement.decision_days),
                 note=_closed_note(cal, decision, t)),
    )
    clocks = LeadClocks(
        status=LeadStatus.POSTED, qualified_at=qualified_at, posted_at=arrival, owner_id=None,
        first_touch_at=None, last_touch_at=None, touch_count=0, decided_at=None, tier=lead.tier,
    )
    notices = tuple(_describe(n, policy, t) for n in plan(clocks, policy, cal))
    follow_up = ""
    if policy.reminders.follow_up_reminders:
        follow_up = t("cli.preview.follow_up",
                      hours=_hours(policy.agreement.follow_up_every_business_hours, t),
                      touches=policy.agreement.min_touches)
    return Preview(source, policy, arrival, lead, deadlines, notices, follow_up, lang)


# ------------------------------------------------------------------------------ reasoning


def trace(cal: BusinessCalendar, start: datetime, end: datetime,
          t: Translator = _EN) -> list[Span]:
    """The business time counted between ``start`` and ``end``, and what was skipped."""
    spans: list[Span] = []
    cursor = start.astimezone(cal.tz)
    for s, e in cal.open_intervals(start, end):
        if s > cursor:
            spans.append(Span(cursor, s, False, _gap_reason(cal, cursor, s, t, first=not spans)))
        spans.append(Span(s, e, True))
        cursor = e
    return spans


def _gap_reason(cal: BusinessCalendar, start: datetime, end: datetime, t: Translator, *,
                first: bool) -> str:
    a, b = start.astimezone(cal.tz), end.astimezone(cal.tz)
    if a.date() == b.date():
        return t("cli.preview.before_opening") if first else t("cli.preview.break")
    night = t("cli.preview.night")
    parts: list[str] = []
    day = a.date()
    while day < b.date():
        reason = _closure(cal, day, t)
        parts.append(t("cli.preview.closed_date", day=_day(day, t.language), reason=reason)
                     if reason is not None else night)
        day += timedelta(days=1)
    return t("cli.preview.why_separator").join(dict.fromkeys(parts)) or night


def _closure(cal: BusinessCalendar, day: date, t: Translator) -> str | None:
    """``BusinessCalendar.closure_reason`` in words of ``t``'s language, holiday names too."""
    reason = cal.closure_reason(day)
    if reason is None:
        return None
    if reason.startswith("holiday: "):
        name = reason.removeprefix("holiday: ")
        if t.language != "en" and cal.holiday_country is not None:
            name = _holiday_names(cal.holiday_country, cal.holiday_subdivision, day.year,
                                  t.language).get(day, name)
        return t("cli.preview.holiday", name=name)
    key = {"weekend": "weekend", "closed": "closed", "annual closure": "annual_closure"}
    return t(f"cli.preview.{key[reason]}") if reason in key else reason


@cache
def _holiday_names(country: str, subdivision: str | None, year: int,
                   language: str) -> dict[date, str]:
    """The ``holidays`` package's names in ``language`` where it has them (成人の日…)."""
    try:
        table = holidays.country_holidays(country, subdiv=subdivision, years=year,
                                          language=language)
    except (NotImplementedError, ValueError):  # pragma: no cover - the calendar loaded it
        return {}
    if language not in (getattr(table, "supported_languages", ()) or ()):
        return {}  # the package would fall back to its own default language
    return dict(table.items())


def _span_lines(spans: Sequence[Span], policy: Policy, t: Translator) -> list[str]:
    lang, lines = t.language, []
    for span in spans:
        if span.counted:
            end = span.end.astimezone(policy.tz)
            lines.append(t("cli.preview.counted", start=when(span.start, policy, lang),
                           end=f"{end:%H:%M}",
                           duration=format_duration(span.end - span.start, lang)))
        else:
            lines.append(t("cli.preview.skipped", start=when(span.start, policy, lang),
                           end=when(span.end, policy, lang), why=span.why))
    return lines


def _closed_note(cal: BusinessCalendar, at: datetime, t: Translator) -> str:
    reason = _closure(cal, at.astimezone(cal.tz).date(), t)
    return t("cli.preview.closed_note", reason=reason) if reason is not None else ""


_WHO = {
    Audience.OWNER: "cli.preview.to_owner",
    Audience.CHANNEL: "cli.preview.to_channel",
    Audience.MANAGERS: "cli.preview.to_managers",
    Audience.MARKETING: "cli.preview.to_marketing",
}
_BREACH = {
    Promise.HANDOFF: "cli.preview.breach_handoff",
    Promise.FIRST_CONTACT: "cli.preview.breach_first_contact",
    Promise.DECISION: "cli.preview.breach_decision",
}


def _describe(notice: Notice, policy: Policy, t: Translator) -> PlannedNotice:
    """A notice in words, with why it goes when it goes (quiet hours, recorded vs told)."""
    lang = t.language
    who = (t("cli.preview.audience_separator").join(t(_WHO[a]) for a in notice.audiences)
           or t("cli.preview.to_nobody"))
    step, note = notice.step, ""
    if notice.kind == NoticeKind.BREACH:
        label = (t(_BREACH[notice.clock]) if notice.clock in _BREACH
                 else t("cli.preview.breach_other", clock=notice.clock))
        if notice.send_at != notice.deadline:
            note = t("cli.preview.breach_recorded", at=when(notice.deadline, policy, lang))
    elif notice.kind == NoticeKind.ASSIGN:
        label, who = t("cli.preview.assign"), t("cli.preview.to_rep")
    elif notice.clock == Promise.CLAIM:
        label = t("cli.preview.nudge")
    elif notice.clock == Promise.FIRST_CONTACT and step.endswith("m"):
        label = t("cli.preview.reminder_minutes", minutes=step.removesuffix("m"))
        nominal = notice.deadline - timedelta(minutes=int(step.removesuffix("m")))
        if nominal != notice.send_at:
            note = t("cli.preview.reminder_moved", at=when(nominal, policy, lang))
    elif notice.clock == Promise.FIRST_CONTACT and step.endswith("%"):
        label = t("cli.preview.reminder_percent", percent=step.removesuffix("%"))
    elif notice.clock == Promise.DECISION:
        days = step.removesuffix("d")
        label = t.plural("cli.preview.reminder_decision", int(days), days=days)
    else:
        label = t("cli.preview.reminder_other", clock=notice.clock, step=step)
    key = f"{notice.clock}:{notice.kind}:{step}"
    return PlannedNotice(key, label, notice.send_at, who, note)


# ------------------------------------------------------------------------------ compare


def compare_lines(a: Preview, b: Preview, t: Translator | None = None) -> list[str]:
    """Two previews of the same lead side by side, then what changes in words.

    Build both previews with the same translator: the labels are theirs, and the output is in
    one language (``t``'s, by default ``a``'s).
    """
    t = t or Translator(a.language)
    lang = t.language
    rows: list[tuple[str, str, str]] = []
    for key in ("handoff", "first_contact", "decision"):
        da, db = a.deadline(key) if a.deadlines else None, b.deadline(key) if b.deadlines else None
        label = (da or db).label if (da or db) else t(f"cli.preview.{key}")  # type: ignore[union-attr]
        rows.append((label, _at(da.due if da else None, a.policy, lang),
                     _at(db.due if db else None, b.policy, lang)))
    by_key_a = {n.key: n for n in a.notices}
    by_key_b = {n.key: n for n in b.notices}
    keys = list(dict.fromkeys([*by_key_a, *by_key_b]))
    keys.sort(key=lambda k: min(n.at for n in (by_key_a.get(k), by_key_b.get(k)) if n))
    for key in keys:
        na, nb = by_key_a.get(key), by_key_b.get(key)
        label = (na or nb).label  # type: ignore[union-attr]
        rows.append((label, _at(na.at if na else None, a.policy, lang),
                     _at(nb.at if nb else None, b.policy, lang)))
    width = max(_width(r[0]) for r in rows) + 2
    col = max(_width(a.source), _width(b.source), 22) + 2
    out = [t("cli.preview.compare_lead", at=when(a.arrival, a.policy, lang)), "",
           f"{_pad('', width)}{_pad(a.source, col)}{b.source}"]
    for label, left, right in rows:
        mark = "" if left == right else "   " + t("cli.preview.changed")
        out.append(f"{_pad(label, width)}{_pad(left, col)}{right}{mark}")
    out += ["", t("cli.preview.what_changes")]
    changes = []
    for key in ("handoff", "first_contact", "decision"):
        if not a.deadlines or not b.deadlines:
            break
        da, db = a.deadline(key), b.deadline(key)
        if da.due != db.due:
            delta = db.due - da.due
            changes.append("  " + t(
                "cli.preview.later" if delta > timedelta(0) else "cli.preview.earlier",
                label=da.label, before=when(da.due, a.policy, lang),
                after=when(db.due, b.policy, lang), duration=format_duration(abs(delta), lang)))
    for key in keys:
        na, nb = by_key_a.get(key), by_key_b.get(key)
        if na is None and nb is not None:
            changes.append("  " + t("cli.preview.new", label=nb.label,
                                    at=when(nb.at, b.policy, lang)))
        elif nb is None and na is not None:
            changes.append("  " + t("cli.preview.gone", label=na.label,
                                    at=when(na.at, a.policy, lang)))
        elif na is not None and nb is not None and na.at != nb.at:
            changes.append("  " + t("cli.preview.moved", label=na.label,
                                    before=when(na.at, a.policy, lang),
                                    after=when(nb.at, b.policy, lang)))
    if a.qualified != b.qualified:
        def verdict(qualified: bool) -> str:
            return t("cli.preview.qualified" if qualified else "cli.preview.unqualified")
        changes.append("  " + t("cli.preview.qualification", before=verdict(a.qualified),
                                after=verdict(b.qualified)))
    out += changes or ["  " + t("cli.preview.nothing")]
    out += ["", t("cli.preview.keys")]
    differences = policy_differences(a.policy, b.policy)
    out += ["  " + t("cli.preview.key", key=d.key, old=_value(d.old, t), new=_value(d.new, t))
            for d in differences] or ["  " + t("cli.preview.no_keys")]
    return out


def _value(value: object, t: Translator = _EN) -> str:
    """A policy value as it is written in TOML; ``(unset)`` for a key one side lacks."""
    if value is None:
        return t("cli.preview.unset")
    return json.dumps(_as_written(value), ensure_ascii=False)


def _as_written(value: object) -> object:
    """Hours are floats once validated: ``2`` in the file reads back as ``2``, not ``2.0``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_as_written(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_written(item) for key, item in value.items()}
    return value


def _at(at: datetime | None, policy: Policy, language: str = "en") -> str:
    return when(at, policy, language) if at is not None else "—"


def _width(text: str) -> int:
    """Columns ``text`` takes on a terminal: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` terminal columns (``str.ljust`` counts characters)."""
    return text + " " * max(width - _width(text), 0)
