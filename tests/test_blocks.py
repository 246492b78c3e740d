"""The Block Kit toolkit's text budgets, as properties: whatever the text, a cut fits Slack's
limit in UTF-16 units, never splits a surrogate pair, an escape entity, a mention or a link,
and text that fits comes back unchanged."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.mrkdwn import escape, sanitise
from bot.views.blocks import (
    ELLIPSIS,
    fit_escaped,
    fit_lines,
    fit_mrkdwn,
    fit_plain,
    section,
    utf16_len,
)

#: emoji and other astral characters (two UTF-16 units each), CJK, the characters escaping
#: expands, and plain ASCII
TEXT = st.text(
    alphabet=st.sampled_from("a &<>;|@#") | st.sampled_from("😀👍🏽𠀋漢字かな")
    | st.characters(exclude_categories=["Cs"]),
    max_size=300,
)
LIMIT = st.integers(min_value=1, max_value=400)
#: what ``escape`` writes for ``&``, ``<`` and ``>``; every ``&`` of escaped text starts one
ENTITY = re.compile(r"&(?:amp|lt|gt);")


def whole_entities(text: str) -> bool:
    return text.count("&") == len(ENTITY.findall(text))


def whole_links(text: str) -> bool:
    """Every ``<`` is closed by a ``>`` after it (a mention or link kept whole)."""
    return re.fullmatch(r"[^<>]*(?:<[^<>]*>[^<>]*)*", text) is not None


def utf16_clean(text: str) -> bool:
    """No lone surrogate: the text encodes as UTF-16 as it is."""
    try:
        text.encode("utf-16-le")
    except UnicodeEncodeError:
        return False
    return True


def assert_fits_whole(fitted: str, limit: int) -> None:
    """Within ``limit`` UTF-16 units (the ellipsis alone at the least), no entity or surrogate
    pair cut."""
    assert utf16_len(fitted) <= max(limit, utf16_len(ELLIPSIS))
    assert whole_entities(fitted), fitted
    assert utf16_clean(fitted)


@settings(max_examples=400)
@given(text=TEXT, limit=LIMIT)
def test_fit_mrkdwn_fits_and_never_splits_an_entity(text: str, limit: int) -> None:
    fitted = fit_mrkdwn(text, limit)
    assert_fits_whole(fitted, limit)
    assert "<" not in fitted and ">" not in fitted


@settings(max_examples=400)
@given(text=TEXT, limit=LIMIT)
def test_fit_mrkdwn_keeps_text_that_fits(text: str, limit: int) -> None:
    if utf16_len(escape(text)) <= limit:
        assert fit_mrkdwn(text, limit) == escape(text)
    else:
        assert fit_mrkdwn(text, limit).endswith(ELLIPSIS)


@settings(max_examples=400)
@given(text=TEXT, limit=LIMIT)
def test_fit_plain_fits_and_keeps_text_that_fits(text: str, limit: int) -> None:
    fitted = fit_plain(text, limit)
    assert utf16_len(fitted) <= max(limit, utf16_len(ELLIPSIS))
    assert utf16_clean(fitted)
    if utf16_len(sanitise(text)) <= limit:
        assert fitted == sanitise(text)


#: mrkdwn as the views assemble it: escaped user text, our own mentions and links
ESCAPED = st.lists(
    TEXT.map(escape)
    | st.from_regex(r"<@U[A-Z0-9]{2,10}>", fullmatch=True)
    | st.from_regex(r"<https://slack\.com/archives/C[A-Z0-9]{3}/p[0-9]{6}\|[a-z ]{1,20}>",
                    fullmatch=True),
    max_size=12,
).map(" ".join)


@settings(max_examples=400)
@given(text=ESCAPED, limit=LIMIT)
def test_fit_escaped_never_splits_an_entity_a_mention_or_a_link(text: str, limit: int) -> None:
    fitted = fit_escaped(text, limit)
    assert_fits_whole(fitted, limit)
    assert whole_links(fitted), fitted
    if utf16_len(text) <= limit:
        assert fitted == text
    else:
        assert fitted.endswith(ELLIPSIS)


@settings(max_examples=200)
@given(lines=st.lists(ESCAPED, max_size=30), limit=st.integers(min_value=20, max_value=3000))
def test_fit_lines_drops_whole_lines_and_fits(lines: list[str], limit: int) -> None:
    text = fit_lines(lines, lambda n: f"+{n} more", limit=limit)
    assert utf16_len(text) <= limit
    assert whole_entities(text) and whole_links(text)
    if utf16_len("\n".join(lines)) <= limit:
        assert text == "\n".join(lines)


def test_a_cut_counts_utf16_units_not_code_points() -> None:
    """1,000 emoji are 1,000 code points but 2,000 UTF-16 units: a section cuts them."""
    text = section("😀" * 2000)["text"]["text"]
    assert utf16_len(text) <= 3000 < utf16_len("😀" * 2000)
    assert text.endswith(ELLIPSIS) and utf16_clean(text)


def test_escaping_comes_before_the_cut_so_the_escaped_form_fits() -> None:
    """``&`` becomes five characters: the raw text is cut so that its escaped form fits."""
    fitted = fit_mrkdwn("&" * 100, 12)
    assert fitted == "&amp;&amp;…"
    assert fit_escaped("a &amp; b", 7) == "a …"
