"""``sla-bot preview``: what the policy would promise and send for one lead, before it goes live.

A sales-ops person tuning the agreement wants to check "a lead at Friday 17:30 before a
holiday Monday" without waiting for one. Everything here is derived from the same pure code
the bot runs — ``bot.deadlines`` for the promises, ``bot.reminders.plan`` for every reminder
and breach notice, ``bot.calendar`` for business time — so the preview cannot drift from what
the bot does. Business-hours deadlines come with their reasoning: which stretches were
counted and which were skipped (night, weekend, holiday, closure).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.calendar import BusinessCalendar
from bot.deadlines import (
    decision_due_from,
    first_contact_due_from,
    first_contact_target_hours,
    handoff_due_from,
)
from bot.definition import Qualification, evaluate
from bot.i18n import format_duration
from bot.intake import build_lead, parse_json
from bot.policy import Policy
from bot.policy_diff import policy_differences
from bot.reminders import Audience, Clock, LeadClocks, Notice, NoticeKind, plan
from storage.models import LeadStatus

__all__ = ["Preview", "build_preview", "compare_lines", "trace", "when"]


def when(at: datetime, policy: Policy) -> str:
    """A local instant with its weekday and full date: previews often cross a year end."""
    return f"{at.astimezone(policy.tz):%a %Y-%m-%d %H:%M}"


def _day(day: date) -> str:
    return f"{day:%a %Y-%m-%d}"


def _hours(value: float) -> str:
    return f"{value:g} business hour" + ("" if value == 1 else "s")


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

    @property
    def qualified(self) -> bool:
        return self.lead.qualification is None or self.lead.qualification.qualified

    def deadline(self, key: str) -> Deadline:
        return next(d for d in self.deadlines if d.key == key)

    def lines(self) -> list[str]:
        """The preview as plain text, one promise or notice after another."""
        p = self.policy
        out = [f"Policy {self.source} · time zone {p.calendar.timezone}"]
        who = self.lead.name or "an ordinary lead (no tier)"
        if self.lead.tier:
            who += f", tier {self.lead.tier}"
        out.append(f"Lead: {who}, handed off {when(self.arrival, p)}")
        q = self.lead.qualification
        if q is not None and not q.qualified:
            out.append(f"Not qualified under definition {q.version}: " + "; ".join(q.reasons))
            out.append("It would be stored and counted, but never handed off: no deadlines.")
            return out
        closure = p.business_calendar.closure_reason(self.arrival.astimezone(p.tz).date())
        if closure:
            out.append(f"  (that day is closed: {closure})")
        elif not p.business_calendar.is_open(self.arrival):
            out.append("  (outside business hours)")
        out += ["", "Deadlines"]
        for deadline in self.deadlines:
            out.append(f"  {deadline.label}: {when(deadline.due, p)}  ({deadline.rule})")
            out += [f"      {line}" for line in _span_lines(deadline.spans, p)]
            if deadline.note:
                out.append(f"      {deadline.note}")
        out += ["", "Reminders and escalations"]
        if not self.notices:
            out.append("  none")
        for notice in self.notices:
            out.append(f"  {when(notice.at, p)}  {notice.label} → {notice.who}")
            if notice.note:
                out.append(f"      {notice.note}")
        if self.follow_up:
            out.append(f"  {self.follow_up}")
        return out


def build_preview(
    policy: Policy, arrival: datetime, *, lead_json: bytes | None = None, source: str = "policy"
) -> Preview:
    """The deadlines and notices of a lead handed off at ``arrival`` under ``policy``.

    With ``lead_json`` (the webhook's payload) the lead's own tier and ``qualified_at`` apply,
    and a lead the definition refuses gets no plan; without it an ordinary lead is assumed,
    qualified at the moment it arrives.
    """
    lead = LeadInput()
    if lead_json is not None:
        mql = parse_json(lead_json, now=arrival)
        built = build_lead(mql, arrival)
        lead = LeadInput(mql.qualified_at, evaluate(built, policy, arrival),
                         name=f"{mql.external_id} ({mql.source})")
    qualified_at = lead.qualified_at or arrival
    if lead.qualification is not None and not lead.qualification.qualified:
        return Preview(source, policy, arrival, lead, (), (), "")
    cal = policy.business_calendar
    hours = first_contact_target_hours(lead, policy)
    first = first_contact_due_from(arrival, lead, policy)
    decision = decision_due_from(arrival, policy)
    handoff = handoff_due_from(qualified_at, policy)
    late = arrival - handoff
    deadlines = (
        Deadline("handoff", "Hand-off (marketing)", handoff.astimezone(policy.tz),
                 f"{policy.agreement.handoff_within_hours} calendar hours after qualifying at "
                 f"{when(qualified_at, policy)}",
                 note=(f"already late by {format_duration(late, 'en')}: a marketing breach"
                       if late > timedelta(0) else "")),
        Deadline("first_contact", "First contact (sales)", first,
                 _hours(hours) + " after hand-off"
                 + (f", tier {lead.tier}" if lead.tier else ""),
                 spans=tuple(trace(cal, arrival, first))),
        Deadline("decision", "Decision: SQL or recycle (sales)", decision,
                 f"{policy.agreement.decision_days} calendar days after hand-off",
                 note=_closed_note(cal, decision)),
    )
    clocks = LeadClocks(
        status=LeadStatus.POSTED, qualified_at=qualified_at, posted_at=arrival, owner_id=None,
        first_touch_at=None, last_touch_at=None, touch_count=0, decided_at=None, tier=lead.tier,
    )
    notices = tuple(_describe(n, arrival, policy) for n in plan(clocks, policy, cal))
    follow_up = ""
    if policy.reminders.follow_up_reminders:
        follow_up = (f"After each touch: a follow-up reminder to the owner "
                     f"{_hours(policy.agreement.follow_up_every_business_hours)} later, "
                     f"until {policy.agreement.min_touches} touches.")
    return Preview(source, policy, arrival, lead, deadlines, notices, follow_up)


# ------------------------------------------------------------------------------ reasoning


def trace(cal: BusinessCalendar, start: datetime, end: datetime) -> list[Span]:
    """The business time counted between ``start`` and ``end``, and what was skipped."""
    spans: list[Span] = []
    cursor = start.astimezone(cal.tz)
    for s, e in cal.open_intervals(start, end):
        if s > cursor:
            spans.append(Span(cursor, s, False, _gap_reason(cal, cursor, s, first=not spans)))
        spans.append(Span(s, e, True))
        cursor = e
    return spans


def _gap_reason(cal: BusinessCalendar, start: datetime, end: datetime, *, first: bool) -> str:
    a, b = start.astimezone(cal.tz), end.astimezone(cal.tz)
    if a.date() == b.date():
        return "before opening" if first else "break"
    parts: list[str] = []
    day = a.date()
    while day < b.date():
        reason = cal.closure_reason(day)
        parts.append(f"{_day(day)} {reason}" if reason is not None else "night")
        day += timedelta(days=1)
    return ", ".join(dict.fromkeys(parts)) or "night"


def _span_lines(spans: Sequence[Span], policy: Policy) -> list[str]:
    lines = []
    for span in spans:
        if span.counted:
            end = span.end.astimezone(policy.tz)
            lines.append(f"counted {when(span.start, policy)}–{end:%H:%M}"
                         f"  {format_duration(span.end - span.start, 'en')}")
        else:
            lines.append(f"skipped {when(span.start, policy)} → {when(span.end, policy)}: "
                         f"{span.why}")
    return lines


def _closed_note(cal: BusinessCalendar, at: datetime) -> str:
    reason = cal.closure_reason(at.astimezone(cal.tz).date())
    if reason is not None:
        return f"falls on a closed day ({reason}): calendar days count anyway"
    return ""


_WHO = {
    Audience.OWNER: "the owner by DM (the lead's thread while unclaimed)",
    Audience.CHANNEL: "the lead's thread in the sales channel",
    Audience.MANAGERS: "the managers by DM",
    Audience.MARKETING: "the marketing channel",
}


def _describe(notice: Notice, arrival: datetime, policy: Policy) -> PlannedNotice:
    """A notice in words, with why it goes when it goes (quiet hours, recorded vs told)."""
    who = " + ".join(_WHO[a] for a in notice.audiences) or "nobody (recorded only)"
    step, note = notice.step, ""
    if notice.kind == NoticeKind.BREACH:
        label = {
            Clock.HANDOFF: "Breach: handed off late",
            Clock.FIRST_CONTACT: "Breach: no first contact yet",
            Clock.DECISION: "Breach: no decision yet",
        }.get(notice.clock, f"Breach: {notice.clock}")
        if notice.send_at != notice.deadline:
            note = (f"recorded at {when(notice.deadline, policy)}; outside business hours, so "
                    "people hear at the next opening")
    elif notice.kind == NoticeKind.ASSIGN:
        label, who = "Auto-assign to a rep if still unclaimed", "a rep by DM"
    elif notice.clock == Clock.CLAIM:
        label = "Nudge: nobody has claimed it"
    elif notice.clock == Clock.FIRST_CONTACT and step.endswith("m"):
        label = f"Reminder: first contact due in {step.removesuffix('m')} min"
        nominal = notice.deadline - timedelta(minutes=int(step.removesuffix("m")))
        if nominal != notice.send_at:
            note = (f"moved from {when(nominal, policy)}: no reminders outside business hours "
                    "(quiet hours)")
    elif notice.clock == Clock.FIRST_CONTACT and step.endswith("%"):
        label = f"Reminder: {step.removesuffix('%')} % of the first-contact window used"
    elif notice.clock == Clock.DECISION:
        days = step.removesuffix("d")
        label = f"Reminder: decision due in {days} business day" + ("" if days == "1" else "s")
    else:
        label = f"Reminder ({notice.clock}, {step})"
    key = f"{notice.clock}:{notice.kind}:{step}"
    return PlannedNotice(key, label, notice.send_at, who, note)


# ------------------------------------------------------------------------------ compare


def compare_lines(a: Preview, b: Preview) -> list[str]:
    """Two previews of the same lead side by side, then what changes in words."""
    rows: list[tuple[str, str, str]] = []
    for key in ("handoff", "first_contact", "decision"):
        da, db = a.deadline(key) if a.deadlines else None, b.deadline(key) if b.deadlines else None
        label = (da or db).label if (da or db) else key  # type: ignore[union-attr]
        rows.append((label, _at(da.due if da else None, a.policy),
                     _at(db.due if db else None, b.policy)))
    by_key_a = {n.key: n for n in a.notices}
    by_key_b = {n.key: n for n in b.notices}
    keys = list(dict.fromkeys([*by_key_a, *by_key_b]))
    keys.sort(key=lambda k: min(n.at for n in (by_key_a.get(k), by_key_b.get(k)) if n))
    for key in keys:
        na, nb = by_key_a.get(key), by_key_b.get(key)
        label = (na or nb).label  # type: ignore[union-attr]
        rows.append((label, _at(na.at if na else None, a.policy),
                     _at(nb.at if nb else None, b.policy)))
    width = max(len(r[0]) for r in rows) + 2
    col = max(len(a.source), len(b.source), 22) + 2
    out = [f"Lead handed off {when(a.arrival, a.policy)}", "",
           f"{'':{width}}{a.source:{col}}{b.source}"]
    for label, left, right in rows:
        mark = "" if left == right else "   ← changed"
        out.append(f"{label:{width}}{left:{col}}{right}{mark}")
    out += ["", "What changes"]
    changes = []
    for key in ("handoff", "first_contact", "decision"):
        if not a.deadlines or not b.deadlines:
            break
        da, db = a.deadline(key), b.deadline(key)
        if da.due != db.due:
            delta = db.due - da.due
            direction = "later" if delta > timedelta(0) else "earlier"
            changes.append(f"  {da.label}: {when(da.due, a.policy)} → {when(db.due, b.policy)} "
                           f"({format_duration(abs(delta), 'en')} {direction})")
    for key in keys:
        na, nb = by_key_a.get(key), by_key_b.get(key)
        if na is None and nb is not None:
            changes.append(f"  new: {nb.label} at {when(nb.at, b.policy)}")
        elif nb is None and na is not None:
            changes.append(f"  gone: {na.label} (was {when(na.at, a.policy)})")
        elif na is not None and nb is not None and na.at != nb.at:
            changes.append(f"  {na.label}: {when(na.at, a.policy)} → {when(nb.at, b.policy)}")
    if a.qualified != b.qualified:
        changes.append("  qualification: " + ("qualified" if a.qualified else "not qualified")
                       + " → " + ("qualified" if b.qualified else "not qualified"))
    out += changes or ["  nothing: both policies treat this lead the same way"]
    out += ["", "Policy keys that differ"]
    differences = policy_differences(a.policy, b.policy)
    out += [f"  {d.key}: {_value(d.old)} → {_value(d.new)}" for d in differences] or [
        "  none: the two files set the same values"
    ]
    return out


def _value(value: object) -> str:
    """A policy value as it is written in TOML; ``(unset)`` for a key one side lacks."""
    if value is None:
        return "(unset)"
    return json.dumps(value, ensure_ascii=False)


def _at(at: datetime | None, policy: Policy) -> str:
    return when(at, policy) if at is not None else "—"
