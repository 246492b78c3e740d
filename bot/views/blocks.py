"""Block Kit, built one way: text objects, blocks and elements, each cut to Slack's limits.

Every view builds its JSON from here, so a limit or a block's shape is decided once. What makes
text *safe* stays in ``bot.mrkdwn``: escaping, stripping invisible controls, and the two text
objects (``mrkdwn_text`` is always verbatim, ``plain_text`` always sanitised), re-exported here
so a view imports one module. Safety is a rule of its own, shared by the services and handlers
that write a line of mrkdwn; this module adds what only Block Kit needs: the blocks and elements
and how long each piece may be.

Lengths are counted in UTF-16 code units (``utf16_len``), as Slack counts them; that is never
less than Python's code-point count, so emoji- or CJK-heavy text stays within the limits.
Text is cut *before* it is escaped (``fit_mrkdwn``): an escape sequence such as ``&amp;`` is
never cut in half. Text that was escaped already (a sentence built from escaped parts) is cut
by ``fit_escaped``, which backs off to before an entity, mention or link it would split.
Cuts are made between code points, so a surrogate pair is never split either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bot.mrkdwn import escape, mrkdwn_text, plain_text, sanitise

__all__ = [
    "BUTTON_TEXT_LIMIT",
    "BUTTON_VALUE_LIMIT",
    "CONTEXT_LIMIT",
    "FALLBACK_LIMIT",
    "FIELD_LIMIT",
    "HEADER_LIMIT",
    "HINT_LIMIT",
    "LABEL_LIMIT",
    "OPTION_TEXT_LIMIT",
    "OPTION_VALUE_LIMIT",
    "PLACEHOLDER_LIMIT",
    "SECTION_LIMIT",
    "TITLE_LIMIT",
    "actions",
    "button",
    "context",
    "divider",
    "fields_section",
    "fit_escaped",
    "fit_lines",
    "fit_mrkdwn",
    "fit_plain",
    "header",
    "input_block",
    "modal",
    "mrkdwn_text",
    "option",
    "placeholder",
    "plain_text",
    "section",
    "section_field",
    "thread_link",
    "utf16_len",
]

# Slack's limits (Block Kit reference), in UTF-16 code units
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
#: a context line of our own budget (Slack allows a text object ``SECTION_LIMIT``)
CONTEXT_LIMIT = 2000
FALLBACK_LIMIT = 3000
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
TITLE_LIMIT = 24
LABEL_LIMIT = 2000
HINT_LIMIT = 2000
PLACEHOLDER_LIMIT = 150
OPTION_TEXT_LIMIT = 75
OPTION_VALUE_LIMIT = 150

ELLIPSIS = "…"
#: the longest escape entity ``escape`` writes (``&amp;``)
_ENTITY_MAX = len("&amp;")


# ------------------------------------------------------------------------ text budgets


def utf16_len(text: str) -> int:
    """Length as JavaScript (and so, conservatively, Slack) counts it."""
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, keep: int) -> str:
    """The first ``keep`` code points and an ellipsis, or ``text`` when it is that short."""
    if len(text) <= keep:
        return text
    return text[: max(keep - len(ELLIPSIS), 0)] + ELLIPSIS


def _cut_escaped(text: str, keep: int) -> str:
    """Like ``_cut``, backing off to before an entity (``&lt;``) or ``<…>`` it would split."""
    if len(text) <= keep:
        return text
    end = max(keep - len(ELLIPSIS), 0)
    head = text[:end]
    amp = head.rfind("&", max(end - _ENTITY_MAX + 1, 0))
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    opened = head.rfind("<")
    if opened != -1 and ">" not in head[opened:]:
        head = head[:opened]
    return head + ELLIPSIS


def _fit(text: str, limit: int, transform: Callable[[str], str],
         cut: Callable[[str, int], str] = _cut) -> str:
    """The longest cut of ``text`` whose transformed form is at most ``limit`` UTF-16 units.

    The transformed length grows with the cut, so a binary search finds the best cut in a
    dozen rounds even when escaping expands every character fivefold. Text that fits comes
    back whole.
    """
    whole = transform(text)
    if utf16_len(whole) <= limit:
        return whole
    best = transform(cut(text, 0))  # the ellipsis alone
    lo, hi = 1, min(limit, len(text) - 1)  # a cut shorter than the text, so it ends in "…"
    while lo <= hi:
        keep = (lo + hi) // 2
        candidate = transform(cut(text, keep))
        if utf16_len(candidate) <= limit:
            best, lo = candidate, keep + 1
        else:
            hi = keep - 1
    return best


def fit_mrkdwn(text: str | None, limit: int) -> str:
    """Raw user text escaped for mrkdwn, at most ``limit`` long, ending in "…" when cut.

    The raw text is cut, then escaped: an escape sequence is never cut in half.
    """
    return _fit(text or "", limit, escape)


def fit_escaped(text: str, limit: int) -> str:
    """mrkdwn already escaped (a sentence of escaped parts, mentions and links), at most
    ``limit`` long: a cut never splits an entity, a mention or a link."""
    return _fit(text, limit, sanitise, _cut_escaped)


def fit_plain(text: str, limit: int) -> str:
    """Text for a plain_text object (no escaping, invisible controls stripped), at most
    ``limit`` long."""
    return _fit(text, limit, sanitise)


def fit_lines(lines: Sequence[str], more: Callable[[int], str], hidden: int = 0,
              limit: int = SECTION_LIMIT) -> str:
    """Lines of mrkdwn joined, whole lines dropped from the end (told by ``more(count)``, as
    "+N more") until they fit ``limit``; a single line too long is cut (``fit_escaped``)."""
    kept = list(lines)
    while True:
        text = "\n".join([*kept, *([more(hidden)] if hidden else [])])
        if utf16_len(text) <= limit or len(kept) <= 1:
            return fit_escaped(text, limit)
        kept.pop()
        hidden += 1


# ------------------------------------------------------------------------------ blocks


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain_text(fit_plain(text, HEADER_LIMIT))}


def section(text: str) -> dict[str, Any]:
    """A mrkdwn section; ``text`` is mrkdwn already (user parts escaped)."""
    return {"type": "section", "text": mrkdwn_text(fit_escaped(text, SECTION_LIMIT))}


def section_field(label: str, value: str) -> dict[str, Any]:
    """One of a section's fields: a bold label over its value (mrkdwn already)."""
    return mrkdwn_text(fit_escaped(f"*{label}*\n{value}", FIELD_LIMIT))


def fields_section(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A section of fields (``section_field``); Slack shows them two to a row."""
    return {"type": "section", "fields": list(items)}


def context(text: str, limit: int = SECTION_LIMIT) -> dict[str, Any]:
    """A context block of one mrkdwn line (mrkdwn already)."""
    return {"type": "context", "elements": [mrkdwn_text(fit_escaped(text, limit))]}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def actions(elements: Sequence[dict[str, Any]], block_id: str | None = None) -> dict[str, Any]:
    if block_id is None:
        return {"type": "actions", "elements": list(elements)}
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


def button(action_id: str, text: str, value: str | None = None,
           style: str | None = None) -> dict[str, Any]:
    """A button; its value is a hint only (listeners re-check the database)."""
    element: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": plain_text(fit_plain(text, BUTTON_TEXT_LIMIT)),
    }
    if value is not None:
        element["value"] = fit_plain(value, BUTTON_VALUE_LIMIT)
    if style:
        element["style"] = style
    return element


def option(value: str, text: str) -> dict[str, Any]:
    return {"text": plain_text(fit_plain(text, OPTION_TEXT_LIMIT)), "value": value}


def placeholder(text: str) -> dict[str, Any]:
    """A select's or input's placeholder."""
    return plain_text(fit_plain(text, PLACEHOLDER_LIMIT))


def input_block(block_id: str, label: str, element: dict[str, Any], *,
                optional: bool = False, hint: str | None = None) -> dict[str, Any]:
    """A modal input whose block and action ids are both ``block_id`` by convention."""
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": plain_text(fit_plain(label, LABEL_LIMIT)),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain_text(fit_plain(hint, HINT_LIMIT))
    return block


def modal(callback_id: str, title: str, close: str, blocks: Sequence[dict[str, Any]], *,
          submit: str | None = None, private_metadata: str | None = None) -> dict[str, Any]:
    """A modal view; ``submit`` only for a form, ``private_metadata`` when it names a subject."""
    view: dict[str, Any] = {"type": "modal", "callback_id": callback_id}
    if private_metadata is not None:
        view["private_metadata"] = private_metadata
    view["title"] = plain_text(fit_plain(title, TITLE_LIMIT))
    if submit is not None:
        view["submit"] = plain_text(fit_plain(submit, TITLE_LIMIT))
    view["close"] = plain_text(fit_plain(close, TITLE_LIMIT))
    view["blocks"] = list(blocks)
    return view


# ------------------------------------------------------------------------------- links


def thread_link(channel_id: str | None, message_ts: str | None) -> str | None:
    """A link to a message (and so its thread): ``https://slack.com/archives/C…/p<ts>``.

    Slack redirects this form to the reader's workspace, so no workspace domain is needed and
    no ``chat.getPermalink`` call per lead. Only id characters survive: the link goes into mrkdwn.
    """
    channel = "".join(c for c in channel_id or "" if c.isalnum())
    ts = "".join(c for c in message_ts or "" if c.isdigit())
    if not channel or not ts:
        return None
    return f"https://slack.com/archives/{channel}/p{ts}"
