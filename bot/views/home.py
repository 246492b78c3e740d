"""The App Home tab (SPEC 4): a rep's open leads by next deadline; managers also see the team.

Pure functions from plain data (``HomeData``, built by ``bot.home`` from the database) to a
``views.publish`` view, so the layout is tested without Slack or a database. Everything shown
comes from outside (names and companies from MA tools, CSV files, marketers typing), so user
text is escaped and budgeted before it is assembled, and the whole view is kept within Slack's
limits whatever the number of leads: at most ``MAX_BLOCKS`` blocks, 3,000 characters per
section, "+N more" beyond what fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.action_payloads import LeadPayload
from bot.i18n import Translator, format_datetime, format_number
from bot.ids import Action
from bot.views.agreement import AgreementHeadline, home_agreement_block
from bot.views.blocks import (
    SECTION_LIMIT,
    actions,
    button,
    context,
    divider,
    fit_mrkdwn,
    header,
    section,
    thread_link,
    utf16_len,
)

__all__ = [
    "MAX_BLOCKS",
    "Deadline",
    "DeadlineKind",
    "HomeData",
    "HomeLead",
    "home_view",
    "lead_block_id",
    "overdue_by",
    "urgency",
]

#: Slack's limit on the blocks of a Home tab view
MAX_BLOCKS = 100
# Our own budgets, well inside Slack's limits, so the Home stays readable.
MINE_SHOWN = 30  # the rep's own leads, two blocks each (text + buttons)
OWNERS_SHOWN = 12  # people in the manager's team section, one block each
PER_OWNER_SHOWN = 3  # the most urgent leads listed under each person
UNCLAIMED_SHOWN = 10  # unclaimed leads listed, oldest first, in one section
NAME_BUDGET = 80
COMPANY_BUDGET = 60
LINE_NAME_BUDGET = 50
LINE_COMPANY_BUDGET = 40
BLOCK_ID_PREFIX = "home.lead."

DeadlineKind = Literal["first_contact", "decision"]


@dataclass(frozen=True)
class Deadline:
    """The next promise a lead is held to, and when it falls due."""

    kind: DeadlineKind
    due: datetime


@dataclass(frozen=True)
class HomeLead:
    """What the Home shows of one lead: no ORM object, no personal data beyond name/company."""

    id: int
    name: str
    company: str | None
    status: str
    touch_count: int
    owner_id: str | None
    channel_id: str | None
    message_ts: str | None
    posted_at: datetime | None
    deadline: Deadline | None


@dataclass(frozen=True)
class HomeData:
    """Everything one person's Home shows, already queried and ordered.

    ``mine`` and ``team`` (every owned open lead) come in any order: the view orders them by
    urgency. ``team`` and ``unclaimed`` (oldest first, at least what is shown) are None for
    non-managers; ``unclaimed_total`` counts all unclaimed leads, including those not loaded.
    """

    user_id: str
    now: datetime
    handoff_channel: str
    is_rep: bool
    is_manager: bool
    mine: Sequence[HomeLead]
    team: Sequence[HomeLead] | None = None
    unclaimed: Sequence[HomeLead] | None = None
    unclaimed_total: int = 0
    #: the agreement in effect (SPEC 9), None while no version is recorded
    agreement: AgreementHeadline | None = None


def home_view(data: HomeData, tz: ZoneInfo, t: Translator) -> dict[str, Any]:
    """The ``view`` argument of ``views.publish`` for ``data.user_id``.

    People who are both rep and manager see both parts; a manager who owns nothing sees only
    the team. The manager's part is built first so the rep's list can take whatever block
    budget is left, keeping the whole view within ``MAX_BLOCKS``.
    """
    updated = context(t("home.updated", at=format_datetime(data.now, t.language, tz)),
                      SECTION_LIMIT)
    agreement = ([home_agreement_block(data.agreement, t, tz)]
                 if data.agreement is not None else [])
    team = _team_blocks(data, tz, t) if data.is_manager else []
    show_mine = bool(data.mine) or data.is_rep or not data.is_manager
    mine: list[dict[str, Any]] = []
    if show_mine:
        room = MAX_BLOCKS - 1 - len(agreement) - len(team)  # 1: the context line
        mine = _mine_blocks(data, tz, t, room)
    blocks = [updated, *agreement, *mine, *team]
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS]}


# ------------------------------------------------------------------------- the rep's part


def _mine_blocks(data: HomeData, tz: ZoneInfo, t: Translator, room: int) -> list[dict[str, Any]]:
    """Header, two blocks per lead (what and when; its buttons), then "+N more"."""
    leads = sorted(data.mine, key=urgency)
    title = header(t("home.mine_title", count=format_number(len(leads), t.language)))
    if not leads:
        key = "home.mine_empty" if data.is_rep or data.is_manager else "home.not_a_rep"
        text = t(key, channel=_channel(data.handoff_channel))
        return [title, section(text)]
    shown = min(len(leads), MINE_SHOWN, max((room - 2) // 2, 0))  # 2: header and "+N more"
    blocks: list[dict[str, Any]] = [title]
    for lead in leads[:shown]:
        blocks.append(section(_lead_text(lead, data.now, tz, t)))
        blocks.append(_lead_actions(lead, t))
    rest = len(leads) - shown
    if rest:
        blocks.append(context(t("home.more_mine", count=format_number(rest, t.language))))
    return blocks


def _lead_text(lead: HomeLead, now: datetime, tz: ZoneInfo, t: Translator) -> str:
    """Name — company on the first line; status, touches, next deadline, thread on the second."""
    details = [
        t(f"lead_status.{lead.status}"),
        _touches(lead.touch_count, t),
        _deadline_text(lead.deadline, now, tz, t),
    ]
    url = thread_link(lead.channel_id, lead.message_ts)
    if url:
        details.append(f"<{url}|{t('home.thread')}>")
    return f"*{_title(lead, t, NAME_BUDGET, COMPANY_BUDGET)}*\n" + " · ".join(details)


def _lead_actions(lead: HomeLead, t: Translator) -> dict[str, Any]:
    """The owner's actions on this lead; the block id is unique per lead within the view."""
    return actions([
        _button(lead.id, Action.LOG_TOUCH, t("handoff.log_touch"), style="primary"),
        _button(lead.id, Action.CONVERT, t("handoff.convert")),
        _button(lead.id, Action.RECYCLE, t("handoff.recycle")),
        _button(lead.id, Action.DETAILS, t("handoff.details")),
    ], lead_block_id(lead.id))


def lead_block_id(lead_id: int) -> str:
    """``home.lead.<id>``: Slack requires block ids to be unique within a view."""
    return f"{BLOCK_ID_PREFIX}{lead_id}"


def _button(lead_id: int, action: Action, text: str, style: str | None = None) -> dict[str, Any]:
    """Like the handoff message's buttons: the value names the lead, a hint re-checked later."""
    return button(action.value, text, LeadPayload(lead_id).encode(), style)


# ----------------------------------------------------------------------- the manager's part


def _team_blocks(data: HomeData, tz: ZoneInfo, t: Translator) -> list[dict[str, Any]]:
    """Open leads grouped by owner (most urgent person first), then unclaimed, oldest first.

    At most ``OWNERS_SHOWN + 8`` blocks, however big the team.
    """
    team = list(data.team or [])
    groups = _by_owner(team)
    blocks: list[dict[str, Any]] = [
        divider(),
        header(t("home.team_title", count=format_number(len(team), t.language))),
    ]
    if not groups:
        blocks.append(section(t("home.team_empty")))
    for owner, leads in groups[:OWNERS_SHOWN]:
        blocks.append(section(_owner_text(owner, leads, data.now, tz, t)))
    if len(groups) > OWNERS_SHOWN:
        rest = len(groups) - OWNERS_SHOWN
        blocks.append(context(t("home.more_owners", count=format_number(rest, t.language))))

    unclaimed = list(data.unclaimed or [])[:UNCLAIMED_SHOWN]
    total = max(data.unclaimed_total, len(unclaimed))
    blocks += [
        divider(),
        header(t("home.unclaimed_title", count=format_number(total, t.language))),
    ]
    if not unclaimed:
        blocks.append(section(t("home.unclaimed_empty")))
    else:
        lines = [_unclaimed_line(lead, data.now, tz, t) for lead in unclaimed]
        blocks.append(section(_list_text([], lines, total, t)))
    return blocks


def _by_owner(team: list[HomeLead]) -> list[tuple[str, list[HomeLead]]]:
    """Each owner's leads by urgency; owners ordered by their most urgent lead."""
    groups: dict[str, list[HomeLead]] = {}
    for lead in team:
        groups.setdefault(lead.owner_id or "", []).append(lead)
    ordered = [(owner, sorted(leads, key=urgency)) for owner, leads in groups.items()]
    return sorted(ordered, key=lambda group: (urgency(group[1][0]), group[0]))


def urgency(lead: HomeLead) -> tuple[bool, datetime | None, int]:
    """Sort key: by next deadline (so overdue first), leads without one last."""
    due = lead.deadline.due if lead.deadline else None
    return (due is None, due, lead.id)


def _owner_text(
    owner: str, leads: list[HomeLead], now: datetime, tz: ZoneInfo, t: Translator
) -> str:
    count = format_number(len(leads), t.language)
    overdue = sum(1 for lead in leads if lead.deadline and lead.deadline.due <= now)
    who = f"<@{_id(owner)}>"
    heading = (
        t("home.team_owner_overdue", owner=who, count=count,
          overdue=format_number(overdue, t.language))
        if overdue else t("home.team_owner", owner=who, count=count)
    )
    lines = [_team_line(lead, now, tz, t) for lead in leads[:PER_OWNER_SHOWN]]
    return _list_text([heading], lines, len(leads), t)


def _team_line(lead: HomeLead, now: datetime, tz: ZoneInfo, t: Translator) -> str:
    parts = [
        _linked_title(lead, t),
        t(f"lead_status.{lead.status}"),
        _touches(lead.touch_count, t),
        _deadline_text(lead.deadline, now, tz, t),
    ]
    return "• " + " · ".join(parts)


def _unclaimed_line(lead: HomeLead, now: datetime, tz: ZoneInfo, t: Translator) -> str:
    parts = [_linked_title(lead, t)]
    if lead.posted_at is not None:
        parts.append(t("home.handed_off", at=format_datetime(lead.posted_at, t.language, tz)))
    parts.append(_deadline_text(lead.deadline, now, tz, t))
    return "• " + " · ".join(parts)


def _list_text(heading: list[str], lines: list[str], total: int, t: Translator) -> str:
    """Heading, lines, "+N more" for the rest; drops lines (never cuts one) to fit a section."""
    shown = list(lines)

    def render() -> str:
        rest = total - len(shown)
        more = [t("home.more", count=format_number(rest, t.language))] if rest > 0 else []
        return "\n".join([*heading, *shown, *more])

    text = render()
    while utf16_len(text) > SECTION_LIMIT and shown:
        shown.pop()
        text = render()
    return text


# ---------------------------------------------------------------------------- shared bits


def _deadline_text(deadline: Deadline | None, now: datetime, tz: ZoneInfo, t: Translator) -> str:
    """"First contact by Tue 24 Nov 12:00", or "… overdue by 2 h (due …)" once it has passed."""
    if deadline is None:
        return t("home.no_deadline")
    due = format_datetime(deadline.due, t.language, tz)
    if deadline.due <= now:
        late = overdue_by(now - deadline.due, t)
        return t(f"home.overdue.{deadline.kind}", late=late, due=due)
    return t(f"home.due.{deadline.kind}", due=due)


def overdue_by(late: timedelta, t: Translator) -> str:
    """A coarse duration people read at a glance: "25 min", "2 h", "3 d" (rounded down)."""
    minutes = max(int(late.total_seconds() // 60), 1)
    if minutes < 60:
        return t("home.duration.minutes", count=minutes)
    hours = minutes // 60
    if hours < 48:
        return t("home.duration.hours", count=hours)
    return t("home.duration.days", count=hours // 24)


def _touches(count: int, t: Translator) -> str:
    return t.plural("home.touches", count)


def _title(lead: HomeLead, t: Translator, name_budget: int, company_budget: int) -> str:
    """"Name — Company" in the language's order (the handoff header's template), escaped."""
    name = fit_mrkdwn(lead.name.strip() or t("handoff.unnamed"), name_budget)
    company = (lead.company or "").strip()
    if company:
        return t("handoff.header", name=name, company=fit_mrkdwn(company, company_budget))
    return t("handoff.header_no_company", name=name)


def _linked_title(lead: HomeLead, t: Translator) -> str:
    """The lead's title linking to its handoff message, whose thread tells its story."""
    title = _title(lead, t, LINE_NAME_BUDGET, LINE_COMPANY_BUDGET)
    url = thread_link(lead.channel_id, lead.message_ts)
    return f"<{url}|{title}>" if url else title


def _channel(channel_id: str) -> str:
    return f"<#{_id(channel_id)}>"


def _id(slack_id: str) -> str:
    """A Slack id as it may appear inside ``<@…>`` / ``<#…>``: nothing that could break out."""
    return "".join(c for c in slack_id if c.isalnum())
