"""Escaping user text for Slack mrkdwn.

Slack turns ``<!channel>``, ``<@U123>`` and ``<https://…|label>`` into mentions and links;
escaping ``&``, ``<`` and ``>`` as Slack documents makes any lead name or note plain text, so a
lead called ``<!channel>`` pings nobody.
"""

from __future__ import annotations


def escape(text: str | None) -> str:
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """Cut ``text`` to ``limit`` characters (Slack rejects over-long sections)."""
    return text if len(text) <= limit else text[: max(limit - len(ellipsis), 0)] + ellipsis
