"""The one converter from Slack text to terminal text (``bot.terminal_text``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.terminal_text import blocks_as_text, emojize, plain

LOCALES = Path(__file__).resolve().parent.parent / "bot" / "locales"
#: a shortcode names something: at least one letter, so the "09:12:00" of an example timestamp
#: is not taken for one
SHORTCODE = re.compile(r":((?=[a-z0-9_+-]*[a-z])[a-z0-9_+-]+):")


@pytest.mark.parametrize(("slack", "terminal"), [
    ("*Promises* this week", "Promises this week"),
    ("_note_ and ~old~", "note and old"),
    ("run `sla-bot migrate` first", "run sla-bot migrate first"),
    ("```\nblock\n```", "block"),
    ("今週の*件数*は 3", "今週の件数は 3"),
    ("external_id and 2*3*4 stay", "external_id and 2*3*4 stay"),
    ("<https://x.example/a|Acme &amp; Co>", "Acme & Co (https://x.example/a)"),
    ("<https://x.example/a>", "https://x.example/a"),
    ("owner <@U0123ABC>", "owner @U0123ABC"),
    ("<!here> <!subteam^S1|@sales>", "@here @sales"),
    ("&lt;!channel&gt; is text", "<!channel> is text"),
    (":tada: done :white_check_mark:", "🎉 done ✅"),
    ("at 09:12:00 :not_an_emoji_xyz:", "at 09:12:00 :not_an_emoji_xyz:"),
])
def test_plain_reads_as_slack_shows_it(slack: str, terminal: str) -> None:
    assert plain(slack) == terminal


def test_links_can_keep_only_their_label_and_names_resolve() -> None:
    text = plain("<https://x.example|Acme> by <@U1>", user=lambda uid: "@sato",
                 links="label")
    assert text == "Acme by @sato"


def test_every_shortcode_in_the_locales_becomes_an_emoji() -> None:
    """A shortcode added to a locale that neither the emoji package nor SLACK_ONLY knows
    would print raw on every terminal: this names it."""
    found = set()
    for path in LOCALES.glob("*.toml"):
        found |= set(SHORTCODE.findall(path.read_text("utf-8")))
    assert found, "the locales use shortcodes; the pattern found none"
    raw = sorted(name for name in found if emojize(f":{name}:") == f":{name}:")
    assert raw == []


def test_a_message_prints_without_markup() -> None:
    message = {"blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": ":bar_chart: Week 48"}},
        {"type": "section", "text": {
            "type": "mrkdwn", "text": "*Breaches (1)*\n• <https://s.example/t|Acme> — <@U1>"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "_see_ `sla-bot report`"}]},
    ]}
    assert blocks_as_text(message) == (
        "📊 Week 48\n" + "=" * 18 + "\nBreaches (1)\n• Acme (https://s.example/t) — @U1\n\n"
        "see sla-bot report\n"
    )
