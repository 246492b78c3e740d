"""What a reminder, a breach notice and a channel nudge look like (SPEC 5).

Pure functions from a notice, the lead and ``now``. Reminders and breach notices look
different on purpose (an alarm clock vs. a siren, a plain section vs. a header), so a rep
skimming DMs can tell "still time" from "already late". Each carries the lead's actions, so
the rep can act from the DM; a reminder also offers a snooze that never passes the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.action_payloads import SNOOZE_MINUTES, LeadPayload, SnoozePayload
from bot.i18n import Translator, format_datetime, format_duration, format_lateness
from bot.ids import Action
from bot.policy import Policy
from bot.reminders.plan import Notice, Promise
from bot.views.blocks import (
    SECTION_LIMIT,
    actions,
    button,
    context,
    fit_escaped,
    fit_mrkdwn,
    header,
    section,
    thread_link,
)

__all__ = [
    "SNOOZE_OPTIONS",
    "NoticeLead",
    "breach_message",
    "late_handoff_message",
    "reminder_message",
    "snooze_value",
    "unclaimed_nudge",
]

#: how long a snooze lasts, in minutes, offered on each reminder
SNOOZE_OPTIONS = SNOOZE_MINUTES
NAME_BUDGET = 120


@dataclass(frozen=True)
class NoticeLead:
    """What a notice shows of its lead, read from it by the service (``bot.cards``)."""

    id: int
    contact_name: str | None
    company_name: str | None
    owner_id: str | None
    touch_count: int
    qualified_at: datetime | None
    posted_at: datetime | None
    channel_id: str | None
    message_ts: str | None


def _who(lead: NoticeLead, t: Translator) -> str:
    name = fit_mrkdwn((lead.contact_name or "").strip() or t("handoff.unnamed"), NAME_BUDGET)
    company = (lead.company_name or "").strip()
    if company:
        return t("notice.who", name=name, company=fit_mrkdwn(company, NAME_BUDGET))
    return name


def _link(lead: NoticeLead) -> str | None:
    return thread_link(lead.channel_id, lead.message_ts)


def _button(action: Action, text: str, value: str, style: str | None = None) -> dict[str, Any]:
    return button(action.value, text, value, style)


def snooze_value(lead_id: int, clock: Promise, minutes: int) -> str:
    """``lead:clock:minutes``: a hint only; the service re-checks the lead and the deadline."""
    return SnoozePayload(lead_id, clock, minutes).encode()


def _lead_actions(lead: NoticeLead, t: Translator, *, decision: bool) -> list[dict[str, Any]]:
    value = LeadPayload(lead.id).encode()
    buttons = [_button(Action.LOG_TOUCH, t("handoff.log_touch"), value, "primary")]
    if decision:
        buttons += [
            _button(Action.CONVERT, t("handoff.convert"), value),
            _button(Action.RECYCLE, t("handoff.recycle"), value),
        ]
    buttons.append(_button(Action.DETAILS, t("handoff.details"), value))
    return buttons


def reminder_message(
    notice: Notice, lead: NoticeLead, policy: Policy, now: datetime, t: Translator, *, late: bool
) -> dict[str, Any]:
    """A DM to the owner before a deadline: what is due, by when, and the buttons to act."""
    due = format_datetime(notice.deadline, t.language, policy.tz)
    left = format_duration(max(notice.deadline - now, timedelta(0)), t.language)
    text = t(f"notice.reminder.{notice.clock.value}", who=_who(lead, t), due=due, left=left,
             touches=(lead.touch_count or 0) + 1, target=policy.agreement.min_touches)
    blocks: list[dict[str, Any]] = [section(text)]
    about = []
    if late:
        planned = format_datetime(notice.send_at, t.language, policy.tz)
        about.append(t("notice.late", planned=planned))
    link = _link(lead)
    if link:
        about.append(t("notice.thread", link=link))
    if about:
        blocks.append(context(" · ".join(about)))
    buttons = _lead_actions(lead, t, decision=notice.clock == Promise.DECISION)
    for minutes in SNOOZE_OPTIONS:
        if now + timedelta(minutes=minutes) < notice.deadline:
            buttons.append(_button(Action.SNOOZE, t("notice.snooze", minutes=minutes),
                                   snooze_value(lead.id, notice.clock, minutes)))
    blocks.append(actions(buttons[:25], f"notice.{notice.clock.value}"))
    return {"text": fit_escaped(text, SECTION_LIMIT), "blocks": blocks}


def breach_message(
    notice: Notice, lead: NoticeLead, policy: Policy, now: datetime, t: Translator,
    *, for_manager: bool,
) -> dict[str, Any]:
    """A breach notice: a header that reads as an alarm, the lateness, who owns the lead."""
    due = format_datetime(notice.deadline, t.language, policy.tz)
    late_by = format_lateness(now - notice.deadline, t.language)
    owner = f"<@{lead.owner_id}>" if lead.owner_id else t("notice.nobody")
    heading = t(f"notice.breach.{notice.clock.value}.title")
    if late_by is None:  # sent as the deadline passes: "now 0 min late" reads as a glitch
        text = t("notice.breach.body_just_now", who=_who(lead, t), due=due, owner=owner)
    else:
        text = t("notice.breach.body", who=_who(lead, t), due=due, late=late_by, owner=owner)
    blocks: list[dict[str, Any]] = [
        header(heading),
        section(text),
    ]
    link = _link(lead)
    if link:
        blocks.append(context(t("notice.thread", link=link)))
    buttons = _lead_actions(lead, t, decision=notice.clock == Promise.DECISION)
    if for_manager:
        buttons.insert(0, _button(Action.REASSIGN, t("handoff.reassign"),
                                  LeadPayload(lead.id).encode()))
    blocks.append(actions(buttons, f"breach.{notice.clock.value}"))
    fallback = f"{heading}: {text}"
    return {"text": fit_escaped(fallback, SECTION_LIMIT), "blocks": blocks}


def unclaimed_nudge(notice: Notice, lead: NoticeLead, policy: Policy, t: Translator) -> str:
    """The thread reply when nobody has claimed the lead yet."""
    due = format_datetime(notice.deadline, t.language, policy.tz)
    return t("notice.unclaimed", minutes=policy.reminders.unclaimed_after_business_minutes,
             due=due)


def late_handoff_message(
    notice: Notice, lead: NoticeLead, policy: Policy, now: datetime, t: Translator
) -> dict[str, Any]:
    """To marketing: this lead reached sales later than the agreed hours after qualifying."""
    handed = lead.posted_at or now
    text = t(
        "notice.late_handoff",
        who=_who(lead, t),
        hours=policy.agreement.handoff_within_hours,
        qualified=format_datetime(lead.qualified_at, t.language, policy.tz),
        handed=format_datetime(handed, t.language, policy.tz) if lead.posted_at else
        t("notice.not_yet"),
        late=format_duration(handed - notice.deadline, t.language),
    )
    blocks: list[dict[str, Any]] = [section(text)]
    link = _link(lead)
    if link:
        blocks.append(context(t("notice.thread", link=link)))
    return {"text": fit_escaped(text, SECTION_LIMIT), "blocks": blocks}
