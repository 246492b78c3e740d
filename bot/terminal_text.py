"""Slack text as a terminal shows it: the one converter from mrkdwn / Block Kit to plain text.

``sla-bot report``, ``digest --dry-run`` and the demo print what the bot would post to Slack.
A terminal does not render mrkdwn, so ``*bold*``, backticks, ``<url|label>``, ``&lt;`` and
``:tada:`` would show raw. Everything printed from Slack text goes through ``plain`` (and
``blocks_as_text`` for a whole message), so the terminal reads the way Slack does.

Shortcodes come from the ``emoji`` package (its ``alias`` names are GitHub's and Slack's),
plus the few Slack-only names it lacks (``SLACK_ONLY``); an unknown one is left as written.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any, Literal

import emoji

__all__ = ["SLACK_ONLY", "blocks_as_text", "emojize", "plain"]

#: Slack's names that the ``emoji`` package does not know under its ``alias`` language
SLACK_ONLY = {"large_orange_circle": "🟠", "large_blue_circle": "🔵", "sick": "🤢"}

_ANGLE = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_CODE_BLOCK = re.compile(r"```\n?(.*?)\n?```", re.S)
_CODE = re.compile(r"`([^`\n]+)`")
#: Slack's emphasis: a marker at a word's edge, not inside one (``snake_case`` stays); next
#: to Japanese text too (``今週の*件数*は``), which has no spaces between words
_EMPHASIS = [re.compile(rf"(?<![A-Za-z0-9{m}])[{m}](?=\S)([^{m}\n]*?\S)[{m}](?![A-Za-z0-9{m}])")
             for m in ("*", "_", "~")]
_SHORTCODE = re.compile(r":([a-z0-9_+-]+):")

Links = Literal["label (url)", "label"]


def emojize(text: str) -> str:
    """``:tada:`` → 🎉 for every shortcode Slack knows; others stay as written (``10:12:00``)."""

    def one(match: re.Match[str]) -> str:
        name = match[1]
        if name in SLACK_ONLY:
            return SLACK_ONLY[name]
        shown = emoji.emojize(f":{name}:", language="alias")
        return shown if shown != f":{name}:" else match[0]

    return _SHORTCODE.sub(one, text)


def _at(user_id: str) -> str:
    return "@" + user_id


def _hash(channel_id: str) -> str:
    return "#" + channel_id


def plain(
    text: str,
    *,
    user: Callable[[str], str] = _at,
    channel: Callable[[str], str] = _hash,
    links: Links = "label (url)",
) -> str:
    """One mrkdwn string as plain text: markers gone, mentions and links spelled out.

    ``user`` / ``channel`` name a mention (``@U123`` by default; the demo knows names);
    ``links`` says whether a link keeps its address after its label.
    """

    def angle(match: re.Match[str]) -> str:
        target, label = match[1], match[2]
        if target.startswith("@"):
            return user(target[1:])
        if target.startswith("#"):
            return "#" + label if label else channel(target[1:])
        if target.startswith("!subteam^"):
            return label or "@group"
        if target.startswith("!date^"):
            return label or target
        if target.startswith("!"):
            return "@" + target[1:]
        if not label or label == target:
            return target
        return f"{label} ({target})" if links == "label (url)" else label

    text = _CODE_BLOCK.sub(r"\1", text)
    text = _CODE.sub(r"\1", text)
    for pattern in _EMPHASIS:
        text = pattern.sub(r"\1", text)
    text = emojize(_ANGLE.sub(angle, text))
    return html.unescape(text)


def blocks_as_text(message: dict[str, Any]) -> str:
    """A message's blocks for a terminal (``sla-bot report``, ``digest --dry-run``)."""
    lines: list[str] = []
    for block in message.get("blocks", []):
        kind = block.get("type")
        if kind == "header":
            text = emojize(str(block["text"]["text"]))
            lines += [text, "=" * min(len(text) * 2, 72)]
        elif kind == "section":
            lines += [plain(str(block["text"]["text"])), ""]
        elif kind == "context":
            lines += [_text_object(e) for e in block.get("elements", [])]
        elif kind == "divider":
            lines.append("-" * 40)
    return "\n".join(lines).rstrip() + "\n"


def _text_object(obj: dict[str, Any]) -> str:
    text = str(obj.get("text", ""))
    return plain(text) if obj.get("type") == "mrkdwn" else emojize(text)
