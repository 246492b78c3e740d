"""Nothing from an unverified Slack request is acted on: it is a 401 before Bolt reads it.

The forged requests below carry a ``response_url`` on the fake Slack: an error path that
answered "something went wrong" there would let anyone make the bot POST to any URL.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt.request import BoltRequest
from sqlalchemy import text

from bot.services import Services
from handlers.app import create_app
from tests.harness import FakeSlack, SlackRequests, http_post, slack_signature_headers
from tests.harness.settings import SIGNING_SECRET

FORM = "application/x-www-form-urlencoded"


def command(fake_slack: FakeSlack, name: str) -> str:
    """A ``/sla-status`` body whose answer goes to the fake's response URL ``name``."""
    return urlencode({
        "command": "/sla-status", "text": "", "user_id": "U0000REP1", "user_name": "rep1",
        "channel_id": "C0000SALES", "team_id": "T0001", "team_domain": "example",
        "response_url": fake_slack.response_url(name), "trigger_id": "trig-1",
        "api_app_id": "A0001", "token": "legacy",
    })


def assert_refused(answer: Any) -> None:
    assert answer.status == 401, answer.body
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["error"] == "unauthorized"
    assert "X-Slack-" in answer.json()["message"]  # names the header at fault


def assert_only_the_signed_request_was_answered(slack: SlackRequests, fake: FakeSlack) -> None:
    """The same kind of request, correctly signed, is answered: so the 401 was the gate's."""
    assert slack.send(command(fake, "signed"), FORM).status == 200
    calls = fake.wait_for("response_url")
    assert [call.args["_name"] for call in calls] == ["signed"]


@pytest.mark.parametrize(
    "timestamp",
    ["abc", "1.5", "", "0x10", "¹²³", "-{now}", " {now}", "{now}\t", "1_{now}", None],
    ids=["letters", "decimal", "empty", "hex", "superscript-digits", "negative", "space",
         "tab", "underscore", "missing"],
)
def test_a_request_without_an_integer_timestamp_is_401_and_nothing_is_posted(
    slack: SlackRequests, fake_slack: FakeSlack, timestamp: str | None
) -> None:
    body = command(fake_slack, "forged")
    headers = {"Content-Type": FORM, "X-Slack-Signature": "v0=" + "0" * 64}
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = timestamp.format(now=int(time.time()))
    assert_refused(http_post(slack.events_url, body, headers))
    assert fake_slack.calls_to("response_url") == []
    assert_only_the_signed_request_was_answered(slack, fake_slack)


@pytest.mark.parametrize(
    "case", ["no signature", "wrong secret", "stale", "future", "other body"]
)
def test_a_badly_signed_request_is_401_with_the_header_named(
    slack: SlackRequests, fake_slack: FakeSlack, case: str
) -> None:
    body = command(fake_slack, "forged")
    now = int(time.time())
    signed_as = {"stale": now - 330, "future": now + 330}.get(case, now)  # past 5 min
    secret = "not-the-secret" if case == "wrong secret" else SIGNING_SECRET
    headers = slack_signature_headers("other" if case == "other body" else body, secret,
                                      signed_as, content_type=FORM)
    if case == "no signature":
        del headers["X-Slack-Signature"]
    assert_refused(http_post(slack.events_url, body, headers))
    assert_only_the_signed_request_was_answered(slack, fake_slack)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("payload=%7Bnot-json", FORM), ("{not json", "application/json"),
     (b"payload=\xff\xfe", FORM), ("", FORM)],
    ids=["form-payload", "json", "not-utf8", "empty"],
)
def test_an_unsigned_body_that_does_not_parse_is_401_not_500(
    slack: SlackRequests, fake_slack: FakeSlack, body: str | bytes, content_type: str
) -> None:
    now = int(time.time())
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(now),
               "X-Slack-Signature": "v0=" + "0" * 64}
    assert_refused(http_post(slack.events_url, body, headers))
    assert_refused(http_post(slack.events_url, body, {"Content-Type": content_type}))


def test_url_verification_and_ssl_check_are_answered_only_when_signed(
    slack: SlackRequests,
) -> None:
    challenge = json.dumps({"token": "t", "challenge": "c-1", "type": "url_verification"})
    assert_refused(slack.send(challenge, "application/json", unsigned=True))
    assert slack.send(challenge, "application/json").json()["challenge"] == "c-1"
    ssl_check = urlencode({"ssl_check": "1", "token": "t"})
    assert_refused(slack.send(ssl_check, FORM, unsigned=True))
    assert slack.send(ssl_check, FORM).status == 200


def test_the_error_handler_never_answers_a_request_bolt_did_not_verify(
    services: Services, fake_slack: FakeSlack
) -> None:
    """Behind the gate as well: Bolt's own check raises on a non-integer timestamp, and the
    error handler then sees the unverified body; it must not post to its ``response_url``."""
    app = create_app(services)
    request = BoltRequest(
        body=command(fake_slack, "forged"),
        headers={"content-type": [FORM], "x-slack-request-timestamp": ["abc"],
                 "x-slack-signature": ["v0=" + "0" * 64]},
    )
    answer = app.dispatch(request)
    assert answer.status == 401
    assert fake_slack.calls_to("response_url") == []
    with services.unit_of_work() as uow:  # nor queued for anyone
        assert uow.session.execute(text("SELECT count(*) FROM outbox")).scalar() == 0
