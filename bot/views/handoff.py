"""The handoff message: what a rep sees in the sales channel when an MQL arrives (SPEC 4).

A pure function from the lead, the policy and ``now`` to a ``chat.postMessage`` payload, so it
can be rendered again for ``chat.update`` (when the lead is claimed or released) and tested
without Slack. Who owns the lead, and so which buttons it offers, is read from the lead itself.
Everything in it comes from outside (MA tools, CSV files, marketers typing), so every piece of
user text is escaped for mrkdwn and cut to a budget *before* it is assembled: Slack rejects the
whole message when one block is over its limit, and a lead that cannot be posted is a broken
promise.

Lengths are counted in UTF-16 code units, as Slack counts them (``bot.views.blocks``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.action_payloads import LeadPayload
from bot.deadlines import (
    decision_due_from,
    first_contact_due_from,
    first_contact_target_hours,
    follow_up_due,
)
from bot.deal import DealOutcome
from bot.i18n import Translator, format_datetime, format_number
from bot.ids import Action, Block
from bot.lifecycle import OWNED, SQL_STATUSES, TERMINAL
from bot.mrkdwn import escape
from bot.policy import Policy
from bot.views.blocks import (
    FALLBACK_LIMIT,
    SECTION_LIMIT,
    actions,
    button,
    context,
    divider,
    fields_section,
    fit_escaped,
    fit_mrkdwn,
    fit_plain,
    header,
    section,
    section_field,
    utf16_len,
)
from bot.views.labels import activity_label, industry_label, reason_label

__all__ = ["CardActivity", "HandoffCard", "decided_text", "handoff_message"]

# Our own budgets, well inside Slack's limits (``bot.views.blocks``), so the message stays
# readable.
TIMELINE_SHOWN = 10
NAME_BUDGET = 90
COMPANY_BUDGET = 55
FIELD_VALUE_BUDGET = 300
ACTIVITY_TYPE_BUDGET = 60
ACTIVITY_DETAIL_BUDGET = 160
REASON_BUDGET = 300
#: states in which the message offers the Claim button
CLAIMABLE = frozenset({"queued", "posted"})
FALLBACK_PART_BUDGET = 200


@dataclass(frozen=True)
class CardActivity:
    """One line of the card's timeline."""

    at: datetime
    type: str | None
    detail: str | None


@dataclass(frozen=True)
class HandoffCard:
    """What the card shows of a lead, read from it by the service (``bot.cards``), so that
    rendering reads nothing from the database."""

    id: int | None
    status: str | None
    owner_id: str | None
    contact_name: str | None
    contact_title: str | None
    company_name: str | None
    company_industry: str | None
    company_employees: int | None
    score: int | None
    source: str | None
    tier: str | None
    qualified_at: datetime | None
    posted_at: datetime | None
    claimed_at: datetime | None
    first_touch_at: datetime | None
    last_touch_at: datetime | None
    touch_count: int
    activities: tuple[CardActivity, ...] = ()
    #: the release that made a posted lead claimable again (actor, reason), if it was one
    last_release: dict[str, Any] | None = None
    #: the convert or recycle that decided the lead (kind, actor, at, reason)
    last_decision: dict[str, Any] | None = None


def handoff_message(
    lead: HandoffCard, policy: Policy, now: datetime, t: Translator, *,
    outcome: DealOutcome | None = None,
) -> dict[str, Any]:
    """``{"text", "blocks"}`` for the handoff message, in the translator's language.

    Deadlines of a lead not handed off yet are shown as if it were handed off at ``now``
    (the preview a marketer sees, or the message being posted right now). ``outcome`` is the
    SQL's closed deal (``bot.deal.deal_outcome``), shown under the decision.
    """
    name = (lead.contact_name or "").strip() or t("handoff.unnamed")
    company = (lead.company_name or "").strip()
    posted_at = lead.posted_at or now
    first_contact = first_contact_due_from(posted_at, lead, policy)
    when = format_datetime(first_contact, t.language, policy.tz)

    if company:
        title = t(
            "handoff.header",
            name=fit_plain(name, NAME_BUDGET),
            company=fit_plain(company, COMPANY_BUDGET),
        )
        fallback = t(
            "handoff.fallback",
            name=fit_mrkdwn(name, FALLBACK_PART_BUDGET),
            company=fit_mrkdwn(company, FALLBACK_PART_BUDGET),
            due=when,
        )
    else:
        title = t("handoff.header_no_company", name=fit_plain(name, NAME_BUDGET))
        fallback = t(
            "handoff.fallback_no_company", name=fit_mrkdwn(name, FALLBACK_PART_BUDGET), due=when
        )

    blocks: list[dict[str, Any]] = [
        header(title),
        fields_section(_fields(lead, policy, t)),
        divider(),
        section(_timeline(lead.activities, policy, t)),
        section(_deadlines(lead, policy, posted_at, first_contact, t)),
        *_owner_blocks(lead, policy, posted_at, first_contact, t, outcome),
    ]
    return {"text": fit_escaped(fallback, FALLBACK_LIMIT), "blocks": blocks}


# ------------------------------------------------------------------------ owner state


def _owner_blocks(
    lead: HandoffCard, policy: Policy, posted_at: datetime, first_contact: datetime, t: Translator,
    outcome: DealOutcome | None = None,
) -> list[dict[str, Any]]:
    """Who has the lead and what can be done next: Claim while open, the owner's actions after.

    Everyone sees every button of the state; who may press which is checked by the service
    (only the owner or a manager may act; only managers may reassign). Details is always there.
    """
    status = lead.status or None
    if lead.owner_id and status in OWNED:
        return [
            section(_owner_text(lead, policy, posted_at, first_contact, t)),
            _actions([
                _button(lead, Action.LOG_TOUCH, t("handoff.log_touch"), style="primary"),
                _button(lead, Action.CONVERT, t("handoff.convert")),
                _button(lead, Action.RECYCLE, t("handoff.recycle")),
                _button(lead, Action.RELEASE, t("handoff.release")),
                _button(lead, Action.REASSIGN, t("handoff.reassign")),
                _button(lead, Action.DETAILS, t("handoff.details")),
            ]),
        ]
    if status is not None and status not in CLAIMABLE:
        blocks = []
        decision = lead.last_decision if status in TERMINAL else None
        if decision is not None:
            text = decided_text(decision, policy, t)
            blocks.append(context(text))
        if outcome is not None and status in SQL_STATUSES:
            # imported here: the outcome view budgets its text with this module's helpers
            from bot.views.outcome import handoff_outcome_line

            line = handoff_outcome_line(outcome, policy, t)
            blocks.append(context(line))
        return [*blocks, _actions([_button(lead, Action.DETAILS, t("handoff.details"))])]
    blocks: list[dict[str, Any]] = []
    released = lead.last_release if status == "posted" else None
    if released is not None:
        blocks.append(context(released_text(released, t)))
    blocks.append(_actions([
        _button(lead, Action.CLAIM, t("handoff.claim"), style="primary"),
        _button(lead, Action.DETAILS, t("handoff.details")),
    ]))
    return blocks


def _owner_text(
    lead: HandoffCard, policy: Policy, posted_at: datetime, first_contact: datetime, t: Translator
) -> str:
    claimed_at = lead.claimed_at or posted_at
    owner = t(
        "handoff.owner",
        owner=f"<@{escape(lead.owner_id or '')}>",
        at=format_datetime(claimed_at, t.language, policy.tz),
    )
    if lead.first_touch_at is None:
        upcoming = t("handoff.next_first_contact",
                     due=format_datetime(first_contact, t.language, policy.tz))
    else:
        decision = decision_due_from(posted_at, policy)
        follow_up = follow_up_due(lead, policy)
        if follow_up is not None and follow_up < decision:  # touches still owed come first
            upcoming = t("handoff.next_follow_up",
                         due=format_datetime(follow_up, t.language, policy.tz),
                         touch=format_number((lead.touch_count or 0) + 1, t.language),
                         target=format_number(policy.agreement.min_touches, t.language))
        else:
            upcoming = t("handoff.next_decision",
                         due=format_datetime(decision, t.language, policy.tz))
    touches = t("handoff.touches", count=format_number(lead.touch_count or 0, t.language))
    return f"{owner}\n{touches}\n{upcoming}"


def decided_text(decision: dict[str, Any], policy: Policy, t: Translator) -> str:
    """"Converted to SQL by @rep · date" or "Recycled by @rep (reason) · date".

    The reason is a configured code shown by its translation when the catalog has one; it is
    escaped and budgeted all the same, since operators write their own codes.
    """
    user = f"<@{escape(str(decision.get('actor') or ''))}>"
    at = decision.get("at")
    when = format_datetime(at, t.language, policy.tz) if isinstance(at, datetime) else "—"
    if decision.get("kind") == "convert":
        return t("decide.converted_line", user=user, at=when)
    code = str(decision.get("reason") or "")
    label = reason_label(code, t) if code else "—"
    return t("decide.recycled_line", user=user, at=when,
             reason=fit_mrkdwn(label, REASON_BUDGET))


def released_text(release: dict[str, Any], t: Translator) -> str:
    """"Released by @rep (reason)"; the reason is user text, so escaped and budgeted."""
    user = f"<@{escape(str(release.get('actor') or ''))}>"
    reason = " ".join(str(release.get("reason") or "").split())
    if reason:
        return t("handoff.released_reason", user=user, reason=fit_mrkdwn(reason, REASON_BUDGET))
    return t("handoff.released", user=user)


def _actions(elements: list[dict[str, Any]]) -> dict[str, Any]:
    return actions(elements, Block.HANDOFF_ACTIONS.value)


def _button(lead: HandoffCard, action: Action, text: str,
            style: str | None = None) -> dict[str, Any]:
    """A button whose value names the lead (a hint only: handlers re-check the database)."""
    value = "" if lead.id is None else LeadPayload(lead.id).encode()
    return button(action.value, text, value, style)


# ------------------------------------------------------------------------------ blocks


def _fields(lead: HandoffCard, policy: Policy, t: Translator) -> list[dict[str, Any]]:
    """Who and what, as label/value pairs (Slack allows up to 10 fields per section)."""
    not_given = t("handoff.not_given")

    def value(text: str | None) -> str:
        text = (text or "").strip()
        return fit_mrkdwn(text, FIELD_VALUE_BUDGET) if text else not_given

    size = (
        t("handoff.size_value", count=format_number(lead.company_employees, t.language))
        if lead.company_employees is not None
        else not_given
    )
    score = str(lead.score) if lead.score is not None else not_given
    qualified = (
        format_datetime(lead.qualified_at, t.language, policy.tz)
        if lead.qualified_at is not None
        else not_given
    )
    pairs = [
        ("handoff.field_company", value(lead.company_name)),
        ("handoff.field_title", value(lead.contact_title)),
        ("handoff.field_industry", value(industry_label(lead.company_industry or "", t))),
        ("handoff.field_size", size),
        ("handoff.field_score", score),
        ("handoff.field_source", value(lead.source)),
        ("handoff.field_qualified_at", qualified),
    ]
    if lead.tier:
        pairs.append(("handoff.field_tier", t("handoff.tier_badge", tier=value(lead.tier))))
    return [section_field(t(label), text) for label, text in pairs]


def _timeline(activities: Sequence[CardActivity], policy: Policy, t: Translator) -> str:
    """Newest first, at most ``TIMELINE_SHOWN`` lines, then "+N more"."""
    if not activities:
        return t("handoff.no_activities")
    ordered = sorted(activities, key=lambda a: a.at, reverse=True)
    lines = [_activity_line(a, policy, t) for a in ordered[:TIMELINE_SHOWN]]
    heading = f"*{t('handoff.history', count=format_number(len(ordered), t.language))}*"

    def render(shown: list[str]) -> str:
        rest = len(ordered) - len(shown)
        more = [t("handoff.more_activities", count=format_number(rest, t.language))]
        return "\n".join([heading, *shown, *(more if rest else [])])

    text = render(lines)
    while utf16_len(text) > SECTION_LIMIT and lines:  # only a runaway translation gets here
        lines.pop()
        text = render(lines)
    return text


def _activity_line(activity: CardActivity, policy: Policy, t: Translator) -> str:
    at = format_datetime(activity.at, t.language, policy.tz)
    kind = fit_mrkdwn(activity_label(activity.type or "", policy, t) or "?",
                      ACTIVITY_TYPE_BUDGET)
    detail = " ".join((activity.detail or "").split())
    if detail.casefold() == activity_label(activity.type or "", policy, t).casefold():
        detail = ""  # "Download: Download" says it twice  # one line per activity
    if not detail:
        return t("handoff.activity_no_detail", at=at, type=kind)
    return t(
        "handoff.activity", at=at, type=kind, detail=fit_mrkdwn(detail, ACTIVITY_DETAIL_BUDGET)
    )


def _deadlines(
    lead: HandoffCard, policy: Policy, posted_at: datetime, first_contact: datetime, t: Translator
) -> str:
    """The sales side's two clocks, in the reader's language and time zone."""
    hours = first_contact_target_hours(lead, policy)
    days = policy.agreement.decision_days
    first_target = t(
        "handoff.business_hour" if hours == 1 else "handoff.business_hours", hours=f"{hours:g}"
    )
    decision_target = t("handoff.day" if days == 1 else "handoff.days", days=days)
    decision = decision_due_from(posted_at, policy)
    return "\n".join(
        [
            f"*{t('handoff.deadlines')}*",
            t(
                "handoff.first_contact_by",
                due=format_datetime(first_contact, t.language, policy.tz),
                target=first_target,
            ),
            t(
                "handoff.decision_by",
                due=format_datetime(decision, t.language, policy.tz),
                target=decision_target,
            ),
        ]
    )
