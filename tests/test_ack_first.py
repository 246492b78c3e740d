"""Answers to Slack before the work behind them (``handlers.app.AckFirst``).

The bot's threads share one interpreter lock, so a listener doing a claim's work while other
requests are being answered makes those answers wait. The work behind an early ack therefore
starts once no Slack request is in flight, but never later than the gate's bound, and a
listener that answers in its own ack (a modal submission) never waits. A Slack request is held
in flight here inside the running bot's web app, below the server's accounting of answers (the
server hands the app only complete requests, so a body sent in part no longer holds one).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bot.ids import Action
from tests.harness import http_post, slack_signature_headers
from tests.harness.bot_env import Env, claim_by
from tests.harness.people import CHANNEL, REP1, REP2
from tests.harness.settings import SIGNING_SECRET
from tests.harness.touch import form, submit, touches
from tests.harness.waiting import eventually

LONG_WAIT_S = 30.0  # far beyond every wait below: only an answer in flight can hold work back


@contextmanager
def in_flight(bot_env: Env, lead_id: int, ts: str) -> Iterator[Callable[[], int]]:
    """A signed Details press held inside the web app until the caller finishes it."""
    body, content_type = bot_env.slack.build_block_action(
        Action.DETAILS.value, str(lead_id), user_id=REP1, channel_id=CHANNEL, message_ts=ts,
        response_url=bot_env.fake.response_url("held", channel=CHANNEL, message_ts=ts, user=REP1),
    )
    headers = slack_signature_headers(body, SIGNING_SECRET, content_type=content_type)
    web = bot_env.bot.web
    inner = web.wsgi_app
    release = threading.Event()

    def holding(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("HTTP_X_HOLD"):
            release.wait(30)
        return inner(environ, start_response)

    web.wsgi_app = holding  # type: ignore[method-assign]
    statuses: list[int] = []
    sender = threading.Thread(target=lambda: statuses.append(
        http_post(bot_env.slack.events_url, body, {**headers, "X-Hold": "1"}, timeout=30).status))
    sender.start()
    gate = bot_env.bot.ack_first
    eventually(lambda: gate.in_flight == 1)  # the bot is answering it

    def finish() -> int:
        release.set()
        sender.join(30)
        return statuses[0]

    try:
        yield finish
    finally:
        release.set()
        sender.join(30)
        web.wsgi_app = inner  # type: ignore[method-assign]


def test_a_claims_work_waits_for_the_answer_in_flight_then_runs(env: Env) -> None:
    gate = env.bot.ack_first
    gate.max_wait_s = LONG_WAIT_S
    held = env.posted("held")
    lead_id, ts = env.posted("claimed")
    with in_flight(env, *held) as finish:
        assert env.press(Action.CLAIM, lead_id, ts, REP2, "claim").status == 200
        eventually(lambda: gate.waiting == 1)  # acknowledged, its work holding back
        assert env.lead(lead_id).owner_id is None
        assert finish() == 200
    eventually(lambda: env.lead(lead_id).owner_id == REP2)
    assert gate.waiting == 0


def test_the_work_waits_no_longer_than_the_bound(env: Env) -> None:
    gate = env.bot.ack_first
    gate.max_wait_s = 0.05
    held = env.posted("held")
    lead_id, ts = env.posted("claimed")
    with in_flight(env, *held) as finish:
        assert env.press(Action.CLAIM, lead_id, ts, REP2, "claim").status == 200
        # still in flight, and the claim is carried out all the same
        eventually(lambda: env.lead(lead_id).owner_id == REP2)
        assert gate.in_flight == 1
        assert finish() == 200


def test_a_modal_submission_is_not_held_back_by_the_answers_in_flight(env: Env) -> None:
    """Its listener answers in its ack: waiting would leave its own request unanswered."""
    gate = env.bot.ack_first
    gate.max_wait_s = LONG_WAIT_S
    held = env.posted("held")
    lead_id, ts = env.posted("owned")
    claim_by(env, lead_id, ts, REP1)
    with in_flight(env, *held) as finish:
        answer = submit(env, lead_id, REP1, form())
        assert answer.status == 200 and answer.body == ""
        assert len(touches(env, lead_id)) == 1
        assert gate.waiting == 0
        assert finish() == 200
