"""User text made safe for Slack: escaped, stripped of invisible controls, never auto-linked.

Slack turns ``<!channel>``, ``<@U123>`` and ``<https://…|label>`` into mentions and links;
escaping ``&``, ``<`` and ``>`` as Slack documents makes any lead name or note plain text, so a
lead called ``<!channel>`` pings nobody. Slack also *preprocesses* mrkdwn unless a text object
says ``verbatim``: a bare ``https://…`` or ``#general`` in a lead name would become a live link.
Every mrkdwn text object is built by ``mrkdwn_text`` and is verbatim — our own mentions and links
are written out explicitly (``<@U…>``, ``<#C…>``, ``<url|label>``), which verbatim keeps — and
every plain_text object by ``plain_text``. Both, and ``escape``, strip invisible controls
(``sanitise``).
"""

from __future__ import annotations

from typing import Any

#: bidirectional controls (LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI; LRM, RLM; ALM) and
#: zero-width characters (ZWSP, ZWNJ, ZWJ, word joiner, BOM / ZWNBSP)
INVISIBLE_CONTROLS = frozenset(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C,
     *range(0x200B, 0x200E), 0x2060, 0xFEFF]
)
_STRIP = dict.fromkeys(INVISIBLE_CONTROLS)


def sanitise(text: str) -> str:
    """``text`` without bidi controls and zero-width characters.

    Stripped rather than shown as a marker: they have no visible form, and in a one-line name
    or note their only effect is to reorder or hide what people read (an RTL override makes
    "moc.elpmaxe@" read as a trusted address, a zero-width space makes two names look alike).
    Slack lays out Arabic and Hebrew text by the Unicode bidi algorithm without them, and the
    stored record keeps the original (only what is shown is cleaned). The cost — an emoji
    built with ZWJ shows as its parts — is cosmetic.
    """
    return text.translate(_STRIP)


def escape(text: str | None) -> str:
    """User text for mrkdwn: sanitised, then ``&``, ``<`` and ``>`` escaped."""
    if not text:
        return ""
    return sanitise(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn_text(text: str) -> dict[str, Any]:
    """A mrkdwn text object Slack shows as written: no auto-links, channel or name parsing."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def plain_text(text: str) -> dict[str, Any]:
    """A plain_text object (headers, buttons, options, titles); invisible controls stripped."""
    return {"type": "plain_text", "text": sanitise(text), "emoji": True}
