"""The sandbox the demo runs in: one copy of the Slack stand-in (the suite's harness re-exports
it), its demo-facing additions, and the terminal rendering of Slack surfaces."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

import bot.sandbox.fake_slack as product_fake
import bot.sandbox.slack_requests as product_requests
import tests.harness as harness
from bot.sandbox.fake_slack import Call, FakeSlack
from bot.sandbox.render import Names, blocks_text, mrkdwn_text, render_call
from bot.sandbox.slack_requests import http_post

NAMES = Names(users={"U1": "sato", "U2": "suzuki"}, channels={"C1": "sales"})


def test_the_suite_uses_the_products_stand_in_not_a_copy() -> None:
    assert harness.FakeSlack is product_fake.FakeSlack
    assert harness.Call is product_fake.Call
    assert harness.SlackRequests is product_requests.SlackRequests
    assert harness.state_values is product_requests.state_values


def test_on_call_sees_every_answered_call_and_a_person_can_reply_in_a_thread() -> None:
    seen: list[Call] = []
    with FakeSlack(on_call=seen.append) as fake:
        client = WebClient(token="xoxb-t", base_url=fake.base_url)
        root = client.chat_postMessage(channel="C1", text="New MQL")
        with pytest.raises(SlackApiError):  # thread_not_found: recorded all the same
            client.chat_postMessage(channel="C1", text="nope", thread_ts="9.9")
        reply = fake.post_as_user("C1", "U2", "Thanks!", thread_ts=root["ts"])

        assert [(c.method, (c.response or {}).get("ok")) for c in seen] == [
            ("chat.postMessage", True), ("chat.postMessage", False)]
        assert reply["user"] == "U2" and "bot_id" not in reply and reply["text"] == "Thanks!"
        (in_thread,) = fake.thread("C1", root["ts"])
        assert in_thread["ts"] == reply["ts"]
        assert fake.messages("C1")[0]["reply_count"] == 1
        url = fake.response_url("r", channel="C1", message_ts=root["ts"], user="U1")
        assert fake.response_url_target("r") == {"channel": "C1", "message_ts": root["ts"],
                                                 "user": "U1"}
        assert fake.response_url_target("unknown") == {}
        http_post(url, '{"text": "only you"}', {"Content-Type": "application/json"})
        assert seen[-1].method == "response_url" and fake.ephemerals[-1]["user"] == "U1"
    assert fake.errors == []


def test_mrkdwn_reads_as_people_see_it() -> None:
    text = ("*New MQL* for <@U1> in <#C1> · <https://x.test/a|the thread> · <!here> "
            ":fire: :unknown_code: a &lt;b&gt; &amp; <#C9|other>")
    assert mrkdwn_text(text, NAMES) == (
        "New MQL for @sato in #sales · the thread · @here 🔥 :unknown_code: a <b> & #other")
    assert mrkdwn_text("<@U404>", NAMES) == "@U404"  # unknown people keep their id


def blocks() -> list[dict[str, Any]]:
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "Yamada — Example KK"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": "*Company*\nExample KK"},
            {"type": "mrkdwn", "text": "*Score*\n72"},
            {"type": "mrkdwn", "text": "*Source*\nhubspot"}]},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Owner <@U2>"}]},
        {"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Claim"}},
            {"type": "static_select", "placeholder": {"type": "plain_text", "text": "Snooze"}},
            {"type": "overflow"}]},
        {"type": "input", "label": {"type": "plain_text", "text": "Kind"}, "element": {
            "type": "static_select", "placeholder": {"type": "plain_text", "text": "Choose…"},
            "options": [{"text": {"type": "plain_text", "text": "call"}, "value": "call"},
                        {"text": {"type": "plain_text", "text": "email"}, "value": "email"}]}},
        {"type": "input", "label": {"type": "plain_text", "text": "BANT"}, "element": {
            "type": "checkboxes",
            "options": [{"text": {"type": "plain_text", "text": "Budget"}, "value": "b"}]}},
        {"type": "image", "alt_text": "chart", "image_url": "https://x.test/c.png"},
    ]


def test_blocks_read_as_text_with_buttons_and_form_fields() -> None:
    assert blocks_text(blocks(), NAMES) == [
        "▍Yamada — Example KK",
        "  Company Example KK                   Score 72",
        "  Source hubspot",
        "─" * 40,
        "Owner @suzuki",
        "[ Claim ]  [ Snooze ▾ ]  [ ⋯ ]",
        "Kind",
        "  [ Choose… ▾ ]  call · email",
        "BANT",
        "  [ ] Budget",
        "[image: chart]",
    ]


def test_each_call_is_shown_on_its_surface() -> None:
    def show(method: str, args: dict[str, Any], response: dict[str, Any] | None = None,
             **kw: Any) -> tuple[str, str, tuple[str, ...]] | None:
        shown = render_call(method, args, response or {"ok": True}, at="Tue 10:00",
                            names=NAMES, **kw)
        return None if shown is None else (shown.surface, shown.header, shown.lines)

    assert show("chat.postMessage", {"channel": "C1", "text": "hi <@U1>"}) == (
        "channel", "Tue 10:00 · channel #sales", ("hi @sato",))
    assert show("chat.postMessage", {"channel": "U2", "text": "reminder"})[:2] == (  # type: ignore[index]
        "DM", "Tue 10:00 · DM · @suzuki")
    assert show("chat.postMessage", {"channel": "C1", "thread_ts": "1.1", "text": "ok"},
                thread_title=lambda c, ts: "Example KK")[:2] == (  # type: ignore[index]
        "thread", "Tue 10:00 · thread of “Example KK” in #sales")
    assert show("response_url", {"_name": "p", "text": "Already claimed"},
                response_target=lambda name: {"user": "U2", "channel": "C1"})[:2] == (  # type: ignore[index]
        "ephemeral", "Tue 10:00 · ephemeral · only @suzuki sees it")
    modal = show("views.open", {"trigger_id": "t1", "view": {
        "type": "modal", "title": {"type": "plain_text", "text": "Log a touch"},
        "submit": {"type": "plain_text", "text": "Log"}, "blocks": blocks()[5:6]}},
        trigger_user={"t1": "U1"}.get)
    assert modal == ("modal", "Tue 10:00 · modal “Log a touch” · @sato",
                     ("Kind", "  [ Choose… ▾ ]  call · email", "[ Log ]"))
    assert show("views.publish", {"user_id": "U1", "view": {"blocks": blocks()[:1]}}) == (
        "App Home", "Tue 10:00 · App Home of @sato", ("▍Yamada — Example KK",))
    # what Slack refused, and calls nobody sees, show nothing
    assert show("chat.postMessage", {"channel": "C1", "text": "x"},
                {"ok": False, "error": "not_in_channel"}) is None
    assert show("conversations.open", {"users": "U1"}) is None
