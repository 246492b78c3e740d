"""The handoff message: what a rep reads, that user text cannot ping anyone, Slack's limits."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cards import handoff_card
from bot.i18n import Translator
from bot.ids import Action, Block
from bot.mrkdwn import INVISIBLE_CONTROLS, escape, plain_text
from bot.policy import Policy
from bot.views.blocks import fit_mrkdwn, fit_plain, utf16_len
from bot.views.handoff import handoff_message
from storage.models import Activity, Lead
from tests.harness.blocks import text_objects

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 20, 17, 30, tzinfo=TOKYO)  # Friday; Monday 23 Nov is a holiday
EN = Translator("en")
JA = Translator("ja")
NASTY = (
    "<!channel> <@U123> <!here|here> & &amp; <https://evil.example|click> 🎉👨‍👩‍👧 営業部長 *bold*"
)


def make_lead(activities: int | list[Activity] = 3, **fields: Any) -> Lead:
    values: dict[str, Any] = {
        "id": 42,
        "external_id": "hubspot-20391",
        "source": "hubspot",
        "qualified_at": datetime(2026, 11, 20, 9, 12, tzinfo=TOKYO),
        "posted_at": NOW,
        "contact_name": "Sato Hanako",
        "contact_title": "営業部長",
        "company_name": "Example KK",
        "company_industry": "manufacturing",
        "company_employees": 1250,
        "score": 72,
        "tier": None,
    }
    values.update(fields)
    lead = Lead(**values)
    if isinstance(activities, int):
        base = datetime(2026, 11, 1, 10, 0, tzinfo=TOKYO)
        # Deliberately stored oldest first: the view must sort.
        activities = [
            Activity(type="page_view", at=base + timedelta(hours=i), detail=f"/page/{i}")
            for i in range(activities)
        ]
    lead.activities = activities
    return lead


def example_lead() -> Lead:
    """The SPEC section 3 lead, handed off on Friday evening."""
    return make_lead(
        [
            Activity(
                type="download",
                at=datetime(2026, 11, 18, 15, 30, tzinfo=TOKYO),
                detail="SLA whitepaper",
            ),
            Activity(
                type="page_view", at=datetime(2026, 11, 17, 10, 1, tzinfo=TOKYO), detail="/pricing"
            ),
            Activity(
                type="webinar",
                at=datetime(2026, 11, 19, 14, 0, tzinfo=TOKYO),
                detail="Sales x Marketing alignment",
            ),
        ]
    )


# ----------------------------------------------------------------- payload helpers


def card_message(lead: Lead, policy: Policy, now: datetime, t: Translator) -> dict[str, Any]:
    """The card as the services render it: the lead's data read into ``HandoffCard`` first."""
    return handoff_message(handoff_card(lead), policy, now, t)


def blocks_of(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for b in message["blocks"] if b["type"] == kind]


def field_texts(message: dict[str, Any]) -> list[str]:
    return [f["text"] for b in blocks_of(message, "section") for f in b.get("fields", [])]


def section_texts(message: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in blocks_of(message, "section") if "text" in b]


def claim_button(message: dict[str, Any]) -> dict[str, Any]:
    (actions,) = blocks_of(message, "actions")
    assert actions["block_id"] == Block.HANDOFF_ACTIONS
    claim, details = actions["elements"]
    assert details["action_id"] == Action.DETAILS and details["value"] == claim["value"]
    return claim


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    """Everything Slack parses for mentions and links: mrkdwn objects and the fallback."""
    return [o["text"] for o in text_objects(message) if o["type"] == "mrkdwn"] + [message["text"]]


def assert_within_slack_limits(message: dict[str, Any]) -> None:
    """Slack's documented Block Kit limits, counted in UTF-16 units (the strict reading)."""
    assert set(message) == {"text", "blocks"}
    assert 0 < utf16_len(message["text"]) <= 3000
    assert 0 < len(message["blocks"]) <= 50

    def walk(node: Any, parent: str | None) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "header":
                assert 0 < utf16_len(node["text"]["text"]) <= 150
            elif kind == "section":
                assert "text" in node or "fields" in node
                if "text" in node:
                    assert 0 < utf16_len(node["text"]["text"]) <= 3000
                assert len(node.get("fields", [])) <= 10
                for item in node.get("fields", []):
                    assert 0 < utf16_len(item["text"]) <= 2000
            elif kind == "context":
                assert len(node["elements"]) <= 10
                for item in node["elements"]:
                    assert utf16_len(item["text"]) <= 2000
            elif kind == "actions":
                assert len(node["elements"]) <= 25
                assert utf16_len(node["block_id"]) <= 255
            elif kind == "button":
                assert 0 < utf16_len(node["text"]["text"]) <= 75
                assert utf16_len(node["value"]) <= 2000
                assert utf16_len(node["action_id"]) <= 255
            for key, value in node.items():
                walk(value, kind if key != "type" else parent)
        elif isinstance(node, list):
            for item in node:
                walk(item, parent)
        elif isinstance(node, str):
            assert utf16_len(node) <= 3000

    walk(message["blocks"], None)
    for text in mrkdwn_texts(message):
        # Escapes are whole: no "&" that does not start &amp; &lt; or &gt;.
        assert not re.search(r"&(?!amp;|lt;|gt;)", text), text


def assert_nobody_pinged(message: dict[str, Any]) -> None:
    for text in mrkdwn_texts(message):
        assert "<!" not in text and "<@" not in text and "<http" not in text, text
        assert "<" not in text and ">" not in text, text


# ------------------------------------------------------------------ what a rep sees


def test_english_message_reads_as_agreed(policy: Policy) -> None:
    message = card_message(example_lead(), policy, NOW, EN)
    (header,) = blocks_of(message, "header")
    assert header["text"] == {
        "type": "plain_text",
        "text": "Sato Hanako — Example KK",
        "emoji": True,
    }
    assert field_texts(message) == [
        "*Company*\nExample KK",
        "*Title*\n営業部長",
        "*Industry*\nManufacturing",
        "*Size*\n1,250 employees",
        "*Score*\n72",
        "*Source*\nhubspot",
        "*Qualified*\nFri 20 Nov 09:12",
    ]
    timeline, deadlines = section_texts(message)
    assert timeline == (
        "*Behaviour history (3)*\n"
        "• Thu 19 Nov 14:00 — Webinar: Sales x Marketing alignment\n"
        "• Wed 18 Nov 15:30 — Download: SLA whitepaper\n"
        "• Tue 17 Nov 10:01 — Page view: /pricing"
    )
    assert deadlines == (
        "*Deadlines*\n"
        "First contact by *Tue 24 Nov 10:30* (2 business hours)\n"
        "Decision (SQL or recycle) by *Fri 27 Nov 17:30* (7 days)"
    )
    assert claim_button(message) == {
        "type": "button",
        "action_id": "lead.claim",
        "style": "primary",
        "text": {"type": "plain_text", "text": "Claim", "emoji": True},
        "value": "42",
    }
    assert claim_button(message)["action_id"] == Action.CLAIM
    assert message["text"] == (
        "New MQL: Sato Hanako (Example KK). First contact by Tue 24 Nov 10:30."
    )
    assert_within_slack_limits(message)


def test_japanese_message_reads_as_agreed(policy: Policy) -> None:
    message = card_message(example_lead(), policy, NOW, JA)
    (header,) = blocks_of(message, "header")
    assert header["text"]["text"] == "Example KK Sato Hanako 様"
    assert field_texts(message)[3] == "*従業員数*\n1,250名"
    assert field_texts(message)[6] == "*MQL 判定日時*\n11/20(金) 09:12"
    timeline, deadlines = section_texts(message)
    assert timeline.splitlines() == [
        "*行動履歴（3件）*",
        "• 11/19(木) 14:00 — ウェビナー参加: Sales x Marketing alignment",
        "• 11/18(水) 15:30 — 資料ダウンロード: SLA whitepaper",
        "• 11/17(火) 10:01 — ページ閲覧: /pricing",
    ]
    assert deadlines.splitlines() == [
        "*期限*",
        "初回接触期限: *11/24(火) 10:30*（2営業時間以内）",
        "判断期限（SQL 化またはリサイクル）: *11/27(金) 17:30*（7日以内）",
    ]
    assert claim_button(message)["text"]["text"] == "担当する"
    assert "Sato Hanako" in message["text"] and "Example KK" in message["text"]
    assert "11/24(火) 10:30" in message["text"]


def test_codes_read_by_name_and_unknown_ones_as_given(policy: Policy) -> None:
    """Activity types and industries by their translated names (SPEC 8); a type only the
    policy knows by its rule's label; anything else as the tool sent it."""
    at = datetime(2026, 11, 19, 14, 0, tzinfo=TOKYO)
    rules = [*policy.mql_definition.behaviour.rules,
             policy.mql_definition.behaviour.rules[0].model_copy(
                 update={"type": "trade_show", "label": "展示会来場", "detail_contains": None})]
    custom = policy.model_copy(update={"mql_definition": policy.mql_definition.model_copy(
        update={"behaviour": policy.mql_definition.behaviour.model_copy(
            update={"rules": rules})})})
    lead = make_lead([Activity(type="demo_request", at=at, detail="demo request form"),
                      Activity(type="trade_show", at=at, detail="Booth 12"),
                      Activity(type="podcast_listen", at=at, detail="ep. 4"),
                      Activity(type="download", at=at, detail="資料ダウンロード")],
                     company_industry="shipbuilding")
    for t, expected in (
        (EN, ["Demo request: demo request form", "展示会来場: Booth 12", "podcast_listen: ep. 4",
              "Download: 資料ダウンロード"]),
        (JA, ["デモ依頼: demo request form", "展示会来場: Booth 12", "podcast_listen: ep. 4",
              "資料ダウンロード"]),
    ):
        timeline = section_texts(card_message(lead, custom, NOW, t))[0]
        assert [line.split(" — ", 1)[1] for line in timeline.splitlines()[1:]] == expected
        assert field_texts(card_message(lead, custom, NOW, t))[2].endswith("\nshipbuilding")
    assert field_texts(card_message(make_lead(), policy, NOW, JA))[2] == "*業種*\n製造業"


def test_hot_lead_shows_its_badge_and_one_hour_target(policy: Policy) -> None:
    message = card_message(make_lead(tier="hot"), policy, NOW, EN)
    assert field_texts(message)[-1] == "*Tier*\n:fire: hot"
    assert "First contact by *Tue 24 Nov 09:30* (1 business hour)" in section_texts(message)[1]


def test_timeline_is_newest_first_then_counts_the_rest(policy: Policy) -> None:
    message = card_message(make_lead(25), policy, NOW, EN)
    lines = section_texts(message)[0].splitlines()
    assert lines[0] == "*Behaviour history (25)*"
    assert [line.rsplit("/", 1)[1] for line in lines[1:11]] == [str(i) for i in range(24, 14, -1)]
    assert lines[11:] == ["+15 more"]
    ja = card_message(make_lead(25), policy, NOW, JA)
    assert section_texts(ja)[0].splitlines()[-1] == "他 15件"


def test_exactly_ten_activities_need_no_more_line(policy: Policy) -> None:
    lines = section_texts(card_message(make_lead(10), policy, NOW, EN))[0].splitlines()
    assert len(lines) == 11 and "more" not in lines[-1]


@pytest.mark.parametrize("translator", [EN, JA], ids=["en", "ja"])
def test_missing_history_is_called_out(policy: Policy, translator: Translator) -> None:
    message = card_message(make_lead(0), policy, NOW, translator)
    timeline = section_texts(message)[0]
    assert timeline == translator("handoff.no_activities")
    assert timeline.startswith(":warning:")


def test_unposted_lead_shows_deadlines_as_if_posted_now(policy: Policy) -> None:
    now = datetime(2026, 11, 24, 10, 0, tzinfo=TOKYO)
    message = card_message(make_lead(posted_at=None, id=None), policy, now, EN)
    assert "First contact by *Tue 24 Nov 12:00*" in section_texts(message)[1]
    assert "Decision (SQL or recycle) by *Tue 1 Dec 10:00*" in section_texts(message)[1]
    assert claim_button(message)["value"] == ""


def test_empty_optional_fields_say_not_given(policy: Policy) -> None:
    lead = make_lead(
        0,
        contact_title=None,
        company_name=None,
        company_industry="",
        company_employees=None,
        score=None,
    )
    message = card_message(lead, policy, NOW, EN)
    assert blocks_of(message, "header")[0]["text"]["text"] == "Sato Hanako"
    assert field_texts(message)[:5] == [
        "*Company*\nnot given",
        "*Title*\nnot given",
        "*Industry*\nnot given",
        "*Size*\nnot given",
        "*Score*\nnot given",
    ]
    assert message["text"] == "New MQL: Sato Hanako. First contact by Tue 24 Nov 10:30."


# ------------------------------------------------------------------------- escaping


def test_user_text_cannot_ping_or_link(policy: Policy) -> None:
    lead = make_lead(
        [Activity(type="<!channel>", at=NOW, detail="<!channel> please <@U123>")],
        contact_name="<!channel> Sato",
        company_name="<!channel> & Co",
        contact_title="<@U123> head",
        company_industry="<!here>",
        source="<https://evil.example|hubspot>",
        tier="<!everyone>",
    )
    for translator in (EN, JA):
        message = card_message(lead, policy, NOW, translator)
        assert_nobody_pinged(message)
        joined = "\n".join(mrkdwn_texts(message))
        assert "&lt;!channel&gt; Sato" in message["text"]
        assert "&lt;!channel&gt; &amp; Co" in message["text"]
        assert f"*{translator('handoff.field_company')}*\n&lt;!channel&gt; &amp; Co" in joined
        assert f"*{translator('handoff.field_title')}*\n&lt;@U123&gt; head" in joined
        assert "&lt;!channel&gt;: &lt;!channel&gt; please &lt;@U123&gt;" in joined
        assert ":fire: &lt;!everyone&gt;" in joined


# --------------------------------------------------------------------------- limits

HUGE = (NASTY * 200)[:10_240]


def many_activities() -> Lead:
    base = datetime(2025, 1, 1, tzinfo=TOKYO)
    return make_lead(
        [
            Activity(type=f"type_{i % 7}", at=base + timedelta(hours=i), detail=f"{NASTY} {i}")
            for i in range(500)
        ]
    )


def every_text_field(text: str, activities: list[Activity], **fields: Any) -> Lead:
    """A lead whose every free-text field is ``text``, with ``activities``."""
    return make_lead(activities, contact_name=text, company_name=text, contact_title=text,
                     company_industry=text, source=text, tier=text, **fields)


def huge_strings() -> Lead:
    return every_text_field(
        HUGE, [Activity(type=HUGE, at=NOW - timedelta(hours=i), detail=HUGE) for i in range(50)],
        id=10**18,
    )


def all_escapes() -> Lead:
    """Every character expands fivefold when escaped: the worst case for budgets."""
    amps = "&" * 10_240
    return every_text_field(amps, [Activity(type=amps, at=NOW, detail=amps) for _ in range(12)])


def emoji_only() -> Lead:
    """Characters outside the BMP count twice in UTF-16."""
    emoji = "🎉" * 10_240
    return every_text_field(emoji, [Activity(type=emoji, at=NOW, detail=emoji) for _ in range(12)])


def empty_optional() -> Lead:
    return make_lead(
        0,
        contact_title=None,
        company_name=None,
        company_industry=None,
        company_employees=None,
        score=None,
        posted_at=None,
        id=None,
    )


def blank_everything() -> Lead:
    return make_lead(
        [Activity(type="", at=NOW, detail="   ")],
        contact_name="  ",
        contact_title="",
        company_name="",
        source="",
    )


@pytest.mark.parametrize(
    "build",
    [many_activities, huge_strings, all_escapes, emoji_only, empty_optional, blank_everything],
)
@pytest.mark.parametrize("translator", [EN, JA], ids=["en", "ja"])
def test_any_input_stays_within_slack_limits(
    policy: Policy, build: Any, translator: Translator
) -> None:
    message = card_message(build(), policy, NOW, translator)
    assert_within_slack_limits(message)
    assert_nobody_pinged(message)


def test_five_hundred_activities_show_ten_and_count_the_rest(policy: Policy) -> None:
    lines = section_texts(card_message(many_activities(), policy, NOW, EN))[0].splitlines()
    assert lines[0] == "*Behaviour history (500)*"
    assert lines[1].endswith(" 499") and lines[10].endswith(" 490")
    assert lines[-1] == "+490 more"


def test_cut_text_ends_with_an_ellipsis_and_keeps_escapes_whole(policy: Policy) -> None:
    message = card_message(all_escapes(), policy, NOW, EN)
    company = field_texts(message)[0]
    assert company.startswith("*Company*\n&amp;&amp;")
    assert company.endswith("&amp;…")
    header = blocks_of(message, "header")[0]["text"]["text"]
    assert header.endswith("…") and utf16_len(header) <= 150


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    name=st.text(min_size=0, max_size=400),
    company=st.none() | st.text(max_size=400),
    detail=st.none() | st.text(max_size=3000),
    kind=st.text(max_size=200),
    count=st.integers(min_value=0, max_value=30),
)
def test_random_text_never_breaks_the_message(
    policy: Policy, name: str, company: str | None, detail: str | None, kind: str, count: int
) -> None:
    lead = make_lead(
        [Activity(type=kind, at=NOW - timedelta(minutes=i), detail=detail) for i in range(count)],
        contact_name=name,
        company_name=company,
        contact_title=detail,
    )
    for translator in (EN, JA):
        message = card_message(lead, policy, NOW, translator)
        assert_within_slack_limits(message)
        for text in mrkdwn_texts(message):
            assert "<" not in text and ">" not in text


# ------------------------------------------------------- links and invisible characters

#: an RTL override that would make "moc.live" read as "evil.com", zero-width characters that
#: make two names look alike, and text Slack would otherwise turn into links
SPOOF = "\u202eSato\u200b Hanako\u2066\ufeff https://evil.example #general @here\u200f"
INVISIBLE = sorted(chr(c) for c in INVISIBLE_CONTROLS)
INVISIBLE_CONTROLS_CHARS = frozenset(INVISIBLE)


def assert_verbatim_and_visible(message: dict[str, Any]) -> None:
    """Every mrkdwn object is shown as written; no text carries an invisible control."""
    for obj in text_objects(message):
        if obj["type"] == "mrkdwn":
            assert obj.get("verbatim") is True, obj
        assert not set(obj["text"]) & INVISIBLE_CONTROLS_CHARS, obj
    assert not set(message["text"]) & INVISIBLE_CONTROLS_CHARS


def test_user_text_is_never_auto_linked_nor_disguised(policy: Policy) -> None:
    lead = make_lead(
        [Activity(type="page_view", at=NOW, detail=f"see {SPOOF}")],
        contact_name=SPOOF, company_name="\u202dExample\u200c KK", contact_title=SPOOF,
    )
    for translator in (EN, JA):
        message = card_message(lead, policy, NOW, translator)
        assert_verbatim_and_visible(message)
        (header,) = blocks_of(message, "header")
        assert "Sato Hanako https://evil.example #general @here" in header["text"]["text"]
        joined = "\n".join(mrkdwn_texts(message))
        assert "see Sato Hanako https://evil.example #general @here" in joined
        assert "Example KK" in joined


@settings(max_examples=300)
@given(text=st.text(alphabet=st.sampled_from(INVISIBLE) | st.characters(exclude_categories=["Cs"]),
                   max_size=200),
       limit=st.integers(min_value=1, max_value=300))
def test_escaped_and_plain_text_never_carry_invisible_controls(text: str, limit: int) -> None:
    for shown in (escape(text), fit_mrkdwn(text, limit), fit_plain(text, limit),
                  plain_text(text)["text"]):
        assert not set(shown) & INVISIBLE_CONTROLS_CHARS, repr(shown)
    assert "<" not in escape(text) and ">" not in escape(text)


def test_every_text_object_is_built_by_the_shared_constructors() -> None:
    """A view writing its own mrkdwn object would lose ``verbatim`` (and the stripping)."""
    root = Path(__file__).resolve().parent.parent
    literal = re.compile(r'"type":\s*"mrkdwn"')
    offenders = [str(path.relative_to(root)) for folder in ("bot", "handlers")
                 for path in (root / folder).rglob("*.py")
                 if path.name != "mrkdwn.py" and "sandbox" not in path.parts
                 and literal.search(path.read_text(encoding="utf-8"))]
    assert offenders == []
