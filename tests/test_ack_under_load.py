"""Slack hears back within a second, whatever is slow behind the bot.

Slack shows the person an error when a click, shortcut or slash command is not answered within
3 s, and retries (then disables) Events API deliveries that are not. So with the bot's database
slowed to 5 s per statement and every Slack answer delayed by 5 s — the system under test made
slow, the test itself never waits for time — every signed request sent over HTTP, more at once
than Bolt has listener threads, must still be answered 200 within 1 s. The requests reach the
real listeners, which are then stuck on the slow parts; that is checked too, so the test cannot
pass by answering without doing the work.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, event

from bot.clock import ManualClock
from bot.ids import Action, Callback, Command, Shortcut
from bot.policy import Policy
from handlers.app import LISTENER_THREADS
from handlers.server import HTTP_THREADS, OTHER_ROUTES_LIMIT, RETRY_AFTER_S
from tests.harness import FakeSlack, http_post
from tests.harness.bot_env import Env, claim_by, start
from tests.harness.databases import Database
from tests.harness.leads import spec_lead
from tests.harness.people import CHANNEL, MANAGER, MARKETER, REP1, REP2
from tests.harness.touch import form as touch_form
from tests.harness.waiting import eventually

SLOW_S = 5.0
ACK_WITHIN_S = 1.0
CLAIM_PRESSES = 40  # more than the listener threads, on top of everything else below


class Slowdown:
    """Every statement on the bot's engine and every Slack answer takes ``seconds``.

    ``lift`` ends it for statements already waiting and for every later Slack call, so the
    bot's graceful stop (which lets queued listeners finish) takes seconds, not minutes; a Slack
    answer already being delayed still takes its time (the fake cuts that short only when it
    stops, and a stopped fake would make every later call wait out the client's retries).
    """

    def __init__(self, engine: Engine, fake: FakeSlack, seconds: float) -> None:
        self.engine = engine
        self.fake = fake
        self.seconds = seconds
        self.statements = 0  # started while slowed
        self._lifted = threading.Event()
        self._count = threading.Lock()
        self._on = False

    def start(self) -> None:
        event.listen(self.engine, "before_cursor_execute", self._stall)
        self.fake.fail("*", delay=self.seconds, times=1_000_000)
        self._on = True

    def _stall(self, *_args: Any) -> None:
        with self._count:
            self.statements += 1
        self._lifted.wait(self.seconds)

    def lift(self) -> None:
        if not self._on:
            return
        self._on = False
        self._lifted.set()  # the listener stays: removing it races statements iterating it
        self.fake.reset()  # later calls are answered at once


@pytest.fixture
def slow(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> Iterator[tuple[Env, Slowdown]]:
    """A running bot per database kind, and the means to slow it down."""
    env = start(fake_slack, db, policy, clock)
    slowdown = Slowdown(db.engine, fake_slack, SLOW_S)
    try:
        yield env, slowdown
    finally:
        slowdown.lift()
        env.bot.stop()


@dataclass
class Answer:
    label: str
    status: int
    seconds: float


def send_at_once(env: Env, requests: list[tuple[str, tuple[str, str]]]) -> list[Answer]:
    """Send every (label, (body, content type)) from its own thread at the same moment."""
    barrier = threading.Barrier(len(requests))

    def send(label: str, built: tuple[str, str]) -> Answer:
        barrier.wait()
        sent = time.monotonic()
        try:
            status = env.slack.send(*built).status
        except OSError:  # no answer at all (the client timed out)
            status = 0
        return Answer(label, status, time.monotonic() - sent)

    with ThreadPoolExecutor(len(requests)) as pool:
        futures = [pool.submit(send, label, built) for label, built in requests]
        return [future.result() for future in futures]


def describe(late: list[Answer], total: int) -> str:
    shown = ", ".join(f"{a.label}: {a.status} after {a.seconds:.2f} s" for a in late)
    return f"{len(late)} of {total} not answered 200 within {ACK_WITHIN_S} s: {shown}"


def button(env: Env, action: Action, lead_id: int, ts: str, user: str,
           name: str) -> tuple[str, str]:
    response_url = env.fake.response_url(name, channel=CHANNEL, message_ts=ts, user=user)
    return env.slack.build_block_action(
        action.value, str(lead_id), user_id=user, channel_id=CHANNEL, message_ts=ts,
        response_url=response_url, trigger_id=f"trig-{name}",
    )


def presses_commands_and_events(
    env: Env, owned: tuple[int, str], open_leads: list[tuple[int, str]]
) -> list[tuple[str, tuple[str, str]]]:
    """Claim pressed many times over, every other button once, both commands, the shortcut,
    and the events the bot subscribes to."""
    owned_id, owned_ts = owned
    requests: list[tuple[str, tuple[str, str]]] = []
    for n in range(CLAIM_PRESSES):
        lead_id, ts = open_leads[n % len(open_leads)]
        requests.append((f"claim {n}", button(env, Action.CLAIM, lead_id, ts,
                                              (REP1, REP2)[n % 2], f"claim-{n}")))
    for action in (Action.LOG_TOUCH, Action.CONVERT, Action.RECYCLE, Action.RELEASE,
                   Action.DETAILS):
        requests.append((action.value, button(env, action, owned_id, owned_ts, REP1,
                                              action.value)))
    requests.append((Action.REASSIGN.value,
                     button(env, Action.REASSIGN, owned_id, owned_ts, MANAGER, "reassign")))
    for command, user in ((Command.SLA_STATUS, REP1), (Command.MQL, MARKETER)):
        requests.append((command.value, env.slack.build_slash_command(
            command.value, user_id=user, channel_id=CHANNEL, trigger_id=f"trig-{command}",
            response_url=env.fake.response_url(command.value, user=user))))
    requests.append((Shortcut.MQL_HANDOFF.value, env.slack.build_shortcut(
        Shortcut.MQL_HANDOFF.value, user_id=MARKETER, trigger_id="trig-shortcut")))
    requests.append(("app_home_opened", env.slack.build_event(
        {"type": "app_home_opened", "user": REP1, "channel": "D0000REP1", "tab": "home"},
        event_id="EvHome")))
    requests.append(("thread reply", env.slack.build_event(
        {"type": "message", "channel": CHANNEL, "channel_type": "channel", "user": MARKETER,
         "text": "Met them at the expo", "ts": "1700000100.000200", "thread_ts": owned_ts},
        event_id="EvReply")))
    requests.append(("channel message", env.slack.build_event(
        {"type": "message", "channel": CHANNEL, "channel_type": "channel", "user": REP2,
         "text": "Lunch?", "ts": "1700000100.000300"},
        event_id="EvChatter")))
    return requests


def test_every_click_command_and_event_is_answered_within_a_second_when_all_is_slow(
    slow: tuple[Env, Slowdown],
) -> None:
    env, slowdown = slow
    owned = env.posted("ack-owned")
    claim_by(env, *owned, REP1)
    open_leads = [env.posted(f"ack-open-{n}") for n in range(4)]
    requests = presses_commands_and_events(env, owned, open_leads)
    assert len(requests) > LISTENER_THREADS * 2

    slowdown.start()
    answers = send_at_once(env, requests)

    late = [a for a in answers if a.status != 200 or a.seconds >= ACK_WITHIN_S]
    assert late == [], describe(late, len(answers))
    # The listeners behind those answers really run, and are stuck in the slow database.
    eventually(lambda: slowdown.statements >= 1, timeout=ACK_WITHIN_S)
    assert env.fake.calls_to("views.open") == []
    # Once it is fast again, the acknowledged presses are carried out: every lead has an owner.
    slowdown.lift()
    eventually(lambda: all(env.lead(lead_id).owner_id for lead_id, _ in open_leads), timeout=10)


def test_clicks_are_answered_while_webhooks_and_modal_submissions_hold_the_slow_database(
    slow: tuple[Env, Slowdown],
) -> None:
    """Deliveries and submissions wait on the database inside the server's threads; a burst
    of them must not leave none for Slack. Deliveries beyond the limit are told to retry."""
    env, slowdown = slow
    owned = env.posted("ack-owned")
    claim_by(env, *owned, REP1)
    open_leads = [env.posted(f"ack-open-{n}") for n in range(4)]
    extra = HTTP_THREADS - OTHER_ROUTES_LIMIT  # as many deliveries as the server has threads
    slowdown.start()

    background = ThreadPoolExecutor(HTTP_THREADS + LISTENER_THREADS)
    deliveries = [background.submit(deliver, env, f"held-{n}") for n in range(HTTP_THREADS)]
    for _ in range(LISTENER_THREADS):  # each holds a server thread until Bolt's 3 s ack timeout
        background.submit(
            env.slack.view_submission, Callback.TOUCH_MODAL.value, touch_form(), user_id=REP1,
            private_metadata=str(owned[0]))
    eventually(lambda: slowdown.statements >= 1)  # they are in, waiting on the database

    requests = presses_commands_and_events(env, owned, open_leads)
    answers = send_at_once(env, requests)
    late = [a for a in answers if a.status != 200 or a.seconds >= ACK_WITHIN_S]
    assert late == [], describe(late, len(answers))

    eventually(lambda: sum(d.done() for d in deliveries) >= extra)  # told to retry at once
    slowdown.lift()
    background.shutdown(wait=True)
    statuses = [d.result() for d in deliveries]
    assert sorted(set(statuses)) == [202, 503] and statuses.count(503) == extra


def deliver(env: Env, external_id: str) -> int:
    """One MA-tool delivery of a lead to the intake webhook; its HTTP status."""
    token = env.services.settings.intake_token
    answer = http_post(
        f"{env.bot.url}/webhooks/mql", json.dumps(spec_lead(external_id)),
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}, timeout=30,
    )
    if answer.status == 503:
        assert answer.headers["retry-after"] == str(RETRY_AFTER_S)
    return answer.status
