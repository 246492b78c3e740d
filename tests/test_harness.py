"""Tests of the test harness itself: if these pass, feature tests can trust what they observe."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
from slack_bolt import Ack, App, BoltRequest, Respond
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from tests.harness import (
    FakeSlack,
    SlackRequests,
    WsgiServer,
    checkboxes,
    http_get,
    http_post,
    plain_text_input,
    slack_signature_headers,
    state_values,
    static_select,
    tamper_body,
    users_select,
)

SECRET = "test-signing-secret"
TS_RE = re.compile(r"^\d{10}\.\d{6}$")
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*New MQL*: Acme"}}]
METADATA = {"event_type": "mql_handoff", "event_payload": {"lead_id": "L-1", "tier": "A"}}


@pytest.fixture
def fake(fake_slack: FakeSlack) -> FakeSlack:
    return fake_slack


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake.base_url, timeout=5)


def no_retry_client(fake: FakeSlack, timeout: float = 5) -> WebClient:
    """The SDK retries connection errors once by default; these tests want the raw failure."""
    return WebClient(
        token="xoxb-test",
        base_url=fake.base_url,
        timeout=timeout,  # type: ignore[arg-type]  # urllib accepts float seconds
        retry_handlers=[],
    )


# ============================================================================ fake Web API


def test_post_message_is_recorded_with_decoded_args(fake: FakeSlack, client: WebClient) -> None:
    resp = client.chat_postMessage(
        channel="C_SALES", text="New MQL", blocks=BLOCKS, metadata=METADATA
    )

    assert resp["ok"] is True and resp["channel"] == "C_SALES"
    assert TS_RE.match(resp["ts"])
    [call] = fake.calls_to("chat.postMessage")
    assert call.args["blocks"] == BLOCKS
    assert call.args["metadata"] == METADATA
    assert call.headers["authorization"] == "Bearer xoxb-test"
    assert call.response == resp.data and call.status == 200
    [msg] = fake.messages("C_SALES")
    assert (msg["ts"], msg["text"], msg["blocks"], msg["metadata"]) == (
        resp["ts"],
        "New MQL",
        BLOCKS,
        METADATA,
    )
    assert msg["user"] == fake.bot_user_id and msg["thread_ts"] is None


def test_form_encoded_json_strings_are_decoded(fake: FakeSlack, client: WebClient) -> None:
    """Some clients send blocks/metadata as JSON strings inside a form body."""
    client.api_call(
        "chat.postMessage",
        params={"channel": "C1", "blocks": json.dumps(BLOCKS), "metadata": json.dumps(METADATA)},
    )
    [call] = fake.calls_to("chat.postMessage")
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.args["blocks"] == BLOCKS and call.args["metadata"] == METADATA
    assert fake.messages("C1")[0]["metadata"] == METADATA


def test_timestamps_strictly_increase(fake: FakeSlack, client: WebClient) -> None:
    ts = [client.chat_postMessage(channel=f"C{i % 2}", text="x")["ts"] for i in range(5)]
    assert all(TS_RE.match(t) for t in ts)
    assert [float(t) for t in ts] == sorted(float(t) for t in ts) and len(set(ts)) == 5


def test_history_includes_metadata_only_on_request(fake: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="with meta", metadata=METADATA)

    with_meta = client.conversations_history(channel="C1", include_all_metadata=True)
    without = client.conversations_history(channel="C1")

    assert with_meta["messages"][0]["metadata"] == METADATA
    assert "metadata" not in without["messages"][0]
    assert without["messages"][0]["text"] == "with meta"


def test_history_is_newest_first_with_limit_and_range(fake: FakeSlack, client: WebClient) -> None:
    ts = [client.chat_postMessage(channel="C1", text=f"m{i}")["ts"] for i in range(4)]

    page = client.conversations_history(channel="C1", limit=3)
    assert [m["text"] for m in page["messages"]] == ["m3", "m2", "m1"]
    assert page["has_more"] is True
    rest = client.conversations_history(
        channel="C1", limit=3, cursor=page["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["m0"] and rest["has_more"] is False

    window = client.conversations_history(channel="C1", oldest=ts[0], latest=ts[3])
    assert [m["text"] for m in window["messages"]] == ["m2", "m1"]
    inclusive = client.conversations_history(
        channel="C1", oldest=ts[0], latest=ts[3], inclusive=True
    )
    assert [m["text"] for m in inclusive["messages"]] == ["m3", "m2", "m1", "m0"]


def test_update_and_delete_change_history(fake: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="open", blocks=BLOCKS)["ts"]

    upd = client.chat_update(channel="C1", ts=ts, text="claimed by <@U_REP1>")
    assert upd["ts"] == ts and upd["message"]["text"] == "claimed by <@U_REP1>"
    [msg] = fake.messages("C1")
    assert msg["text"] == "claimed by <@U_REP1>"
    assert msg["blocks"] == BLOCKS, "like Slack, omitted blocks are retained"
    client.chat_update(channel="C1", ts=ts, text="no blocks", blocks=[])
    assert fake.messages("C1")[0]["blocks"] == []

    client.chat_delete(channel="C1", ts=ts)
    assert fake.messages("C1") == []
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C1", ts=ts, text="gone")
    assert err.value.response["error"] == "message_not_found"


def test_thread_replies(fake: FakeSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C1", text="lead")["ts"]
    reply = client.chat_postMessage(channel="C1", text="reminder", thread_ts=parent)

    assert [m["text"] for m in fake.thread("C1", parent)] == ["reminder"]
    assert fake.thread("C1", parent)[0]["thread_ts"] == parent
    assert [m["text"] for m in fake.messages("C1")] == ["lead"]
    assert fake.messages("C1")[0]["reply_count"] == 1
    history = client.conversations_history(channel="C1")["messages"]
    assert [m["text"] for m in history] == ["lead"], "replies are not in channel history"
    replies = client.conversations_replies(channel="C1", ts=parent)
    assert [m["ts"] for m in replies["messages"]] == [parent, reply["ts"]]
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="x", thread_ts="1600000000.000001")
    assert err.value.response["error"] == "thread_not_found"


def test_dms_via_conversations_open_and_user_id(fake: FakeSlack, client: WebClient) -> None:
    dm = client.conversations_open(users="U_REP1")["channel"]["id"]
    assert dm == fake.dm_channel("U_REP1") == "DU_REP1"

    client.chat_postMessage(channel=dm, text="you have a new lead")
    direct = client.chat_postMessage(channel="U_REP1", text="SLA at risk")

    assert direct["channel"] == dm
    assert [m["text"] for m in fake.dms("U_REP1")] == ["you have a new lead", "SLA at risk"]
    assert fake.dms("U_OTHER") == []


def test_views_publish_open_update_push(fake: FakeSlack, client: WebClient) -> None:
    home = {"type": "home", "blocks": BLOCKS}
    client.views_publish(user_id="U_REP1", view=home)
    assert fake.home_views["U_REP1"]["blocks"] == BLOCKS

    opened = client.views_open(
        trigger_id="trig-1", view={"type": "modal", "callback_id": "lead_form", "title": {}}
    )["view"]
    assert fake.views[opened["id"]]["callback_id"] == "lead_form"
    updated = client.views_update(
        view_id=opened["id"], hash=opened["hash"], view={"type": "modal", "callback_id": "step2"}
    )["view"]
    assert updated["id"] == opened["id"] and fake.views[opened["id"]]["callback_id"] == "step2"
    with pytest.raises(SlackApiError) as err:  # stale hash, like a concurrent update in Slack
        client.views_update(view_id=opened["id"], hash=opened["hash"], view={"type": "modal"})
    assert err.value.response["error"] == "hash_conflict"
    pushed = client.views_push(trigger_id="trig-2", view={"type": "modal", "callback_id": "c"})
    assert pushed["view"]["id"] != opened["id"]
    with pytest.raises(SlackApiError):
        client.views_open(trigger_id="", view={"type": "modal"})


def test_ephemeral_permalink_reactions(fake: FakeSlack, client: WebClient) -> None:
    eph = client.chat_postEphemeral(channel="C1", user="U_REP1", text="only you")
    assert TS_RE.match(eph["message_ts"])
    assert fake.ephemerals[0]["user"] == "U_REP1" and fake.ephemerals[0]["text"] == "only you"

    ts = client.chat_postMessage(channel="C1", text="lead")["ts"]
    link = client.chat_getPermalink(channel="C1", message_ts=ts)["permalink"]
    assert link.endswith(f"/archives/C1/p{ts.replace('.', '')}")

    client.reactions_add(channel="C1", timestamp=ts, name="white_check_mark")
    assert fake.messages("C1")[0]["reactions"][0]["name"] == "white_check_mark"
    with pytest.raises(SlackApiError) as err:
        client.reactions_add(channel="C1", timestamp=ts, name="white_check_mark")
    assert err.value.response["error"] == "already_reacted"


def test_users_presence_profile_usergroups(fake: FakeSlack, client: WebClient) -> None:
    fake.set_user(
        "U_REP1", name="rep1", tz="America/New_York", presence="away",
        status_text="On PTO", status_emoji=":palm_tree:", email="rep1@example.com",
    )  # fmt: skip
    fake.set_usergroup("S_SALES", ["U_REP1", "U_REP2"])

    user = client.users_info(user="U_REP1")["user"]
    assert (user["name"], user["tz"], user["is_bot"]) == ("rep1", "America/New_York", False)
    assert user["tz_offset"] in (-5 * 3600, -4 * 3600)
    assert client.users_getPresence(user="U_REP1")["presence"] == "away"
    assert client.users_profile_get(user="U_REP1")["profile"]["status_text"] == "On PTO"
    assert client.usergroups_users_list(usergroup="S_SALES")["users"] == ["U_REP1", "U_REP2"]
    assert client.users_lookupByEmail(email="rep1@example.com")["user"]["id"] == "U_REP1"
    default = client.users_info(user="U_NEW")["user"]
    assert default["id"] == "U_NEW" and default["tz"] == "Asia/Tokyo"
    assert default["tz_offset"] == 9 * 3600
    assert client.users_getPresence(user="U_NEW")["presence"] == "active"
    with pytest.raises(SlackApiError) as err:
        client.usergroups_users_list(usergroup="S_NOPE")
    assert err.value.response["error"] == "no_such_subteam"


def test_channels_membership(fake: FakeSlack, client: WebClient) -> None:
    fake.set_channel("C_NEW", name="new-leads", is_member=False)
    assert client.conversations_info(channel="C_NEW")["channel"]["name"] == "new-leads"
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C_NEW", text="x")
    assert err.value.response["error"] == "not_in_channel"
    client.conversations_join(channel="C_NEW")
    client.chat_postMessage(channel="#new-leads", text="joined")
    assert [m["text"] for m in fake.messages("C_NEW")] == ["joined"]


def test_file_upload_v2_flow(fake: FakeSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C1", text="weekly report")["ts"]
    client.files_upload_v2(
        channel="C1",
        content="lead,sla\nL-1,met\n",
        filename="sla.csv",
        initial_comment="SLA report",
        thread_ts=parent,
    )

    [url_call] = fake.calls_to("files.getUploadURLExternal")
    [upload] = fake.calls_to("files.upload_url")
    file_id = url_call.response["file_id"]  # type: ignore[index]
    assert upload.args == {"file_id": file_id, "size": len(b"lead,sla\nL-1,met\n")}
    stored = fake.files[file_id]
    assert stored["content"] == b"lead,sla\nL-1,met\n" and stored["size"] == 17
    assert stored["completed"] is True
    assert (stored["channel"], stored["initial_comment"], stored["thread_ts"]) == (
        "C1",
        "SLA report",
        parent,
    )
    [shared] = fake.thread("C1", parent)
    assert shared["text"] == "SLA report" and shared["files"][0]["id"] == file_id


def test_auth_and_unknown_method(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=fake.base_url).chat_postMessage(channel="C1", text="x")
    assert err.value.response["error"] == "not_authed"
    assert fake.messages("C1") == []

    tokened = WebClient(base_url=fake.base_url)
    tokened.api_call(
        "chat.postMessage", params={"token": "xoxb-form", "channel": "C1", "text": "y"}
    )
    assert [m["text"] for m in fake.messages("C1")] == ["y"]

    with pytest.raises(SlackApiError) as err:
        WebClient(token="xoxb-test", base_url=fake.base_url).api_call("chat.nope")
    assert err.value.response["error"] == "unknown_method"
    assert fake.calls[-1].method == "chat.nope"


def test_response_url_records_and_applies_effects(fake: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="lead card")["ts"]
    bound = fake.response_url("card", channel="C1", message_ts=ts, user="U_REP1")

    assert WebhookClient(bound).send(text="claimed", replace_original=True).status_code == 200
    assert fake.messages("C1")[0]["text"] == "claimed"
    WebhookClient(bound).send(text="for everyone", response_type="in_channel")
    assert [m["text"] for m in fake.messages("C1")] == ["claimed", "for everyone"]
    WebhookClient(fake.response_url()).send(text="just you", blocks=BLOCKS)
    assert fake.ephemerals[-1]["text"] == "just you"
    WebhookClient(bound).send(delete_original=True)
    assert [m["text"] for m in fake.messages("C1")] == ["for everyone"]

    calls = fake.calls_to("response_url")
    assert [c.args["_name"] for c in calls] == ["card", "card", "default", "card"]
    assert calls[2].args["blocks"] == BLOCKS and calls[0].args["replace_original"] is True


def test_reset_forgets_everything(fake: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="x")
    client.views_publish(user_id="U1", view={"type": "home", "blocks": []})
    fake.set_user("U1", name="one")
    fake.fail("chat.postMessage", error="channel_not_found")
    last_ts = fake.messages("C1")[0]["ts"]

    fake.reset()

    assert (fake.calls, fake.messages("C1"), fake.home_views) == ([], [], {})
    assert client.users_info(user="U1")["user"]["name"] == "u1"
    new_ts = client.chat_postMessage(channel="C1", text="y")["ts"]  # the script is gone too
    assert float(new_ts) > float(last_ts)


def test_wait_for_times_out_with_a_useful_message(fake: FakeSlack, client: WebClient) -> None:
    client.auth_test()
    with pytest.raises(AssertionError, match=r"chat\.postMessage.*auth\.test"):
        fake.wait_for("chat.postMessage", timeout=0.05)
    assert len(fake.wait_for("auth.test")) == 1


# ============================================================================ scripted failures


def test_rate_limited_with_retry_after(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as err:
        no_retry_client(fake).chat_postMessage(channel="C1", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"
    assert err.value.response["error"] == "ratelimited"
    assert fake.messages("C1") == [] and fake.calls[-1].status == 429


def test_server_error(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("chat.postMessage", status=500)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="x")
    assert err.value.response.status_code == 500
    assert fake.messages("C1") == []


def test_api_error(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="x")
    assert err.value.response.status_code == 200
    assert err.value.response["error"] == "channel_not_found"
    assert fake.messages("C1") == []


def test_dropped_connection(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", drop=True)
    with pytest.raises(ConnectionError):
        no_retry_client(fake).chat_postMessage(channel="C1", text="x")
    assert fake.calls[-1].response is None
    assert fake.messages("C1") == []


def test_drop_after_effect_with_retrying_client_duplicates_the_post(fake: FakeSlack) -> None:
    """The hazard feature tests must be able to provoke: Slack did it, the answer was lost,
    the SDK's default connection-error retry posts again."""
    retrying = WebClient(
        token="xoxb-test",
        base_url=fake.base_url,
        retry_handlers=[
            ConnectionErrorRetryHandler(
                max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.0)
            )
        ],
    )
    fake.fail("chat.postMessage", drop=True, after_effect=True)
    retrying.chat_postMessage(channel="C1", text="once?")
    assert [m["text"] for m in fake.messages("C1")] == ["once?", "once?"]


def test_delay_beyond_client_timeout(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", delay=0.6)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        no_retry_client(fake, timeout=0.2).chat_postMessage(channel="C1", text="slow")
    assert time.monotonic() - started < 0.5
    assert fake.calls_to("chat.postMessage") == [], "nothing happens before the fake answers"
    assert fake.messages("C1") == []
    # A slow Slack still does the work: it lands although the client already gave up.
    [call] = fake.wait_for("chat.postMessage", timeout=3)
    assert call.response is not None and call.response["ok"] is True
    assert [m["text"] for m in fake.messages("C1")] == ["slow"]


def test_delay_within_timeout_answers_late(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("auth.test", delay=0.15)
    started = time.monotonic()
    assert client.auth_test()["ok"] is True
    assert time.monotonic() - started >= 0.15
    assert len(fake.calls_to("auth.test")) == 1


def test_after_effect_stores_although_client_saw_failure(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", status=500, after_effect=True)
    with pytest.raises(SlackApiError):
        no_retry_client(fake).chat_postMessage(channel="C1", text="lost answer")
    assert [m["text"] for m in fake.messages("C1")] == ["lost answer"]


def test_times_fails_n_then_succeeds_and_scripts_are_per_method(
    fake: FakeSlack, client: WebClient
) -> None:
    fake.fail("chat.postMessage", error="internal_error", times=2)
    client.auth_test()  # other methods are not affected
    for _ in range(2):
        with pytest.raises(SlackApiError):
            client.chat_postMessage(channel="C1", text="x")
    assert client.chat_postMessage(channel="C1", text="third")["ok"] is True
    assert [m["text"] for m in fake.messages("C1")] == ["third"]

    fake.fail("*", error="token_revoked")
    with pytest.raises(SlackApiError) as err:
        client.auth_test()
    assert err.value.response["error"] == "token_revoked"
    assert client.auth_test()["ok"] is True


def test_response_url_failure(fake: FakeSlack) -> None:
    fake.fail("response_url", status=500)
    assert WebhookClient(fake.response_url()).send(text="x").status_code == 500
    assert fake.ephemerals == []


# ============================================================================ signing


def test_good_signature_validates() -> None:
    body = "token=x&command=%2Flead&text=hello"
    headers = slack_signature_headers(body, SECRET)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert abs(int(headers["X-Slack-Request-Timestamp"]) - time.time()) < 5
    assert headers["X-Slack-Signature"].startswith("v0=")
    assert SignatureVerifier(SECRET).is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    assert slack_signature_headers('{"a": 1}', SECRET)["Content-Type"] == "application/json"


@pytest.mark.parametrize("age", [299, -299])
def test_signature_within_five_minutes_validates(age: int) -> None:
    ts = int(time.time()) - age
    headers = slack_signature_headers("a=b", SECRET, timestamp=ts)
    assert SignatureVerifier(SECRET).is_valid("a=b", str(ts), headers["X-Slack-Signature"])


@pytest.mark.parametrize(
    "case", ["tampered", "wrong_secret", "old", "future"], ids=lambda c: str(c)
)
def test_bad_signatures_do_not_validate(case: str) -> None:
    body = json.dumps({"type": "event_callback", "team_id": "T0001", "event": {"type": "x"}})
    now = int(time.time())
    ts = {"old": now - 330, "future": now + 330}.get(case, now)  # past 5 min, even if slow
    secret = "not-the-secret" if case == "wrong_secret" else SECRET
    headers = slack_signature_headers(body, secret, timestamp=ts)
    sent = tamper_body(body) if case == "tampered" else body
    assert not SignatureVerifier(SECRET).is_valid(
        sent, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"type": "event_callback", "ok": True, "n": 1}),
        "payload=" + "%7B%22type%22%3A%22block_actions%22%7D",
        "command=%2Flead&text=",
    ],
)
def test_tamper_changes_one_byte_and_keeps_body_parseable(body: str) -> None:
    tampered = tamper_body(body)
    assert len(tampered) == len(body)
    assert sum(a != b for a, b in zip(body, tampered, strict=True)) == 1
    if tampered.startswith("{"):
        json.loads(tampered)
    elif tampered.startswith("payload="):
        json.loads(dict(parse_qsl(tampered))["payload"])


def test_builders_are_pure_and_shaped_like_slack() -> None:
    req = SlackRequests("http://127.0.0.1:9/never-called", SECRET)
    body, ctype = req.build_block_action(
        "claim", "L-1", message={"ts": "1700000000.000100", "text": "lead"}
    )
    payload = json.loads(dict(parse_qsl(body))["payload"])
    assert ctype == "application/x-www-form-urlencoded"
    assert payload["type"] == "block_actions"
    assert payload["user"] == {"id": "U_REP1", "username": "u_rep1", "name": "u_rep1",
                               "team_id": "T0001"}  # fmt: skip
    assert payload["container"] == {
        "type": "message",
        "message_ts": "1700000000.000100",
        "channel_id": "C_SALES",
        "is_ephemeral": False,
    }
    assert payload["actions"][0]["value"] == "L-1"
    assert payload["actions"][0]["type"] == "button" and payload["message"]["text"] == "lead"
    form = dict(parse_qsl(req.build_slash_command("/lead", "acme", user_id="U9")[0]))
    assert (form["command"], form["text"], form["user_id"], form["team_id"]) == (
        "/lead",
        "acme",
        "U9",
        "T0001",
    )
    assert state_values(
        plain_text_input("company", "company_input", "Acme"),
        static_select("tier", "tier_select", "A", text="Tier A"),
        checkboxes("flags", "flags_cb", ["hot"]),
        users_select("owner", "owner_select", "U_REP1"),
    ) == {
        "company": {"company_input": {"type": "plain_text_input", "value": "Acme"}},
        "tier": {
            "tier_select": {
                "type": "static_select",
                "selected_option": {
                    "text": {"type": "plain_text", "text": "Tier A", "emoji": True},
                    "value": "A",
                },
            }
        },
        "flags": {
            "flags_cb": {
                "type": "checkboxes",
                "selected_options": [
                    {"text": {"type": "plain_text", "text": "hot", "emoji": True}, "value": "hot"}
                ],
            }
        },
        "owner": {"owner_select": {"type": "users_select", "selected_user": "U_REP1"}},
    }


# ============================================================================ real Bolt app


@dataclass
class BoltEnv:
    fake: FakeSlack
    app: App
    server: WsgiServer
    slack: SlackRequests
    seen: dict[str, Any] = field(default_factory=dict)


def build_app(fake: FakeSlack, seen: dict[str, Any], process_before_response: bool) -> App:
    app = App(
        signing_secret=SECRET,
        token_verification_enabled=False,
        client=WebClient(base_url=fake.base_url, token="xoxb-test"),
        process_before_response=process_before_response,
    )

    @app.command("/lead")
    def lead_command(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        ack()
        client.chat_postMessage(
            channel=command["channel_id"], text=f"cmd {command['text']} by {command['user_id']}"
        )

    @app.action("claim")
    def claim(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient,
              respond: Respond) -> None:  # fmt: skip
        ack()
        client.chat_postMessage(
            channel=body["channel"]["id"],
            thread_ts=body["container"]["message_ts"],
            text=f"claimed {action['value']} by {body['user']['id']}",
        )
        respond(text="You claimed it", replace_original=False)

    @app.action("pick_owner")
    def pick_owner(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        view = body["view"]
        client.views_update(
            view_id=view["id"],
            hash=view["hash"],
            view={"type": "modal", "callback_id": view["callback_id"], "title": view["title"],
                  "private_metadata": "owner-picked"},
        )  # fmt: skip

    @app.view("lead_form")
    def lead_form(ack: Ack, view: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        values = view["state"]["values"]
        company = values["company"]["company_input"]["value"]
        if not company:
            ack(response_action="errors", errors={"company": "Required"})
            return
        ack()
        tier = values["tier"]["tier_select"]["selected_option"]["value"]
        owner = values["owner"]["owner_select"]["selected_user"]
        client.chat_postMessage(
            channel="C_SALES",
            text=f"lead {company} tier {tier} owner {owner} meta {view['private_metadata']} "
            f"from {body['user']['id']}",
        )

    @app.view_closed("lead_form")
    def lead_form_closed(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        seen["closed_by"] = body["user"]["id"]

    @app.shortcut("new_lead")
    def new_lead(ack: Ack, shortcut: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(
            trigger_id=shortcut["trigger_id"],
            view={"type": "modal", "callback_id": "lead_form",
                  "title": {"type": "plain_text", "text": "New lead"}, "blocks": []},
        )  # fmt: skip

    @app.shortcut("escalate")
    def escalate(ack: Ack, shortcut: dict[str, Any], client: WebClient) -> None:
        ack()
        client.chat_postMessage(
            channel=shortcut["channel"]["id"],
            thread_ts=shortcut["message"]["ts"],
            text=f"escalated by {shortcut['user']['id']}",
        )

    @app.options("company_search")
    def company_search(ack: Ack, payload: dict[str, Any]) -> None:
        ack(options=[{"text": {"type": "plain_text", "text": f"{payload['value']} Inc"},
                      "value": "acme"}])  # fmt: skip

    @app.event("app_mention")
    def mention(event: dict[str, Any], client: WebClient, request: BoltRequest) -> None:
        seen["retry_num"] = request.headers.get("x-slack-retry-num")
        client.chat_postMessage(channel=event["channel"], text=f"mention {event['text']}")

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        client.views_publish(user_id=event["user"], view={"type": "home", "blocks": BLOCKS})

    return app


@pytest.fixture
def bolt(fake: FakeSlack) -> Iterator[BoltEnv]:
    """process_before_response=True: listeners finish before the HTTP response returns."""
    seen: dict[str, Any] = {}
    app = build_app(fake, seen, process_before_response=True)
    server = WsgiServer(SlackRequestHandler(app)).start()
    try:
        slack = SlackRequests(server.url("/slack/events"), SECRET, response_url=fake.response_url())
        yield BoltEnv(fake, app, server, slack, seen)
    finally:
        server.stop()


def test_url_verification(bolt: BoltEnv) -> None:
    resp = bolt.slack.url_verification("abc123")
    assert resp.status == 200 and resp.json() == {"challenge": "abc123"}


def test_command_routes(bolt: BoltEnv) -> None:
    resp = bolt.slack.slash_command("/lead", "acme corp", user_id="U_REP2", channel_id="C_X")
    assert resp.status == 200
    assert [m["text"] for m in bolt.fake.messages("C_X")] == ["cmd acme corp by U_REP2"]


def test_block_action_routes_and_respond_reaches_response_url(bolt: BoltEnv) -> None:
    lead = WebClient(token="xoxb-test", base_url=bolt.fake.base_url).chat_postMessage(
        channel="C_SALES", text="New MQL"
    )
    resp = bolt.slack.block_action("claim", "L-7", message=lead["message"])
    assert resp.status == 200
    [reply] = bolt.fake.thread("C_SALES", lead["ts"])
    assert reply["text"] == "claimed L-7 by U_REP1"
    [responded] = bolt.fake.calls_to("response_url")
    assert responded.args["text"] == "You claimed it"
    assert bolt.fake.ephemerals[-1]["text"] == "You claimed it"


def test_shortcut_opens_modal_and_view_action_updates_it(bolt: BoltEnv) -> None:
    assert bolt.slack.shortcut("new_lead", trigger_id="trig-9").status == 200
    [opened] = bolt.fake.calls_to("views.open")
    assert opened.args["trigger_id"] == "trig-9"
    view = next(iter(bolt.fake.views.values()))
    assert view["callback_id"] == "lead_form"

    resp = bolt.slack.block_action("pick_owner", container_type="view", view=view)
    assert resp.status == 200
    assert bolt.fake.calls_to("views.update")[0].response["ok"] is True  # type: ignore[index]
    assert bolt.fake.views[view["id"]]["private_metadata"] == "owner-picked"


def test_message_shortcut_routes(bolt: BoltEnv) -> None:
    lead = WebClient(token="xoxb-test", base_url=bolt.fake.base_url).chat_postMessage(
        channel="C_SALES", text="New MQL"
    )
    resp = bolt.slack.shortcut(
        "escalate", kind="message_action", channel_id="C_SALES", message=lead["message"]
    )
    assert resp.status == 200
    assert [m["text"] for m in bolt.fake.thread("C_SALES", lead["ts"])] == ["escalated by U_MKT1"]


def test_view_submission_routes_with_state_values(bolt: BoltEnv) -> None:
    values = state_values(
        plain_text_input("company", "company_input", "Acme"),
        static_select("tier", "tier_select", "A"),
        users_select("owner", "owner_select", "U_REP3"),
    )
    resp = bolt.slack.view_submission("lead_form", values, private_metadata="src=web")
    assert resp.status == 200 and resp.body == ""
    assert [m["text"] for m in bolt.fake.messages("C_SALES")] == [
        "lead Acme tier A owner U_REP3 meta src=web from U_REP1"
    ]


def test_view_submission_errors_are_returned_to_slack(bolt: BoltEnv) -> None:
    values = state_values(plain_text_input("company", "company_input", None))
    resp = bolt.slack.view_submission("lead_form", values)
    assert resp.status == 200
    assert resp.json() == {"response_action": "errors", "errors": {"company": "Required"}}
    assert bolt.fake.calls_to("chat.postMessage") == []


def test_view_closed_and_options_route(bolt: BoltEnv) -> None:
    assert bolt.slack.view_closed("lead_form", user_id="U_REP4").status == 200
    assert bolt.seen["closed_by"] == "U_REP4"
    resp = bolt.slack.block_suggestion("company_search", "Acm")
    assert resp.status == 200 and resp.json()["options"][0]["text"]["text"] == "Acm Inc"


def test_events_route_and_retry_headers_arrive(bolt: BoltEnv) -> None:
    mention = {"type": "app_mention", "user": "U_REP1", "text": "<@U_BOT> status",
               "ts": "1700000001.000100", "channel": "C_SALES"}  # fmt: skip
    assert bolt.slack.event(mention).status == 200
    assert bolt.seen["retry_num"] is None
    assert bolt.slack.event(mention, event_id="Ev2", retry_num=1).status == 200
    assert bolt.seen["retry_num"] == ["1"]
    assert [m["text"] for m in bolt.fake.messages("C_SALES")] == ["mention <@U_BOT> status"] * 2

    home = {"type": "app_home_opened", "user": "U_REP1", "channel": "D1", "tab": "home"}
    assert bolt.slack.event(home, event_id="Ev3").status == 200
    assert bolt.fake.home_views["U_REP1"]["blocks"] == BLOCKS


def test_unmatched_request_is_not_routed(bolt: BoltEnv) -> None:
    """Negative control: the routing tests above would notice a matcher mismatch."""
    assert bolt.slack.block_action("no_such_action").status == 404
    assert bolt.slack.slash_command("/other").status == 404
    assert bolt.fake.calls_to("chat.postMessage") == []


def test_get_and_post_return_error_statuses_without_raising(bolt: BoltEnv) -> None:
    assert http_get(bolt.server.url("/slack/events")).status == 404
    resp = http_post(bolt.server.url("/slack/events"), "{}", {"Content-Type": "application/json"})
    assert resp.status == 401 and resp.json() == {"error": "invalid request"}


@pytest.mark.parametrize("kind", ["command", "action", "event"])
@pytest.mark.parametrize(
    "attack", ["unsigned", "tampered", "wrong_secret", "stale_330s", "future_330s"]
)
def test_bad_requests_are_rejected(bolt: BoltEnv, kind: str, attack: str) -> None:
    if kind == "command":
        body, ctype = bolt.slack.build_slash_command("/lead", "acme")
    elif kind == "action":
        lead = WebClient(token="xoxb-test", base_url=bolt.fake.base_url).chat_postMessage(
            channel="C_SALES", text="New MQL"
        )
        body, ctype = bolt.slack.build_block_action("claim", "L-1", message=lead["message"])
    else:
        event = {"type": "app_mention", "user": "U1", "text": "hi", "channel": "C_SALES"}
        body, ctype = bolt.slack.build_event(event)
    now = int(time.time())
    options: dict[str, Any] = {
        "unsigned": {"unsigned": True},
        "tampered": {"tamper": True},
        "wrong_secret": {"secret": "not-the-secret"},
        "stale_330s": {"timestamp": now - 330},  # past 5 min, even if the run stalls
        "future_330s": {"timestamp": now + 330},
    }[attack]
    posts_before = len(bolt.fake.calls_to("chat.postMessage"))

    resp = bolt.slack.send(body, ctype, **options)

    assert resp.status == 401
    assert len(bolt.fake.calls_to("chat.postMessage")) == posts_before, "a listener ran"
    # Positive control: the very same request, correctly signed, is accepted and routed.
    assert bolt.slack.send(body, ctype).status == 200
    assert len(bolt.fake.calls_to("chat.postMessage")) == posts_before + 1


def test_async_listeners_observed_with_wait_for(fake: FakeSlack) -> None:
    """With Bolt's default process_before_response=False the ack precedes the API calls."""
    app = build_app(fake, {}, process_before_response=False)
    with WsgiServer(SlackRequestHandler(app)) as server:
        slack = SlackRequests(server.url("/slack/events"), SECRET)
        assert slack.slash_command("/lead", "later").status == 200
        [call] = fake.wait_for("chat.postMessage")
        assert call.args["text"] == "cmd later by U_REP1"


def test_rate_limit_is_a_token_bucket_per_channel(fake: FakeSlack) -> None:
    client = no_retry_client(fake)
    fake.rate_limit("chat.postMessage", per_second=1.0, burst=2)
    for _ in range(2):
        client.chat_postMessage(channel="C1", text="ok")
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C1", text="too soon")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "1"
    client.chat_postMessage(channel="C2", text="another channel has its own bucket")
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [200, 200, 429, 200]
    assert len(fake.messages("C1")) == 2
    calls = fake.calls
    assert all(a.at <= b.at for a, b in itertools.pairwise(calls))
