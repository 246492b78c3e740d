"""The outbound webhook: every outcome reaches the CRM / MA tool, signed, at least once.

A tiny real HTTP receiver on 127.0.0.1 stands in for the MA tool; the real outbox worker
delivers to it, driven by hand with the injected clock. Leads and their outcome events are
built directly (the convert / recycle use cases call ``queue_outcome`` the same way).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from bot.clock import ManualClock
from bot.lead_messages import queue_call
from bot.lifecycle import Action
from bot.outbound_webhook import config_problems, outcome_body, queue_outcome
from bot.outbox.worker import OutboxWorker, outbox_health
from bot.policy import PolicyError, load_policy, parse_policy
from bot.services import Services
from bot.settings import SettingsError
from bot.user_agent import USER_AGENT
from storage.models import LeadEvent, OutboxMessage, OutboxStatus
from tests.harness import FakeSlack
from tests.harness.bot_env import drain_together, make_worker, start_bot
from tests.harness.bot_process import bot_environment, worker_process
from tests.harness.databases import Database
from tests.harness.outbound import SECRET, Receiver, decide, webhook_rows, webhook_services
from tests.harness.policies import EXAMPLE_POLICY, webhook_policy, webhook_policy_file
from tests.harness.settings import BOT_TOKEN, ROOT, SIGNING_SECRET

REP = "U0000REP1"


# ---------------------------------------------------------------------- helpers


@pytest.fixture
def services(
    fake_slack: FakeSlack, db: Database, receiver: Receiver, clock: ManualClock
) -> Services:
    """A bot whose policy sends both outcomes to the receiver (SQLite and PostgreSQL)."""
    return webhook_services(fake_slack, db, webhook_policy(receiver.url), clock)


@pytest.fixture
def worker(services: Services, clock: ManualClock, fake_slack: FakeSlack) -> OutboxWorker:
    return make_worker(services, clock, fake_slack)


def only_row(services: Services) -> OutboxMessage:
    (row,) = webhook_rows(services)
    return row


# The receiver's side, exactly as the README shows it to operators.
def verified(secret: str, headers: Any, body: bytes, now: float | None = None) -> bool:
    ts = headers["X-SLA-Timestamp"]
    if abs((now or time.time()) - int(ts)) > 300:
        return False  # too old: a replay
    base = f"v1:{ts}:".encode() + body
    expected = "v1=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-SLA-Signature"])


# ---------------------------------------------------------------------- what is sent


def test_a_conversion_reaches_the_receiver_signed_with_ids_and_no_personal_data(
    services: Services, worker: OutboxWorker, receiver: Receiver, clock: ManualClock,
    fake_slack: FakeSlack,
) -> None:
    lead_id, event_id = decide(services, bant=["budget", "authority", "need", "timeline"],
                               amount=1200000, note="家族の連絡先は 090-1111-2222")
    clock.advance(timedelta(seconds=3))
    assert worker.run_once() == 1
    (request,) = receiver.requests
    key = f"webhook:{lead_id}:{event_id}"
    assert request.path == "/hooks/sla"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == USER_AGENT  # the product and version, no OS
    assert request.headers["X-SLA-Delivery"] == key
    assert request.headers["X-SLA-Timestamp"] == str(int(clock.now().timestamp()))
    sent_at = clock.now().timestamp()
    assert verified(SECRET, request.headers, request.body, now=sent_at)
    assert not verified("another-secret-0123456789", request.headers, request.body, now=sent_at)
    assert not verified(SECRET, request.headers, request.body.replace(b"3", b"4"), now=sent_at)
    assert not verified(SECRET, request.headers, request.body, now=sent_at + 301)
    assert request.json() == {
        "event": "lead.converted",
        "delivery_id": key,
        "lead": {"id": lead_id, "external_id": "hubspot-20391", "source": "hubspot"},
        "outcome": "converted",
        "reason": None,
        "touches": 3,
        "bant": ["budget", "authority", "need", "timeline"],
        "amount": 1200000,
        "owner": REP,
        "timestamps": {  # the policy's time zone (Asia/Tokyo), with its offset
            "qualified_at": "2026-11-22T07:00:00+09:00",
            "posted_at": "2026-11-22T10:00:00+09:00",
            "claimed_at": "2026-11-22T10:05:00+09:00",
            "first_touch_at": "2026-11-22T11:00:00+09:00",
            "decided_at": "2026-11-24T10:00:00+09:00",
        },
    }
    for personal in (b"hanako", b"Sato", b"+81-3", "営業部長".encode(), b"Example KK", b"090-"):
        assert personal not in request.body
    row = only_row(services)
    assert (row.status, row.attempts, row.channel) == (OutboxStatus.SENT, 1, "outbound")
    assert fake_slack.calls == []  # a webhook is not a Slack call
    assert worker.run_once() == 0 and len(receiver.requests) == 1


def test_a_recycle_carries_its_reason_code_and_no_bant_or_amount(
    services: Services, worker: OutboxWorker, receiver: Receiver
) -> None:
    lead_id, _ = decide(services, Action.RECYCLE, reason="timing", touches=3,
                        note="予算は来期", fewer_touches_note="本人から辞退")
    worker.run_once()
    body = receiver.requests[0].json()
    assert (body["event"], body["outcome"], body["reason"]) == (
        "lead.recycled", "recycled", "timing"
    )
    assert (body["bant"], body["amount"], body["touches"]) == (None, None, 3)
    assert body["lead"]["id"] == lead_id
    assert "予算".encode() not in receiver.requests[0].body  # the rep's notes stay home


def test_the_body_is_fixed_when_the_outcome_is_queued(
    services: Services, worker: OutboxWorker, receiver: Receiver
) -> None:
    lead_id, _ = decide(services, bant=["budget"], amount="2,500,000")
    with services.unit_of_work() as uow:  # the lead changes before the worker runs
        lead = uow.leads.get(lead_id)
        assert lead is not None
        lead.owner_id, lead.touch_count = "U0000REP2", 9
        uow.commit()
    worker.run_once()
    body = receiver.requests[0].json()
    assert (body["owner"], body["touches"], body["amount"]) == (REP, 3, 2500000)


def test_queuing_the_same_outcome_twice_queues_one_delivery(services: Services) -> None:
    lead_id, event_id = decide(services)
    with services.unit_of_work() as uow:
        lead = uow.leads.get(lead_id)
        event = uow.session.get(LeadEvent, event_id)
        assert lead is not None and event is not None
        queue_outcome(services, uow, lead, event)
        uow.commit()
    assert [r.idempotency_key for r in webhook_rows(services)] == [f"webhook:{lead_id}:{event_id}"]


def test_other_events_are_not_outcomes(services: Services) -> None:
    lead_id, _ = decide(services)
    with services.unit_of_work() as uow:
        lead = uow.leads.get(lead_id)
        assert lead is not None
        claim_like = LeadEvent(lead_id=lead_id, at=services.clock.now(), kind="claim",
                               surface="button", data={})
        uow.session.add(claim_like)
        uow.session.flush()
        queue_outcome(services, uow, lead, claim_like)
        uow.commit()
        with pytest.raises(ValueError, match="not an outcome"):
            outcome_body(lead, claim_like, services.policy)
    assert len(webhook_rows(services)) == 1


# ---------------------------------------------------------------------- when nothing is owed


def test_without_a_webhook_in_the_policy_nothing_is_queued(
    fake_slack: FakeSlack, sqlite_db: Database, clock: ManualClock
) -> None:
    services = webhook_services(fake_slack, sqlite_db, webhook_policy(None), clock, secret=None)
    decide(services)
    decide(services, Action.RECYCLE, external_id="lead-b", reason="timing")
    assert webhook_rows(services) == []
    make_worker(services, clock, fake_slack)  # no webhook: no secret needed


@pytest.mark.parametrize(("enabled", "sent"), [(["converted"], "convert"),
                                               (["recycled"], "recycle")])
def test_an_outcome_left_out_of_events_is_not_queued(
    fake_slack: FakeSlack, sqlite_db: Database, clock: ManualClock, receiver: Receiver,
    enabled: list[str], sent: str,
) -> None:
    policy = webhook_policy(receiver.url, events=enabled)
    services = webhook_services(fake_slack, sqlite_db, policy, clock)
    converted, _ = decide(services, Action.CONVERT, external_id="lead-a")
    recycled, _ = decide(services, Action.RECYCLE, external_id="lead-b", reason="timing")
    (row,) = webhook_rows(services)
    assert row.lead_id == (converted if sent == "convert" else recycled)


def test_a_webhook_turned_off_after_queuing_is_skipped_not_sent(
    services: Services, fake_slack: FakeSlack, db: Database, clock: ManualClock,
    receiver: Receiver,
) -> None:
    decide(services)
    restarted = webhook_services(fake_slack, db, webhook_policy(None), clock)
    make_worker(restarted, clock, fake_slack).run_once()
    assert receiver.requests == []
    row = only_row(services)
    assert (row.status, row.last_error) == (OutboxStatus.SKIPPED, "webhook not configured")


# ---------------------------------------------------------------------- retries and failures


def test_a_500_is_retried_after_the_backoff_and_delivered_once(
    services: Services, worker: OutboxWorker, receiver: Receiver, clock: ManualClock,
    fake_slack: FakeSlack,
) -> None:
    receiver.answer(500)
    decide(services)
    assert worker.run_once() == 1
    row = only_row(services)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.PENDING, 1, "http 500")
    # the first backoff is 2 s with jitter (x0.5-1): at least 1 s, at most 2 s
    assert timedelta(seconds=1) <= row.not_before - clock.now() <= timedelta(seconds=2)
    clock.advance(timedelta(seconds=0.9))
    assert worker.run_once() == 0, "retried before the backoff elapsed"
    clock.advance(timedelta(seconds=1.1))
    assert worker.run_once() == 1
    first, second = receiver.requests
    assert first.body == second.body  # the same delivery, byte for byte
    assert first.headers["X-SLA-Delivery"] == second.headers["X-SLA-Delivery"]
    assert verified(SECRET, second.headers, second.body, now=clock.now().timestamp())
    row = only_row(services)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 2)
    clock.advance(timedelta(hours=1))
    assert worker.run_once() == 0 and len(receiver.requests) == 2
    assert fake_slack.calls_to("conversations.history") == []


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_a_429_waits_for_retry_after_holding_back_webhooks_but_not_slack(
    services: Services, worker: OutboxWorker, receiver: Receiver, clock: ManualClock,
    fake_slack: FakeSlack, form: str,
) -> None:
    when = clock.now() + timedelta(seconds=30)
    retry_after = "30" if form == "seconds" else format_datetime(when, usegmt=True)
    receiver.answer(429, headers={"Retry-After": retry_after})
    decide(services, external_id="lead-a")
    decide(services, external_id="lead-b")
    with services.unit_of_work() as uow:
        queue_call(services, uow, None, "note:1", "chat.postMessage",
                   {"channel": "C0000SALES", "text": "a Slack message in the same pass"})
        uow.commit()
    assert worker.run_once() == 3
    assert len(receiver.requests) == 1, "the second webhook went out despite the 429"
    assert len(fake_slack.messages("C0000SALES")) == 1, "a receiver's 429 held back Slack"
    clock.advance(timedelta(seconds=29))
    assert worker.run_once() == 0, "retried before Retry-After"
    clock.advance(timedelta(seconds=1))
    assert worker.run_once() == 2
    assert len(receiver.requests) == 3
    assert {r.status for r in webhook_rows(services)} == {OutboxStatus.SENT}
    assert len({r.headers["X-SLA-Delivery"] for r in receiver.requests}) == 2


def test_a_400_fails_for_good_and_shows_in_health(
    services: Services, worker: OutboxWorker, receiver: Receiver, clock: ManualClock
) -> None:
    receiver.answer(400)
    lead_id, _ = decide(services)
    worker.run_once()
    row = only_row(services)
    assert (row.status, row.last_error) == (OutboxStatus.FAILED, "http 400")
    health = outbox_health(services.uow)
    assert health.failed == 1
    assert health.failures == [{"id": row.id, "kind": "webhook", "channel": "outbound",
                                "lead_id": lead_id, "error": "http 400"}]
    clock.advance(timedelta(days=1))
    assert worker.run_once() == 0 and len(receiver.requests) == 1
    bot = start_bot(services)
    try:
        with urlopen(f"{bot.url}/healthz", timeout=5) as response:
            shown = json.loads(response.read())
    finally:
        bot.stop()
    assert shown["status"] == "degraded"
    assert shown["outbox"]["recent_failures"][0]["error"] == "http 400"


def test_a_redirect_is_not_followed_and_fails_for_good(
    services: Services, worker: OutboxWorker, receiver: Receiver
) -> None:
    # urllib would turn a redirected POST into a GET without the body and call that success
    receiver.answer(302, headers={"Location": receiver.url + "/moved"})
    decide(services)
    worker.run_once()
    assert len(receiver.requests) == 1
    row = only_row(services)
    assert row.status == OutboxStatus.FAILED
    assert row.last_error is not None and row.last_error.startswith("http 302")


def timing_out(
    fake_slack: FakeSlack, database: Database, clock: ManualClock, receiver: Receiver
) -> tuple[Services, OutboxWorker]:
    """A bot that gives the receiver 0.3 s, and a receiver that next answers after 1 s."""
    services = webhook_services(
        fake_slack, database, webhook_policy(receiver.url, timeout_seconds=0.3), clock)
    receiver.answer(200, delay=1.0)
    return services, make_worker(services, clock, fake_slack)


def test_a_receiver_that_is_down_or_too_slow_is_retried(
    fake_slack: FakeSlack, sqlite_db: Database, clock: ManualClock, receiver: Receiver
) -> None:
    services, worker = timing_out(fake_slack, sqlite_db, clock, receiver)
    decide(services)
    started = time.monotonic()
    worker.run_once()
    assert time.monotonic() - started < 0.9, "waited for the slow receiver past the timeout"
    row = only_row(services)
    assert (row.status, row.last_error) == (OutboxStatus.PENDING, "connection: TimeoutError")
    receiver.stop()  # now nobody listens
    clock.advance(timedelta(minutes=1))
    worker.run_once()
    row = only_row(services)
    assert (row.status, row.last_error) == (
        OutboxStatus.PENDING, "connection: ConnectionRefusedError"
    )
    assert row.attempts == 2


def test_an_unreachable_receiver_delays_no_slack_post_and_costs_one_timeout_per_retry(
    fake_slack: FakeSlack, sqlite_db: Database, clock: ManualClock, receiver: Receiver
) -> None:
    services, worker = timing_out(fake_slack, sqlite_db, clock, receiver)  # it hangs
    decide(services, external_id="lead-a")
    decide(services, external_id="lead-b")
    with services.unit_of_work() as uow:  # queued after both webhooks
        queue_call(services, uow, None, "note:1", "chat.postMessage",
                   {"channel": "C0000SALES", "text": "a handoff-like post"})
        uow.commit()
    receiver.probe = lambda: len(fake_slack.messages("C0000SALES"))
    assert worker.run_once() == 3
    (request,) = receiver.requests  # the second webhook did not wait out a timeout too
    assert request.seen == 1, "the Slack post waited behind the webhook"
    first, second = webhook_rows(services)
    assert first.last_error == "connection: TimeoutError" and first.attempts == 1
    assert second.attempts == 0 and second.not_before == first.not_before
    clock.advance(first.not_before - clock.now())
    assert worker.run_once() == 2
    assert len(receiver.requests) == 3
    assert {r.status for r in webhook_rows(services)} == {OutboxStatus.SENT}


def test_a_webhook_keeps_retrying_past_the_slack_attempt_limit_for_a_day(
    services: Services, worker: OutboxWorker, receiver: Receiver, clock: ManualClock
) -> None:
    """A receiver down for a maintenance window must not lose outcomes after 12 quick tries."""
    receiver.answer(503, times=100)
    decide(services)
    for _ in range(14):
        worker.run_once()
        clock.advance(timedelta(minutes=10))
    row = only_row(services)
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 14)
    clock.advance(timedelta(hours=23))
    worker.run_once()
    row = only_row(services)
    assert (row.status, row.last_error) == (OutboxStatus.FAILED, "gave up: http 503")


# ---------------------------------------------------------------------- delivery semantics


def test_webhooks_are_not_paced_like_a_slack_channel(
    services: Services, worker: OutboxWorker, receiver: Receiver, clock: ManualClock
) -> None:
    for n in range(5):
        decide(services, external_id=f"lead-{n}")
    start = clock.now()
    assert worker.run_once() == 5
    assert len(receiver.requests) == 5
    assert clock.now() == start, "the worker waited between webhooks as if posting to Slack"


def test_several_workers_deliver_each_outcome_once(
    services: Services, receiver: Receiver, clock: ManualClock, fake_slack: FakeSlack
) -> None:
    for n in range(12):
        decide(services, external_id=f"lead-{n}")
    workers = [make_worker(services, clock, fake_slack) for _ in range(3)]
    errors = drain_together(workers)
    assert not errors, errors
    deliveries = [r.headers["X-SLA-Delivery"] for r in receiver.requests]
    assert len(deliveries) == 12 and len(set(deliveries)) == 12



def test_a_worker_killed_between_the_post_and_its_commit_sends_again(
    fake_slack: FakeSlack, sqlite_db: Database, clock: ManualClock, receiver: Receiver,
    tmp_path: Path,
) -> None:
    """At least once: a real process is killed (SIGKILL) while the receiver holds its answer."""
    policy_file = webhook_policy_file(tmp_path, receiver.url)
    services = webhook_services(fake_slack, sqlite_db, load_policy(policy_file), clock)
    lead_id, event_id = decide(services)
    receiver.hold = threading.Event()
    env = bot_environment(fake_slack.base_url, sqlite_db.url, policy_file, bot_token=BOT_TOKEN,
                          signing_secret=SIGNING_SECRET, OUTBOUND_WEBHOOK_SECRET=SECRET)
    process = worker_process(env, policy_file, cwd=ROOT)
    try:
        assert receiver.arrived.wait(30), "the worker process never posted"
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
        receiver.hold.set()
    receiver.hold = None
    assert only_row(services).status == OutboxStatus.SENDING  # died mid-send
    # The bot restarts; once the dead worker's lease has expired the row is sent again.
    clock.set(datetime.now(UTC) + timedelta(minutes=5))
    assert make_worker(services, clock, fake_slack).run_once() == 1
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["X-SLA-Delivery"] == second.headers["X-SLA-Delivery"] == (
        f"webhook:{lead_id}:{event_id}"
    )
    assert only_row(services).status == OutboxStatus.SENT
    assert fake_slack.calls == [], "a webhook was looked up in Slack history"


# ---------------------------------------------------------------------- configuration

MINIMAL = {
    "mql_definition": {"version": "v1"},
    "channels": {"handoff": "C0SALES", "marketing_feedback": "C0MKTG"},
}


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({}, "outbound_webhook.url: required, not set"),
        ({"url": "http://ma.example.com/hook"},
         "outbound_webhook.url: expected https:// (plain http only for localhost / 127.0.0.1)"),
        ({"url": "ftp://ma.example.com/hook"}, "outbound_webhook.url: expected an https:// URL"),
        ({"url": "https://"}, "outbound_webhook.url: expected an https:// URL"),
        ({"url": "ma.example.com/hook"}, "outbound_webhook.url: expected an https:// URL"),
        ({"url": "https://ma.example.com", "events": ["closed"]},
         "outbound_webhook.events.0: Input should be 'converted', 'recycled', 'won' or 'lost' "
         "(got 'closed')"),
        ({"url": "https://ma.example.com", "events": []},
         "outbound_webhook.events: at least one of"),
        ({"url": "https://ma.example.com", "timeout_seconds": 0},
         "outbound_webhook.timeout_seconds: Input should be greater than 0"),
        ({"url": "https://ma.example.com", "timeout_seconds": 120},
         "outbound_webhook.timeout_seconds: Input should be less than or equal to 30"),
        ({"url": "https://ma.example.com", "secret": "x"},
         "outbound_webhook.secret: unknown key"),
    ],
)
def test_each_bad_webhook_key_is_one_line(section: dict[str, object], expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy({**MINIMAL, "outbound_webhook": section})
    assert len(info.value.problems) == 1, info.value.problems
    assert info.value.problems[0].startswith(expected), info.value.problems


def test_a_password_in_the_url_is_refused_without_being_repeated() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy({**MINIMAL, "outbound_webhook": {"url": "https://bot:hunter2@ma.example.com"}})
    (problem,) = info.value.problems
    assert problem.startswith("outbound_webhook.url: got a URL with a user name or password")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("url", ["https://ma.example.com/hooks/sla", "http://localhost:8080/h",
                                 "http://127.0.0.1/h", "https://10.0.0.5:8443/h"])
def test_accepted_urls_and_defaults(url: str) -> None:
    config = parse_policy({**MINIMAL, "outbound_webhook": {"url": url}}).outbound_webhook
    assert config is not None
    assert (config.url, config.events, config.timeout_seconds) == (
        url, ("converted", "recycled"), 10
    )
    assert parse_policy(MINIMAL).outbound_webhook is None


def test_the_example_section_is_valid_once_uncommented() -> None:
    text = EXAMPLE_POLICY.read_text(encoding="utf-8")
    assert "\n# [outbound_webhook]\n" in text
    start = text.index("\n# [outbound_webhook]\n")
    section = [line.removeprefix("# ") for line in text[start:].strip().splitlines()]
    data = tomllib.loads(text + "\n" + "\n".join(section) + "\n")
    config = parse_policy(data).outbound_webhook
    assert config is not None and config.url.startswith("https://")


def test_a_webhook_without_its_secret_is_refused_at_start(
    fake_slack: FakeSlack, sqlite_db: Database, clock: ManualClock, receiver: Receiver
) -> None:
    policy = webhook_policy(receiver.url)
    services = webhook_services(fake_slack, sqlite_db, policy, clock, secret=None)
    assert [str(p) for p in config_problems(services.settings, policy)] == [
        "OUTBOUND_WEBHOOK_SECRET: required, not set: the policy's [outbound_webhook] url "
        "needs it to sign deliveries (see .env.example)"
    ]
    with pytest.raises(SettingsError, match="OUTBOUND_WEBHOOK_SECRET"):
        OutboxWorker(services)


def test_sla_bot_run_refuses_a_webhook_without_its_secret(
    operator_env: Path, receiver: Receiver
) -> None:
    policy_file = webhook_policy_file(operator_env, receiver.url)
    # a process of its own: were the check missing, the bot would serve until killed
    result = subprocess.run(
        [sys.executable, "-m", "handlers.cli", "--config", str(policy_file), "run", "--port", "0"],
        cwd=operator_env, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
        text=True, timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "設定エラー" in result.stderr  # the policy's language
    assert "OUTBOUND_WEBHOOK_SECRET: 必須ですが設定されていません" in result.stderr
