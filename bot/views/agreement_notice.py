"""The "agreement vN is in effect" post to the hand-off and marketing channels (SPEC 9).

Pure: built from an ``InEffectNotice`` the activation prepared. Both sides read the same post,
so it says what changed (one plain-language line per change, old → new) and who agreed to it
— or, without approvers configured, that it came from the policy file at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.i18n import Translator, format_datetime
from bot.views.blocks import SECTION_LIMIT, context, fit_mrkdwn, header, section, utf16_len

__all__ = ["MAX_CHANGE_LINES", "InEffectNotice", "in_effect_message"]

#: change lines shown; a bigger revision names how many more there are (Slack caps a section)
MAX_CHANGE_LINES = 25
LINE_LIMIT = 300


@dataclass(frozen=True)
class InEffectNotice:
    number: int
    #: the version it replaces; None for the first one
    previous: int | None
    effective_at: datetime
    #: plain-language change lines (``bot.agreement.changes.describe_changes``)
    changes: tuple[str, ...]
    #: user ids who approved, per side; both empty for a version taken from the policy file
    marketing_approvers: tuple[str, ...]
    sales_approvers: tuple[str, ...]
    note: str | None = None

    @property
    def from_file(self) -> bool:
        return not self.marketing_approvers and not self.sales_approvers


def _mentions(user_ids: tuple[str, ...], t: Translator) -> str:
    return t("agreement.in_effect.separator").join(f"<@{u}>" for u in user_ids)


def _changes_text(notice: InEffectNotice, t: Translator) -> str:
    """The change lines that fit one section (at most ``MAX_CHANGE_LINES``), then how many
    more there are."""
    if not notice.changes:
        return t("agreement.in_effect.no_changes")
    lines = [t("agreement.in_effect.changes_heading")]
    # room for the heading and the "…and N more" line
    budget = SECTION_LIMIT - utf16_len(lines[0]) - 100
    for line in notice.changes[:MAX_CHANGE_LINES]:
        bullet = f"• {fit_mrkdwn(line, LINE_LIMIT)}"
        if utf16_len(bullet) + 1 > budget:
            break
        lines.append(bullet)
        budget -= utf16_len(bullet) + 1
    if hidden := len(notice.changes) - (len(lines) - 1):
        lines.append(t.plural("agreement.in_effect.more_changes", hidden))
    return "\n".join(lines)


def in_effect_message(notice: InEffectNotice, t: Translator, tz: ZoneInfo) -> dict[str, Any]:
    """``text`` and ``blocks`` for ``chat.postMessage``."""
    title = t("agreement.in_effect.title", number=notice.number)
    since = format_datetime(notice.effective_at, t.language, tz)
    if notice.previous is None:
        lead = t("agreement.in_effect.since_first", at=since)
    else:
        lead = t("agreement.in_effect.since", at=since, previous=notice.previous)
    if notice.from_file:
        who = t("agreement.in_effect.from_file")
    else:
        who = t("agreement.in_effect.approved_by",
                marketing=_mentions(notice.marketing_approvers, t),
                sales=_mentions(notice.sales_approvers, t))
    blocks: list[dict[str, Any]] = [
        header(title),
        section(lead),
        section(_changes_text(notice, t)),
    ]
    if notice.note:
        note = t("agreement.in_effect.note", note=fit_mrkdwn(notice.note, 1000))
        blocks.append(section(note))
    blocks.append(context(who))
    return {"text": title, "blocks": blocks}
