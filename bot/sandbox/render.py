"""Slack surfaces as plain text: what a person would see, from the Block Kit the bot sent.

The demo records every call the bot makes to the Slack stand-in and prints the visible ones
here — channel posts, thread replies, DMs, ephemerals, modals, the App Home — each under a
header naming the surface, whose it is and the simulated local time. Pure functions of the
call's arguments; nothing here talks to the bot or the database.
"""

from __future__ import annotations

import itertools
import textwrap
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.i18n import Translator
from bot.terminal_text import emojize, plain

__all__ = ["Names", "Rendered", "blocks_text", "mrkdwn_text", "render_call", "render_modal"]

RULE = "─"
WIDTH = 78


@dataclass(frozen=True)
class Names:
    """Display names of people and channels, so ``<@U0000REP1>`` reads ``@sato``."""

    users: Mapping[str, str]
    channels: Mapping[str, str]

    def user(self, user_id: str | None) -> str:
        if not user_id:
            return "@?"
        return "@" + self.users.get(user_id, user_id)

    def channel(self, channel_id: str | None) -> str:
        if not channel_id:
            return "#?"
        return "#" + self.channels.get(channel_id, channel_id)


@dataclass(frozen=True)
class Rendered:
    """One surface as it appears: its kind ("channel", "thread", "DM", "ephemeral", "modal",
    "App Home"), a header and the body lines."""

    surface: str
    header: str
    lines: tuple[str, ...]

    def text(self, *, bold: Callable[[str], str] = str) -> str:
        head = f"{RULE * 2} {self.header} "
        head += RULE * max(3, WIDTH - display_width(head))
        return "\n".join([bold(head), *(f"  {line}" for line in self.lines)])


# ------------------------------------------------------------------------------ text


def display_width(text: str) -> int:
    """Columns a terminal gives ``text``: wide (CJK) characters take two, so Japanese frame
    headers end where English ones do."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def mrkdwn_text(text: str, names: Names) -> str:
    """Slack's mrkdwn as read on screen: mentions and links resolved, entities decoded,
    shortcodes shown as emoji (``bot.terminal_text``); a link shows its label only."""

    return plain(text, user=names.user, channel=names.channel, links="label")


def _plain(obj: Any, names: Names) -> str:
    """A text object (plain_text or mrkdwn) as a string."""
    if isinstance(obj, dict):
        text = str(obj.get("text", ""))
        return mrkdwn_text(text, names) if obj.get("type") == "mrkdwn" else emojize(text)
    return str(obj or "")


def _element(element: dict[str, Any], names: Names) -> str:
    """An interactive element as a one-line widget: ``[ Claim ]``, ``[ Choose… ▾ ]``."""
    kind = element.get("type")
    if kind == "button":
        return f"[ {_plain(element.get('text'), names)} ]"
    if kind == "overflow":
        return "[ ⋯ ]"
    if kind in ("static_select", "external_select", "users_select", "conversations_select",
                "channels_select", "multi_static_select", "multi_users_select"):
        shown = element.get("initial_option") or {}
        label = _plain(shown.get("text"), names) if shown else _plain(
            element.get("placeholder"), names) or "Select"
        return f"[ {label} ▾ ]"
    if kind == "datepicker":
        return f"[ {element.get('initial_date') or 'date'} 📅 ]"
    if kind == "image":
        return ""
    if kind in ("plain_text", "mrkdwn"):
        return _plain(element, names)
    return f"[ {kind} ]"


def _input(block: dict[str, Any], names: Names) -> list[str]:
    """A modal input: its label, then the choices or an empty field."""
    label = _plain(block.get("label"), names)
    element = block.get("element") or {}
    kind = element.get("type")
    lines = [label]
    if kind in ("checkboxes", "radio_buttons"):
        chosen = [o.get("value") for o in element.get("initial_options") or []]
        if element.get("initial_option"):
            chosen.append(element["initial_option"].get("value"))
        boxes = ("[ ]", "[x]") if kind == "checkboxes" else ("( )", "(•)")
        lines += [f"  {boxes[o.get('value') in chosen]} {_plain(o.get('text'), names)}"
                  for o in element.get("options", [])]
    elif kind in ("static_select", "multi_static_select") and element.get("initial_option"):
        lines.append(f"  [ {_plain(element['initial_option'].get('text'), names)} ▾ ]")
    elif kind in ("static_select", "multi_static_select"):
        options = [_plain(o.get("text"), names) for o in element.get("options", [])]
        for group in element.get("option_groups", []):
            options += [_plain(o.get("text"), names) for o in group.get("options", [])]
        lines.append(f"  [ {_plain(element.get('placeholder'), names) or 'Select'} ▾ ]  "
                     + " · ".join(options))
    elif kind in ("number_input", "plain_text_input"):
        given = element.get("initial_value")
        hint = _plain(element.get("placeholder"), names)
        lines.append(f"  [ {given or hint or '…'} ]")
    else:
        lines.append(f"  {_element(element, names)}")
    return lines


def _rich_text(block: dict[str, Any]) -> str:
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                out.append(str(node.get("text", "")))
            for child in node.get("elements", []) or []:
                walk(child)

    walk(block)
    return "".join(out)


def blocks_text(blocks: list[dict[str, Any]], names: Names) -> list[str]:
    """Every block as lines of text, in order."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"▍{_plain(block.get('text'), names)}")
        elif kind == "section":
            if block.get("text"):
                lines += _plain(block["text"], names).splitlines()
            fields = [" ".join(_plain(f, names).split("\n")) for f in block.get("fields") or []]
            for left, right in itertools.zip_longest(fields[::2], fields[1::2], fillvalue=""):
                lines.append(f"  {left:<36} {right}" if right else f"  {left}")
            accessory = block.get("accessory")
            if accessory and accessory.get("type") != "image":
                lines.append(f"  {_element(accessory, names)}")
        elif kind == "context":
            parts = [_element(e, names) for e in block.get("elements", [])]
            lines.append("  ".join(p for p in parts if p))
        elif kind == "divider":
            lines.append(RULE * 40)
        elif kind == "actions":
            lines.append("  ".join(_element(e, names) for e in block.get("elements", [])))
        elif kind == "input":
            lines += _input(block, names)
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text', '')}]")
        elif kind == "rich_text":
            lines += _rich_text(block).splitlines()
        else:
            lines.append(f"[{kind}]")
    return [line.rstrip() for line in lines]


def _message_lines(args: Mapping[str, Any], names: Names) -> list[str]:
    blocks = args.get("blocks")
    if isinstance(blocks, list) and blocks:
        lines = blocks_text(blocks, names)
    else:
        lines = mrkdwn_text(str(args.get("text") or ""), names).splitlines()
    wrapped: list[str] = []
    for line in lines:
        if line.startswith("["):  # a row of buttons reads better long than broken
            wrapped.append(line)
            continue
        indent = len(line) - len(line.lstrip(" "))
        wrapped += textwrap.wrap(line, WIDTH - 2, subsequent_indent=" " * (indent + 2),
                                 drop_whitespace=False, replace_whitespace=False) or [""]
    return wrapped


# ------------------------------------------------------------------------------ surfaces


def render_call(
    method: str,
    args: Mapping[str, Any],
    response: Mapping[str, Any] | None,
    *,
    at: str,
    names: Names,
    thread_title: Callable[[str, str], str] = lambda _channel, _ts: "",
    response_target: Callable[[str], Mapping[str, str | None]] = lambda _name: {},
    trigger_user: Callable[[str], str | None] = lambda _trigger: None,
    t: Translator | None = None,
) -> Rendered | None:
    """The surface one Web API call changed, or None when it shows nothing to anyone.

    ``thread_title(channel, ts)`` names a thread by its parent message; ``response_target``
    says where a response URL's answers appear (channel, message, user); ``trigger_user``
    names who pressed what opened a modal. Frame headers are in ``t``'s language (the bot's),
    so a Japanese demo does not say "ephemeral · only @x sees it".
    """
    t = t or Translator("en")

    def frame(key: str, **params: Any) -> str:
        return f"{at} · " + t(f"demo.frame.{key}", **params)

    if response is not None and response.get("ok") is False:
        return None
    channel = str(args.get("channel") or args.get("channel_id") or "")
    if method == "chat.postMessage":
        lines = tuple(_message_lines(args, names))
        if channel.startswith(("U", "W", "D")):
            user = channel[1:] if channel.startswith("D") else channel
            return Rendered("DM", frame("dm", user=names.user(user)), lines)
        if args.get("thread_ts"):
            title = thread_title(channel, str(args["thread_ts"]))
            if title:
                return Rendered("thread", frame("thread", title=title,
                                                channel=names.channel(channel)), lines)
            return Rendered("thread", frame("thread_untitled", channel=names.channel(channel)),
                            lines)
        return Rendered("channel", frame("channel", channel=names.channel(channel)), lines)
    if method == "chat.update":
        lines = tuple(_message_lines(args, names))
        if channel.startswith("D"):
            return Rendered("DM", frame("dm_updated", user=names.user(channel[1:])), lines)
        return Rendered("channel", frame("channel_updated", channel=names.channel(channel)),
                        lines)
    if method == "chat.postEphemeral":
        return Rendered(
            "ephemeral",
            frame("ephemeral_in", channel=names.channel(channel),
                  user=names.user(str(args.get("user")))),
            tuple(_message_lines(args, names)),
        )
    if method == "response_url":
        target = response_target(str(args.get("_name", "")))
        lines = tuple(_message_lines(args, names))
        where = names.channel(target.get("channel"))
        if args.get("replace_original") in (True, "true") and target.get("message_ts"):
            return Rendered("channel", frame("channel_updated", channel=where), lines)
        if args.get("response_type") == "in_channel":
            return Rendered("channel", frame("channel", channel=where), lines)
        return Rendered("ephemeral", frame("ephemeral", user=names.user(target.get("user"))),
                        lines)
    if method in ("views.open", "views.push", "views.update"):
        view = args.get("view") or {}
        if not isinstance(view, dict):
            return None
        user = trigger_user(str(args.get("trigger_id") or ""))
        return render_modal(view, at=at, names=names, user=user, t=t)
    if method == "views.publish":
        view = args.get("view") or {}
        body = blocks_text(view.get("blocks") or [], names) if isinstance(view, dict) else []
        return Rendered("App Home", frame("home", user=names.user(str(args.get("user_id")))),
                        tuple(body))
    if method == "files.completeUploadExternal":
        files = args.get("files") or []
        titles = ", ".join(str(f.get("title") or f.get("id")) for f in files
                           if isinstance(f, dict))
        comment = mrkdwn_text(str(args.get("initial_comment") or ""), names)
        return Rendered("channel", frame("file", channel=names.channel(channel)),
                        tuple([*comment.splitlines(), f"📎 {titles}"]))
    return None


def render_modal(view: Mapping[str, Any], *, at: str, names: Names, user: str | None,
                 t: Translator, filled: bool = False) -> Rendered:
    """A modal as opened, or (``filled``) with the answers its inputs carry as initial values,
    so the reader sees what was submitted."""
    title = _plain(view.get("title"), names)
    body = blocks_text(view.get("blocks") or [], names)
    buttons = "  ".join(f"[ {_plain(view[k], names)} ]" for k in ("close", "submit")
                        if view.get(k))
    key = "modal_filled" if filled else "modal"
    header = f"{at} · " + t(f"demo.frame.{key}", title=title)
    if user:
        header += " · " + names.user(user)
    return Rendered("modal", header, tuple([*body, *([buttons] if buttons else [])]))
