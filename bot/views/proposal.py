"""An agreement proposal as posted to both channels, and the Request changes modal (pure).

The post says what would change (the agreement's changes, then operational ones, which take
effect from the file without a vote), what it would have done to last month's leads, who has
approved on each side, and — while it is open — the buttons. Once withdrawn, superseded or
in effect the buttons go and the status says why. Button values carry the version id only;
who may press them and whether the proposal is still open is checked by the service.
"""

from __future__ import annotations

from typing import Any

from bot.action_payloads import ProposalPayload
from bot.agreement.changes import describe_changes
from bot.agreement.impact import Impact
from bot.agreement.proposals import ProposalState
from bot.agreement.versions import OPERATOR
from bot.i18n import Translator, format_datetime
from bot.ids import Action, Callback, ProposalBlock
from bot.policy import Policy
from bot.roles import SIDES
from bot.views.blocks import (
    SECTION_LIMIT,
    actions,
    button,
    context,
    fit_escaped,
    fit_mrkdwn,
    fit_plain,
    header,
    input_block,
    modal,
    plain_text,
    section,
    utf16_len,
)

__all__ = ["COMMENT_MAX", "proposal_message", "read_comment", "request_changes_modal"]

#: longest comment kept, in characters
COMMENT_MAX = 3000
#: the proposer's note, escaped, within one section
NOTE_BUDGET = 2800
#: sections the change list may use (a message holds 50 blocks)
CHANGE_SECTIONS = 12


def proposal_message(state: ProposalState, policy: Policy, t: Translator) -> dict[str, Any]:
    """The post: headline, who proposed, changes, impact, approvals, buttons while open."""
    tz, lang = policy.tz, t.language
    headline = t("agreement.proposal.headline", number=state.number)
    proposer = (t("agreement.proposal.by_operator") if state.proposer in (None, OPERATOR)
                else f"<@{state.proposer}>")
    about = [t("agreement.proposal.proposed_by", who=proposer,
               at=format_datetime(state.created_at, lang, tz))]
    if state.base is not None:
        about.append(t("agreement.proposal.instead_of", base=state.base))
    blocks: list[dict[str, Any]] = [
        header(headline),
        context(" · ".join(about), 2000),
    ]
    if state.note:
        blocks.append(section(
            t("agreement.proposal.note", note=fit_mrkdwn(state.note, NOTE_BUDGET))))
    agreement = [c for c in state.changes if not c.operational]
    operational = [c for c in state.changes if c.operational]
    blocks += _list(t("agreement.proposal.changes"), describe_changes(agreement, t)
                    or [t("agreement.proposal.no_agreement_changes")], t)
    if operational:
        blocks += _list(t("agreement.proposal.operational"), describe_changes(operational, t), t)
    if state.impact is not None:
        blocks += _list(t("agreement.proposal.impact", month=state.impact.month),
                        impact_lines(state.impact, t), t)
    blocks.append(section("\n".join(_status_lines(state, policy, t))))
    if state.status == "proposed":
        blocks.append(_buttons(state, t))
    return {"text": headline, "blocks": blocks}


def _list(title: str, lines: list[str], t: Translator) -> list[dict[str, Any]]:
    """``title`` and one bullet per line, split over sections of Slack's size."""
    sections: list[str] = []
    current = f"*{title}*"
    for line in lines:
        bullet = f"• {line}"
        if utf16_len(current) + 1 + utf16_len(bullet) > SECTION_LIMIT:
            sections.append(current)
            current = ""
        current = f"{current}\n{bullet}" if current else bullet
    sections.append(current)
    if len(sections) > CHANGE_SECTIONS:
        shown = sections[:CHANGE_SECTIONS]
        shown[-1] = (fit_escaped(shown[-1], SECTION_LIMIT - 200) + "\n"
                     + t("agreement.proposal.more"))
        sections = shown
    return [section(s) for s in sections]


def _status_lines(state: ProposalState, policy: Policy, t: Translator) -> list[str]:
    tz, lang = policy.tz, t.language
    lines = []
    for side in SIDES:
        people = [t("agreement.proposal.approver", user=f"<@{a.user_id}>",
                    at=format_datetime(a.at, lang, tz))
                  for a in state.approvals if a.side == side]
        lines.append(t(f"agreement.proposal.side_{side}",
                       who=t("agreement.proposal.approver_separator").join(people)
                       if people else t("agreement.proposal.waiting")))
    if state.status == "withdrawn":
        who = f"<@{state.withdrawn_by}>" if state.withdrawn_by else "—"
        lines.append(t("agreement.proposal.status_withdrawn", who=who))
    elif state.status == "superseded":
        lines.append(t("agreement.proposal.status_superseded", newer=state.newer or "—"))
    elif state.status == "rejected":
        lines.append(t("agreement.proposal.status_rejected"))
    elif state.status == "active":
        lines.append(t("agreement.proposal.status_active"))
    elif state.effective_at is not None:
        lines.append(t("agreement.proposal.status_approved",
                       at=format_datetime(state.effective_at, lang, tz)))
    else:
        lines.append(t("agreement.proposal.status_open"))
    return lines


def _buttons(state: ProposalState, t: Translator) -> dict[str, Any]:
    value = ProposalPayload(state.version_id).encode()
    elements: list[dict[str, Any]] = []
    if not state.approved:
        elements.append(button(Action.PROPOSAL_APPROVE.value, t("agreement.proposal.approve"),
                               value, "primary"))
        elements.append(button(Action.PROPOSAL_REQUEST_CHANGES.value,
                               t("agreement.proposal.request_changes"), value))
    withdraw = button(Action.PROPOSAL_WITHDRAW.value, t("agreement.proposal.withdraw"), value,
                      "danger")
    elements.append({
        **withdraw,
        "confirm": {
            "title": plain_text(fit_plain(t("agreement.proposal.withdraw_title"), 100)),
            "text": plain_text(fit_plain(t("agreement.proposal.withdraw_confirm",
                                           number=state.number), 300)),
            "confirm": plain_text(t("agreement.proposal.withdraw")),
            "deny": plain_text(t("agreement.proposal.keep")),
        },
    })
    return actions(elements)


def request_changes_modal(version_id: int, number: int, t: Translator) -> dict[str, Any]:
    """A required comment; ``private_metadata`` names the version (re-checked on submit)."""
    return modal(
        Callback.PROPOSAL_CHANGES_MODAL.value,
        t("agreement.proposal.modal_title"),
        t("agreement.proposal.modal_close"),
        [
            section(t("agreement.proposal.modal_intro", number=number)),
            input_block(ProposalBlock.COMMENT.value, t("agreement.proposal.modal_comment"),
                        {"type": "plain_text_input", "action_id": ProposalBlock.COMMENT.value,
                         "multiline": True, "max_length": COMMENT_MAX}),
        ],
        submit=t("agreement.proposal.modal_submit"),
        private_metadata=ProposalPayload(version_id).encode(),
    )


def read_comment(values: dict[str, Any], t: Translator) -> tuple[str | None, dict[str, str]]:
    """The comment, or the inline error: empty or whitespace only, or too long."""
    element = (values.get(ProposalBlock.COMMENT.value) or {}).get(ProposalBlock.COMMENT.value)
    raw = element.get("value") if isinstance(element, dict) else None
    comment = raw.strip() if isinstance(raw, str) else ""
    if not comment:
        return None, {ProposalBlock.COMMENT.value: t("agreement.proposal.error.comment_empty")}
    if len(comment) > COMMENT_MAX:
        return None, {ProposalBlock.COMMENT.value: t("agreement.proposal.error.comment_long",
                                                     limit=COMMENT_MAX)}
    return comment, {}


def impact_lines(impact: Impact, t: Translator) -> list[str]:
    """What the proposal would have done to last month's leads; one line when there were none,
    rather than "0 of 0"."""
    if impact.qualified == 0 and impact.handed_off == 0:
        return [t("agreement.proposal.impact_none")]
    return [t.plural("agreement.proposal.impact_qualified", impact.qualified,
                     not_qualified=impact.not_qualified),
            t.plural("agreement.proposal.impact_late", impact.handed_off,
                     before=impact.late_now, after=impact.late_proposed)]
