"""The Details modal: everything known about one lead, read-only (SPEC 1 and 4).

The channel message shows the ten most recent activities; a rep preparing a call, or a
marketer asked "why was this an MQL?", needs the whole record: the full behaviour history,
the contact data, which criteria of which definition version it met, every touch with its
note, the lifecycle timeline and marketing's feedback. A pure function of a ``LeadRecord``
(built by ``bot.cards`` from what ``bot.workflow.lead_details`` loads), the policy and ``now``.

Slack refuses a modal with more than 100 blocks or a section text over 3,000 characters, and
all of this is open-ended user text. So each list is packed into as few sections as it needs,
the block budget is shared fairly between the lists (a short list keeps all it needs, the long
ones split the rest) and whatever does not fit is summarised as "+N more". Every piece of user
text is escaped and cut before it is assembled.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.action_payloads import LeadPayload
from bot.deadlines import decision_due_from, first_contact_due_from
from bot.deal import DealOutcome
from bot.event_kind import Action
from bot.i18n import Translator, format_datetime, format_number
from bot.ids import Callback
from bot.lifecycle import OPEN
from bot.policy import Policy
from bot.views.blocks import (
    SECTION_LIMIT,
    divider,
    fields_section,
    fit_escaped,
    fit_mrkdwn,
    fit_plain,
    header,
    modal,
    section,
    section_field,
    utf16_len,
)
from bot.views.labels import activity_label, criterion_text, industry_label
from bot.views.outcome import outcome_detail

__all__ = [
    "MAX_BLOCKS",
    "SECTION_LIMIT",
    "LeadRecord",
    "RecordActivity",
    "RecordEvent",
    "RecordFeedback",
    "RecordTouch",
    "details_modal",
]

# Slack's limit on a modal's blocks (the others: ``bot.views.blocks``) ...
MAX_BLOCKS = 100
# ... and our own budgets, well inside them, so one runaway value cannot crowd out the rest.
NAME_BUDGET = 90
COMPANY_BUDGET = 55
FIELD_VALUE_BUDGET = 300
CRITERION_BUDGET = 300
ACTIVITY_TYPE_BUDGET = 60
ACTIVITY_DETAIL_BUDGET = 500
NOTE_BUDGET = 500
FEEDBACK_BUDGET = 500
REASON_BUDGET = 300
CODE_BUDGET = 60
#: a Slack user or workspace-user id, shown as a mention; any other actor is shown as text
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class RecordActivity:
    """One behaviour from the lead's history."""

    id: int | None
    at: datetime
    type: str | None
    detail: str | None


@dataclass(frozen=True)
class RecordTouch:
    """One contact attempt and its note."""

    id: int | None
    at: datetime
    rep_id: str | None
    kind: str | None
    outcome: str | None
    note: str | None


@dataclass(frozen=True)
class RecordEvent:
    """One lifecycle transition or fact, as the timeline shows it."""

    id: int | None
    at: datetime
    kind: str | None
    actor: str | None
    surface: str | None
    data: Mapping[str, Any]


@dataclass(frozen=True)
class RecordFeedback:
    """Marketing's feedback on the lead."""

    id: int | None
    at: datetime
    author_id: str | None
    text: str


@dataclass(frozen=True)
class LeadRecord:
    """Everything the Details modal shows of one lead; ``outcomes`` are its deal-outcome
    events' outcomes by event id (``bot.deal``)."""

    id: int | None
    status: str | None
    owner_id: str | None
    claimed_at: datetime | None
    touch_count: int
    source: str | None
    external_id: str | None
    received_at: datetime
    posted_at: datetime | None
    first_touch_at: datetime | None
    decided_at: datetime | None
    contact_name: str | None
    contact_title: str | None
    contact_email: str | None
    contact_phone: str | None
    company_name: str | None
    company_domain: str | None
    company_industry: str | None
    company_employees: int | None
    score: int | None
    tier: str | None
    qualified_at: datetime | None
    definition_version: str | None
    qualification: Mapping[str, Any] | None
    activities: tuple[RecordActivity, ...] = ()
    touches: tuple[RecordTouch, ...] = ()
    events: tuple[RecordEvent, ...] = ()
    feedback: tuple[RecordFeedback, ...] = ()
    outcomes: Mapping[int, DealOutcome] = field(default_factory=dict)


@dataclass(frozen=True)
class _Part:
    """One list of the modal: a bold heading, then one line per item, newest first."""

    heading: str
    lines: list[str]
    empty: str


def details_modal(lead: LeadRecord, policy: Policy, now: datetime, t: Translator) -> dict[str, Any]:
    """The read-only Details modal for ``lead``."""
    fixed: list[dict[str, Any]] = [
        header(_header(lead, t)),
        section(_summary(lead, policy, t)),
        section(_deadlines(lead, policy, now, t)),
        fields_section(_contact_fields(lead, t)),
        fields_section(_qualification_fields(lead, policy, t)),
        section(_criteria(lead, policy, t)),
    ]
    parts = [
        _activities(lead.activities, policy, t),
        _touches(lead.touches, policy, t),
        _timeline(lead.events, policy, t, lead.outcomes),
    ]
    said = [f for f in lead.feedback if (f.text or "").strip()]
    if said:
        parts.append(_feedback(said, policy, t))

    def more(count: int) -> str:
        return t("handoff.more_activities", count=format_number(count, t.language))

    budget = MAX_BLOCKS - len(fixed) - len(parts)  # a divider before each part
    needs = [len(_pack(p.heading, p.lines, budget, more)) for p in parts]
    blocks = list(fixed)
    for part, allowed in zip(parts, _share(needs, budget), strict=True):
        blocks.append(divider())
        lines = part.lines or [part.empty]
        blocks.extend(section(text) for text in _pack(part.heading, lines, allowed, more))
    return modal(Callback.DETAILS_MODAL.value, t("details.modal_title"), t("details.close"),
                 blocks,
                 private_metadata="" if lead.id is None else LeadPayload(lead.id).encode())


# ------------------------------------------------------------------------- packing


def _pack(
    heading: str, lines: list[str], max_sections: int, more: Callable[[int], str]
) -> list[str]:
    """``heading`` and ``lines`` as section texts of at most ``SECTION_LIMIT`` each, in at most
    ``max_sections`` sections; the last one ends with "+N more" when some did not fit.

    Lines are budgeted far below the limit when they are built, so every line fits a section.
    """
    sections: list[list[str]] = [[heading]]
    size = utf16_len(heading)
    for index, line in enumerate(lines):
        cost = utf16_len(line) + 1  # and its newline
        if size + cost <= SECTION_LIMIT:
            sections[-1].append(line)
            size += cost
            continue
        if len(sections) < max(max_sections, 1):
            sections.append([line])
            size = utf16_len(line)
            continue
        last, rest = sections[-1], len(lines) - index
        floor = 1 if len(sections) == 1 else 0  # never drop the heading
        while len(last) > floor and utf16_len("\n".join([*last, more(rest)])) > SECTION_LIMIT:
            last.pop()
            rest += 1
        last.append(more(rest))
        break
    return [fit_escaped("\n".join(s), SECTION_LIMIT) for s in sections if s]


def _share(needs: list[int], budget: int) -> list[int]:
    """Split ``budget`` blocks: a list needing less than an equal share gets all it needs and
    the lists needing more split what is left (each at least one)."""
    given = [1] * len(needs)
    waiting = sorted(range(len(needs)), key=lambda i: needs[i])
    left = budget
    while waiting:
        share = max(left // len(waiting), 1)
        first = waiting[0]
        if needs[first] <= share:
            given[first] = max(needs[first], 1)
            left -= given[first]
            waiting.pop(0)
            continue
        extra = max(left - share * len(waiting), 0)
        for rank, i in enumerate(waiting):
            given[i] = share + (1 if rank < extra else 0)
        break
    return given


# ------------------------------------------------------------------------- fixed part


def _header(lead: LeadRecord, t: Translator) -> str:
    name = (lead.contact_name or "").strip() or t("handoff.unnamed")
    company = (lead.company_name or "").strip()
    if company:
        return t("handoff.header", name=fit_plain(name, NAME_BUDGET),
                 company=fit_plain(company, COMPANY_BUDGET))
    return t("handoff.header_no_company", name=fit_plain(name, NAME_BUDGET))


def _summary(lead: LeadRecord, policy: Policy, t: Translator) -> str:
    status = lead.status or None
    lines = [t("details.status", status=t(f"lead_status.{status}") if status else "—")]
    if lead.owner_id:
        since = _when(lead.claimed_at, policy, t) if lead.claimed_at else "—"
        lines.append(t("details.owner", owner=_who(lead.owner_id), at=since))
    lines.append(t("handoff.touches", count=format_number(lead.touch_count or 0, t.language)))
    ref = fit_mrkdwn(f"{lead.source or ''} {lead.external_id or ''}".strip(), FIELD_VALUE_BUDGET)
    lines.append(t("details.reference", lead_id="" if lead.id is None else lead.id,
                   external=ref or "—", at=_when(lead.received_at, policy, t)))
    return "\n".join(lines)


def _deadlines(lead: LeadRecord, policy: Policy, now: datetime, t: Translator) -> str:
    """Both sales clocks, measured from the hand-off, and whether each was kept."""
    heading = f"*{t('handoff.deadlines')}*"
    if lead.posted_at is None:
        return "\n".join([heading, t("details.not_posted")])
    open_ = lead.status in OPEN if lead.status else False
    first = first_contact_due_from(lead.posted_at, lead, policy)
    decision = decision_due_from(lead.posted_at, policy)
    lines = [
        heading,
        _promise(t("details.first_contact", due=_when(first, policy, t)),
                 first, lead.first_touch_at, now, open_, policy, t),
        _promise(t("details.decision", due=_when(decision, policy, t)),
                 decision, lead.decided_at, now, open_, policy, t),
    ]
    return "\n".join(lines)


def _promise(
    line: str,
    due: datetime,
    kept_at: datetime | None,
    now: datetime,
    open_: bool,
    policy: Policy,
    t: Translator,
) -> str:
    if kept_at is not None:
        key = "details.kept" if kept_at <= due else "details.kept_late"
        return f"{line} — {t(key, at=_when(kept_at, policy, t))}"
    if open_ and now > due:
        return f"{line} — {t('details.overdue')}"
    return line


def _contact_fields(lead: LeadRecord, t: Translator) -> list[dict[str, Any]]:
    size = (
        t("handoff.size_value", count=format_number(lead.company_employees, t.language))
        if lead.company_employees is not None
        else t("handoff.not_given")
    )
    pairs = [
        (t("details.field_name"), _value(lead.contact_name, t)),
        (t("handoff.field_title"), _value(lead.contact_title, t)),
        (t("details.field_email"), _value(lead.contact_email, t)),
        (t("details.field_phone"), _value(lead.contact_phone, t)),
        (t("handoff.field_company"), _value(lead.company_name, t)),
        (t("details.field_domain"), _value(lead.company_domain, t)),
        (t("handoff.field_industry"), _value(industry_label(lead.company_industry or "", t), t)),
        (t("handoff.field_size"), size),
    ]
    return [section_field(label, value) for label, value in pairs]


def _qualification_fields(lead: LeadRecord, policy: Policy, t: Translator) -> list[dict[str, Any]]:
    not_given = t("handoff.not_given")
    score = format_number(lead.score, t.language) if lead.score is not None else not_given
    tier = t("handoff.tier_badge", tier=_value(lead.tier, t)) if lead.tier else not_given
    qualified = _when(lead.qualified_at, policy, t) if lead.qualified_at else not_given
    pairs = [
        (t("handoff.field_score"), score),
        (t("handoff.field_source"), _value(lead.source, t)),
        (t("handoff.field_tier"), tier),
        (t("handoff.field_qualified_at"), qualified),
        (t("details.field_version"), _value(lead.definition_version, t)),
    ]
    return [section_field(label, value) for label, value in pairs]


def _criterion(criterion: Any, policy: Policy, t: Translator) -> str:
    text = criterion_text(criterion if isinstance(criterion, dict) else str(criterion), policy, t)
    return fit_escaped(text, CRITERION_BUDGET)


def _criteria(lead: LeadRecord, policy: Policy, t: Translator) -> str:
    """Which criteria of the definition the lead met (and missed, if it did not qualify)."""
    judged = lead.qualification or {}
    # codes (translated) when the lead was judged with them, else the stored English
    matched = judged.get("matched_codes") or [str(c) for c in judged.get("matched") or []]
    missed = judged.get("reason_codes") or [str(r) for r in judged.get("reasons") or []]
    lines = [f"*{t('details.criteria')}*"]
    lines += [t("details.criterion_met", criterion=_criterion(c, policy, t)) for c in matched]
    lines += [t("details.criterion_missed", criterion=_criterion(r, policy, t))
              for r in missed]
    if not matched and not missed:
        lines.append(t("handoff.not_given"))

    def more(count: int) -> str:
        return t("handoff.more_activities", count=format_number(count, t.language))

    return _pack(lines[0], lines[1:], 1, more)[0]


# ------------------------------------------------------------------------- the lists


def _activities(activities: Sequence[RecordActivity], policy: Policy, t: Translator) -> _Part:
    ordered = sorted(activities, key=lambda a: (a.at, a.id or 0), reverse=True)
    heading = f"*{t('handoff.history', count=format_number(len(ordered), t.language))}*"
    return _Part(heading, [_activity_line(a, policy, t) for a in ordered],
                 t("handoff.no_activities"))


def _activity_line(activity: RecordActivity, policy: Policy, t: Translator) -> str:
    at = _when(activity.at, policy, t)
    kind = fit_mrkdwn(activity_label(activity.type or "", policy, t) or "?",
                      ACTIVITY_TYPE_BUDGET)
    detail = " ".join((activity.detail or "").split())
    if detail.casefold() == activity_label(activity.type or "", policy, t).casefold():
        detail = ""  # "Download: Download" says it twice
    if not detail:
        return t("handoff.activity_no_detail", at=at, type=kind)
    return t("handoff.activity", at=at, type=kind,
             detail=fit_mrkdwn(detail, ACTIVITY_DETAIL_BUDGET))


def _touches(touches: Sequence[RecordTouch], policy: Policy, t: Translator) -> _Part:
    ordered = sorted(touches, key=lambda x: (x.at, x.id or 0), reverse=True)
    heading = f"*{t('details.touches', count=format_number(len(ordered), t.language))}*"
    return _Part(heading, [_touch_line(x, policy, t) for x in ordered], t("details.no_touches"))


def _touch_line(touch: RecordTouch, policy: Policy, t: Translator) -> str:
    line = t("details.touch", at=_when(touch.at, policy, t), user=_who(touch.rep_id),
             kind=_label(t, "touch_kind", touch.kind),
             outcome=_label(t, "touch_outcome", touch.outcome) if touch.outcome else "—")
    note = " ".join((touch.note or "").split())
    return f"{line}\n> {fit_mrkdwn(note, NOTE_BUDGET)}" if note else line


def _timeline(
    events: Sequence[RecordEvent], policy: Policy, t: Translator,
    outcomes: Mapping[int, DealOutcome],
) -> _Part:
    ordered = sorted(events, key=lambda e: (e.at, e.id or 0), reverse=True)
    heading = f"*{t('details.timeline', count=format_number(len(ordered), t.language))}*"
    return _Part(heading, [_event_line(e, policy, t, outcomes) for e in ordered],
                 t("details.no_events"))


def _event_line(
    event: RecordEvent, policy: Policy, t: Translator,
    outcomes: Mapping[int, DealOutcome] | None = None,
) -> str:
    """Who did what, when, and from where: "Tue 24 Nov 10:30 — Claimed · @rep"."""
    data = event.data or {}
    who = _who(event.actor) if event.actor else t("details.via",
                                                   surface=_label(t, "details.surface",
                                                                  event.surface))
    line = t("details.event_line", at=_when(event.at, policy, t),
             what=_label(t, "details.event", event.kind), who=who)
    detail: list[str] = []
    deal = (outcomes or {}).get(event.id) if event.id is not None else None
    if deal is not None:  # a deal outcome: the amount or the loss reason, and the CRM's note
        detail.extend(outcome_detail(deal, t))
        note = " ".join((deal.note or "").split())
        line = " — ".join([line, *detail])
        return f"{line}\n> {fit_mrkdwn(note, NOTE_BUDGET)}" if note else line
    if event.kind == Action.REASSIGN:
        detail.append(t("details.reassigned", previous=_who(data.get("previous_owner")),
                        owner=_who(data.get("new_owner"))))
    elif event.kind == Action.TOUCH and data.get("kind"):
        outcome = _label(t, "touch_outcome", data.get("outcome")) if data.get("outcome") else "—"
        detail.append(f"{_label(t, 'touch_kind', data.get('kind'))}, {outcome}")
    elif event.kind == Action.RELEASE and data.get("previous_owner") not in (None, event.actor):
        detail.append(t("details.released_from", previous=_who(data.get("previous_owner"))))
    if data.get("promise"):
        detail.append(_label(t, "details.promise", data.get("promise")))
    reason = " ".join(str(data.get("reason") or "").split())
    if reason and event.kind == Action.RECYCLE:  # a configured reason code
        reason = _label_text(t, "recycle_reason", reason)
    if reason:
        detail.append(fit_mrkdwn(reason, REASON_BUDGET))
    return " — ".join([line, *detail])


def _feedback(feedback: Sequence[RecordFeedback], policy: Policy, t: Translator) -> _Part:
    ordered = sorted(feedback, key=lambda f: (f.at, f.id or 0), reverse=True)
    heading = f"*{t('details.feedback', count=format_number(len(ordered), t.language))}*"
    lines = [t("details.feedback_line", at=_when(f.at, policy, t), user=_who(f.author_id),
               text=fit_mrkdwn(" ".join(f.text.split()), FEEDBACK_BUDGET)) for f in ordered]
    return _Part(heading, lines, "")


# ------------------------------------------------------------------------- pieces


def _when(at: datetime, policy: Policy, t: Translator) -> str:
    return format_datetime(at, t.language, policy.tz)


def _who(user_id: object) -> str:
    """A Slack user as a mention; anything else (a system actor) as escaped text."""
    text = str(user_id or "").strip()
    if not text:
        return "—"
    if _USER_ID.match(text):
        return f"<@{text}>"
    return fit_mrkdwn(text, CODE_BUDGET)


def _label(t: Translator, table: str, code: object) -> str:
    """The translation of a code (a touch kind, an event kind...), escaped, or the code itself
    as it came when the catalog does not know it (kinds added later, operators' own codes)."""
    return fit_mrkdwn(_label_text(t, table, str(code or "")), CODE_BUDGET)


def _label_text(t: Translator, table: str, code: str) -> str:
    key = f"{table}.{code}"
    text = t(key)
    return code if text == key else text


def _value(text: str | None, t: Translator) -> str:
    text = (text or "").strip()
    return fit_mrkdwn(text, FIELD_VALUE_BUDGET) if text else t("handoff.not_given")
