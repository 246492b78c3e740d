"""Deal outcomes in Slack (SPEC 10), end to end: an SQL converted through signed Slack requests,
its outcome reported over ``POST /webhooks/outcome``, the outbox worker delivering to the fake
Slack — on SQLite and PostgreSQL.

What people see: the hand-off thread gets "Won ¥1,200,000" or "Lost (competitor): note", the
hand-off message shows the outcome, marketing hears which MQL won or lost and why (per
``[outcomes] notify_marketing``), a correction says what it corrects, a repeated delivery posts
nothing, and the CRM's words never ping anyone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.ids import Callback
from bot.policy import Policy
from tests.harness import FakeSlack, HttpResponse, http_post
from tests.harness.blocks import shown
from tests.harness.bot_env import Env, start
from tests.harness.databases import Database
from tests.harness.decisions import accepted, convert_values, link, marketing, owned, submit
from tests.harness.details import open_details
from tests.harness.people import CHANNEL, MANAGER, MARKETING, REP1
from tests.harness.policies import policy_with

TOKEN = "test-intake-token"
EXTERNAL_ID = "hubspot-20391"
#: the CRM's note, trying every way text could ping or link in Slack
HOSTILE = "<!channel> ask <@U0000REP2> & see <https://evil.example|here>"
ESCAPED = ("&lt;!channel&gt; ask &lt;@U0000REP2&gt; &amp; see "
           "&lt;https://evil.example|here&gt;")


def with_outcomes(policy: Policy, *, language: str = "en",
                  notify: tuple[str, ...] | None = None) -> Policy:
    changed = policy_with(policy, language=language)
    if notify is not None:
        outcomes = changed.outcomes.model_copy(update={"notify_marketing": notify})
        changed = changed.model_copy(update={"outcomes": outcomes})
    return changed


@pytest.fixture
def env(fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock) -> Iterator[Env]:
    """The running bot on each database kind, in English."""
    running = start(fake_slack, db, with_outcomes(policy), clock)
    yield running
    running.bot.stop()


@pytest.fixture
def ja_env(fake_slack: FakeSlack, db: Database, policy: Policy,
           clock: ManualClock) -> Iterator[Env]:
    running = start(fake_slack, db, with_outcomes(policy, language="ja"), clock)
    yield running
    running.bot.stop()


@pytest.fixture
def losses_only_env(fake_slack: FakeSlack, db: Database, policy: Policy,
                    clock: ManualClock) -> Iterator[Env]:
    running = start(fake_slack, db, with_outcomes(policy, notify=("lost",)), clock)
    yield running
    running.bot.stop()


# ---------------------------------------------------------------------------- helpers


def converted(env: Env) -> tuple[int, str]:
    """A lead handed off, claimed and converted to SQL in Slack; three days later, its deal
    closes (outcomes are reported from then on)."""
    lead_id, ts = owned(env, touches=1, external_id=EXTERNAL_ID)
    accepted(submit(env, Callback.CONVERT_MODAL, lead_id, REP1, convert_values()))
    env.drain()
    env.clock.advance(timedelta(days=3))  # Fri 27 Nov, 10:30 in Tokyo
    return lead_id, ts


def report(env: Env, **fields: Any) -> dict[str, Any]:
    """The CRM reports an outcome for the lead; the answer's JSON (202 expected)."""
    body = {"external_id": EXTERNAL_ID, **fields}
    answer: HttpResponse = http_post(
        f"{env.bot.url}/webhooks/outcome", json.dumps(body, ensure_ascii=False),
        {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert answer.status == 202, answer.body
    return answer.json()


def replies(env: Env, ts: str) -> list[str]:
    return [reply["text"] for reply in env.fake.thread(CHANNEL, ts)]


def hand_off(env: Env) -> dict[str, Any]:
    (message,) = env.fake.messages(CHANNEL)
    return message


def contexts(message: dict[str, Any]) -> list[str]:
    return [element["text"] for block in message["blocks"] if block["type"] == "context"
            for element in block["elements"]]


def outcome_posts(env: Env) -> list[dict[str, Any]]:
    """Marketing's posts after the conversion's own."""
    posts = marketing(env)
    assert posts and "MQL → SQL" in posts[0]["text"]
    return posts[1:]


def sent_to_slack(env: Env) -> str:
    """Every message the bot sent or updated, as one JSON text."""
    calls = env.fake.calls_to("chat.postMessage") + env.fake.calls_to("chat.update")
    return json.dumps([call.args for call in calls], ensure_ascii=False)


# ---------------------------------------------------------------------------- won


def test_a_win_reaches_the_thread_the_hand_off_message_and_marketing(env: Env) -> None:
    lead_id, ts = converted(env)

    assert report(env, outcome="won", amount=1200000, currency="JPY",
                  closed_at="2026-11-26T18:00:00+09:00", deal_id="crm-deal-77") == {
        "lead_id": lead_id, "status": "recorded"}
    env.drain()

    assert replies(env, ts)[-1] == ":trophy: Won ¥1,200,000"
    message = hand_off(env)
    assert message["ts"] == ts and "edited" in message
    assert ":trophy: *Won ¥1,200,000* · closed 26 Nov 2026" in contexts(message)
    (post,) = outcome_posts(env)
    assert post["channel"] == MARKETING
    assert post["text"] == "Deal won: Sato Hanako (Example KK)"
    text = shown(post)
    assert "*Amount won*\\n¥1,200,000" in text and "*Won on*\\n26 Nov 2026" in text
    assert "*Source*\\nhubspot" in text
    assert "*Qualified as an MQL by*\\n" in text
    assert "*Qualified as an MQL by*\\nnot given" not in text  # the criteria it met are named
    assert f"Lead #{lead_id}" in text and link(ts) in text
    # as other marketing notices: no contact data
    assert "hanako@example.co.jp" not in text and "+81-3-0000-0000" not in text


def test_a_win_in_dollars_keeps_its_cents(env: Env) -> None:
    _, ts = converted(env)
    report(env, outcome="won", amount=12000.5, currency="USD")
    env.drain()
    assert replies(env, ts)[-1] == ":trophy: Won $12,000.50"
    assert "*Amount won*\\n$12,000.50" in shown(outcome_posts(env)[0])
    assert ":trophy: *Won $12,000.50* · closed 27 Nov 2026" in contexts(hand_off(env))


# ---------------------------------------------------------------------------- lost


def test_a_loss_tells_why_with_the_crm_note_escaped(env: Env) -> None:
    _, ts = converted(env)
    report(env, outcome="lost", reason="competitor", note=HOSTILE, amount=800000,
           currency="JPY")
    env.drain()

    assert replies(env, ts)[-1] == f":x: Lost (went with a competitor): {ESCAPED}"
    assert ":x: *Lost (went with a competitor)* · closed 27 Nov 2026" in contexts(hand_off(env))
    (post,) = outcome_posts(env)
    assert post["text"] == ("Deal lost: Sato Hanako (Example KK). "
                            "Reason: went with a competitor")
    text = shown(post)
    assert "*Deal amount*\\n¥800,000" in text and "*Lost on*\\n27 Nov 2026" in text
    assert f"*Note from the CRM*\\n{ESCAPED}" in text
    sent = sent_to_slack(env)
    assert "<!channel>" not in sent and "<@U0000REP2>" not in sent
    assert "<https://evil.example" not in sent


def test_a_reason_not_configured_is_other_with_the_senders_words(env: Env) -> None:
    _, ts = converted(env)
    report(env, outcome="lost", reason="Budget cut <!here>")
    env.drain()
    assert replies(env, ts)[-1] == ":x: Lost (other: Budget cut &lt;!here&gt;)"
    assert "Reason: *other: Budget cut &lt;!here&gt;*" in shown(outcome_posts(env)[0])
    assert "<!here>" not in sent_to_slack(env)


# ---------------------------------------------------------------------------- corrections


def test_a_correction_from_lost_to_won_says_what_it_corrects(env: Env) -> None:
    lead_id, ts = converted(env)
    report(env, outcome="lost", reason="price", note="Too expensive this year")
    env.drain()
    env.clock.advance(timedelta(days=1))
    report(env, outcome="won", amount=1200000, currency="JPY")
    env.drain()

    assert replies(env, ts)[-2:] == [
        ":x: Lost (price): Too expensive this year",
        ":trophy: Correction: Won ¥1,200,000 (reported as lost before)",
    ]
    lines = contexts(hand_off(env))
    assert ":trophy: *Won ¥1,200,000* · closed 28 Nov 2026" in lines
    assert not any("Lost" in line for line in lines)  # the message shows the outcome now
    lost, won = outcome_posts(env)
    assert lost["text"].startswith("Deal lost:")
    assert won["text"] == "Deal won: Sato Hanako (Example KK)"
    assert ":pencil2: Correction: this deal was reported as lost before." in contexts(won)

    view = open_details(env, lead_id, ts, MANAGER)
    history = json.dumps(view["blocks"], ensure_ascii=False)
    assert "Deal won · via webhook — ¥1,200,000 — corrects: lost" in history
    assert "Deal lost · via webhook — price\\n> Too expensive this year" in history


def test_a_deal_open_again_clears_the_outcome_from_the_hand_off_message(env: Env) -> None:
    _, ts = converted(env)
    report(env, outcome="won", amount=5000, currency="EUR")
    env.drain()
    assert ":trophy: Won €5,000.00" in replies(env, ts)
    report(env, outcome="open")
    env.drain()
    assert replies(env, ts)[-1] == (":arrows_counterclockwise: Correction: Deal open again "
                                    "(reported as won before)")
    assert not any("Won" in line for line in contexts(hand_off(env)))
    *_, reopened = outcome_posts(env)  # marketing was told it was won: it hears otherwise
    assert reopened["text"] == "Deal open again: Sato Hanako (Example KK)"


# ---------------------------------------------------------------------------- configuration


def test_marketing_hears_only_losses_when_configured(losses_only_env: Env) -> None:
    env = losses_only_env
    _, ts = converted(env)
    report(env, outcome="won", amount=1200000, currency="JPY")
    env.drain()
    assert replies(env, ts)[-1] == ":trophy: Won ¥1,200,000"  # sales still sees it
    assert outcome_posts(env) == []

    report(env, outcome="lost", reason="timing")
    env.drain()
    (post,) = outcome_posts(env)
    assert post["text"] == "Deal lost: Sato Hanako (Example KK). Reason: wrong timing"
    assert ":pencil2: Correction: this deal was reported as won before." in contexts(post)


# ---------------------------------------------------------------------------- once


def test_a_duplicate_delivery_posts_nothing(env: Env) -> None:
    lead_id, ts = converted(env)
    body = {"outcome": "lost", "reason": "competitor", "note": "Chose the incumbent",
            "deal_id": "crm-deal-77"}
    report(env, **body)
    env.drain()
    calls = (len(env.fake.calls_to("chat.postMessage")), len(env.fake.calls_to("chat.update")))
    rows = env.outbox_count(lead_id)

    assert report(env, **body) == {"lead_id": lead_id, "status": "duplicate"}
    env.drain()
    assert env.outbox_count(lead_id) == rows
    assert (len(env.fake.calls_to("chat.postMessage")),
            len(env.fake.calls_to("chat.update"))) == calls
    assert replies(env, ts).count(":x: Lost (went with a competitor): Chose the incumbent") == 1
    assert len(outcome_posts(env)) == 1


# ---------------------------------------------------------------------------- Japanese


def test_japanese_outcomes_read_natively(ja_env: Env) -> None:
    env = ja_env
    _, ts = converted(env)
    report(env, outcome="lost", reason="competitor", note="既存ベンダーを継続")
    env.drain()
    report(env, outcome="won", amount=1200000, currency="JPY",
           closed_at="2026-11-26T18:00:00+09:00")
    env.drain()

    assert replies(env, ts)[-2:] == [
        ":x: 失注（競合に決定）: 既存ベンダーを継続",
        ":trophy: 訂正: 受注 ￥1,200,000（訂正前: 失注）",
    ]
    assert ":trophy: *受注 ￥1,200,000* · 受注日 2026年11月26日" in contexts(hand_off(env))
    lost, won = outcome_posts(env)
    assert lost["text"] == "失注: Example KK Sato Hanako 様。失注理由: 競合に決定"
    assert "*CRM のメモ*\\n既存ベンダーを継続" in shown(lost)
    assert "*失注日*\\n2026年11月27日" in shown(lost)
    assert won["text"] == "受注: Example KK Sato Hanako 様"
    assert "*受注金額*\\n￥1,200,000" in shown(won)
    assert "*MQL 判定の根拠*" in shown(won) and "*流入元*\\nhubspot" in shown(won)
    assert ":pencil2: 訂正: この商談は先に「失注」と報告されていました。" in contexts(won)
