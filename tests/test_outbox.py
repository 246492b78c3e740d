"""Durable posting: every queued lead reaches the channel exactly once, whatever Slack does."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.clock import ManualClock
from bot.intake import accept, parse_data
from bot.lifecycle import Surface
from bot.outbox.worker import EVENT_TYPE, OutboxWorker, outbox_health
from bot.policy import Policy
from bot.reminders.sweep import sweep_notices
from bot.services import Services
from storage.models import LeadEvent, LeadStatus, OutboxMessage, OutboxStatus
from tests.harness import FakeSlack
from tests.harness.bot_env import drain_together, make_services, make_worker, start_bot
from tests.harness.bot_process import bot_environment, worker_process
from tests.harness.databases import Database
from tests.harness.leads import lead_row, queue, spec_lead
from tests.harness.people import CHANNEL
from tests.harness.policies import EXAMPLE_POLICY
from tests.harness.settings import BOT_TOKEN, ROOT, SIGNING_SECRET


def outbox_row(services: Services, lead_id: int) -> OutboxMessage:
    with services.unit_of_work() as uow:
        row = uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.lead_id == lead_id)
        ).one()
        uow.session.expunge(row)
        return row


@pytest.fixture
def worker(services: Services, clock: ManualClock, fake_slack: FakeSlack) -> OutboxWorker:
    return make_worker(services, clock, fake_slack)


def test_a_queued_lead_is_posted_once_with_its_key_and_claim_button(
    services: Services, worker: OutboxWorker, fake_slack: FakeSlack
) -> None:
    lead_id = queue(services)
    assert worker.run_once() == 1
    (message,) = fake_slack.messages(CHANNEL)
    assert message["metadata"]["event_type"] == EVENT_TYPE
    assert message["metadata"]["event_payload"] == {"key": f"handoff:{lead_id}"}
    shown = json.dumps(message["blocks"], ensure_ascii=False)
    assert "Sato Hanako" in shown and "Example KK" in shown
    assert '"action_id": "lead.claim"' in shown
    lead = lead_row(services, lead_id)
    assert lead.status == LeadStatus.POSTED
    assert (lead.channel_id, lead.message_ts) == (CHANNEL, message["ts"])
    assert lead.posted_at is not None
    # Nothing left to do; a repeat delivery of the same lead posts nothing either.
    assert worker.run_once() == 0
    again = parse_data(spec_lead(), now=services.clock.now())
    assert accept(services, again, surface=Surface.WEBHOOK).status == "duplicate"
    assert worker.run_once() == 0
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


def test_rate_limit_then_server_errors_then_success_posts_once_and_not_early(
    services: Services, worker: OutboxWorker, fake_slack: FakeSlack, clock: ManualClock
) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=2)
    fake_slack.fail("chat.postMessage", status=500, times=2)
    lead_id = queue(services)
    start = clock.now()
    worker.run_once()
    assert fake_slack.messages(CHANNEL) == []
    clock.advance(timedelta(seconds=1.9))
    assert worker.run_once() == 0, "retried before Retry-After elapsed"
    clock.advance(timedelta(seconds=0.1))
    for _ in range(4):  # two 500s (each followed by a history check), then success
        worker.run_once()
        clock.advance(timedelta(minutes=10))
    assert len(fake_slack.messages(CHANNEL)) == 1
    statuses = [c.status for c in fake_slack.calls_to("chat.postMessage")]
    assert statuses == [429, 500, 500, 200]
    first_post = outbox_row(services, lead_id)
    assert first_post.status == OutboxStatus.SENT
    assert first_post.sent_at is not None and first_post.sent_at - start >= timedelta(seconds=2)


def test_a_permanent_error_fails_that_item_and_the_next_lead_is_still_posted(
    services: Services, worker: OutboxWorker, fake_slack: FakeSlack, clock: ManualClock
) -> None:
    fake_slack.fail("chat.postMessage", error="channel_not_found")
    first = queue(services, "lead-a")
    second = queue(services, "lead-b", contact={"name": "Suzuki Ichiro", "title": "部長"})
    drain(worker)
    assert outbox_row(services, first).status == OutboxStatus.FAILED
    assert outbox_row(services, first).last_error == "channel_not_found"
    assert lead_row(services, first).status == LeadStatus.QUEUED
    assert lead_row(services, second).status == LeadStatus.POSTED
    health = outbox_health(services.uow)
    assert health.failed == 1
    assert health.failures[0]["error"] == "channel_not_found"


def drain(worker: OutboxWorker) -> None:
    """Run the worker until nothing is left (its pacing waits move the injected clock)."""
    for _ in range(100):
        if worker.run_once() == 0:
            return
    raise AssertionError("the outbox never drained")


def test_a_paced_channel_does_not_hold_up_the_others(
    services: Services, worker: OutboxWorker, fake_slack: FakeSlack, clock: ManualClock
) -> None:
    """Three posts to the sales channel and a DM queued behind them: the DM does not wait for
    the channel's pacing, and the channel keeps its order."""
    ids = [queue(services, f"lead-{n}") for n in range(3)]
    with services.unit_of_work() as uow:
        uow.outbox.enqueue(key="dm-1", kind="message", now=clock.now(), channel="U0000REP1",
                           payload={"method": "chat.postMessage",
                                    "args": {"channel": "U0000REP1", "text": "hello"}})
        uow.commit()
    start = clock.now()
    worker.run_once()
    assert [m["text"] for m in fake_slack.dms("U0000REP1")] == ["hello"]
    assert clock.now() == start  # nobody slept
    drain(worker)
    posted = [lead_row(services, lead_id).posted_at for lead_id in ids]
    assert posted == sorted(posted)  # type: ignore[type-var]
    assert clock.now() - start >= timedelta(seconds=2)


def test_posts_to_one_channel_keep_about_one_per_second(
    services: Services, worker: OutboxWorker, fake_slack: FakeSlack, clock: ManualClock
) -> None:
    ids = [queue(services, f"lead-{n}") for n in range(4)]
    start = clock.now()
    drain(worker)
    sent = [outbox_row(services, lead_id).sent_at for lead_id in ids]
    gaps = [b - a for a, b in pairwise(sent)]  # type: ignore[operator]
    assert all(gap >= timedelta(seconds=1) for gap in gaps), gaps
    assert clock.now() - start >= timedelta(seconds=3)


def test_an_answer_lost_after_slack_posted_is_not_posted_again(
    services: Services, worker: OutboxWorker, fake_slack: FakeSlack, clock: ManualClock
) -> None:
    fake_slack.fail("chat.postMessage", after_effect=True, drop=True)
    lead_id = queue(services)
    worker.run_once()
    assert len(fake_slack.messages(CHANNEL)) == 1  # Slack has it; the worker does not know
    assert outbox_row(services, lead_id).needs_check
    clock.advance(timedelta(minutes=5))
    worker.run_once()
    (message,) = fake_slack.messages(CHANNEL)
    assert lead_row(services, lead_id).message_ts == message["ts"]
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    assert len(fake_slack.calls_to("conversations.history")) == 1


def test_a_timed_out_post_that_lands_later_is_adopted(
    services: Services, fake_slack: FakeSlack, clock: ManualClock
) -> None:
    worker = make_worker(services, clock, fake_slack, timeout=0.3)
    fake_slack.fail("chat.postMessage", delay=1.0)  # Slack is slow, but does the work
    lead_id = queue(services)
    worker.run_once()
    assert outbox_row(services, lead_id).status == OutboxStatus.PENDING
    fake_slack.wait_for("chat.postMessage")  # the slow post lands after our timeout
    clock.advance(timedelta(seconds=10))
    assert worker.run_once() == 0, "looked again before the re-check delay"
    clock.advance(timedelta(minutes=1))
    worker.run_once()
    (message,) = fake_slack.messages(CHANNEL)
    assert lead_row(services, lead_id).message_ts == message["ts"]


def test_a_late_handoff_is_recorded_as_a_marketing_breach(
    services: Services, worker: OutboxWorker, clock: ManualClock
) -> None:
    # Qualified 27 hours before it reaches the channel: 3 hours late against 24 h.
    qualified = clock.now() - timedelta(hours=27)
    lead_id = queue(services, qualified_at=qualified.isoformat())
    worker.run_once()
    sweep_notices(services)  # the reminder sweep records it, at the promise's own instant
    with services.unit_of_work() as uow:
        breaches = uow.session.scalars(
            select(LeadEvent).where(LeadEvent.lead_id == lead_id, LeadEvent.kind == "breach")
        ).all()
        assert [(b.data["promise"], b.data["lateness_seconds"]) for b in breaches] == [
            ("handoff", 3 * 3600)
        ]
        assert breaches[0].at == qualified + timedelta(hours=24)


def test_two_workers_on_one_database_post_each_lead_once(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    services = make_services(fake_slack, db, policy, clock)
    for n in range(12):
        queue(services, f"lead-{n}")
    workers = [make_worker(services, clock, fake_slack) for _ in range(3)]
    errors = drain_together(workers)
    assert not errors, errors
    keys = [m["metadata"]["event_payload"]["key"] for m in fake_slack.messages(CHANNEL)]
    assert len(keys) == 12 and len(set(keys)) == 12



def test_a_crash_after_slack_posted_but_before_the_commit_does_not_post_twice(
    services: Services, sqlite_db: Database, fake_slack: FakeSlack, clock: ManualClock,
    tmp_path: Path,
) -> None:
    """A real process is killed (SIGKILL) while its commit waits, after Slack took the post."""
    lead_id = queue(services)
    fake_slack.fail("chat.postMessage", delay=2.0)  # Slack is busy with it: we block the db
    env = bot_environment(fake_slack.base_url, sqlite_db.url, EXAMPLE_POLICY, bot_token=BOT_TOKEN,
                          signing_secret=SIGNING_SECRET)
    process = worker_process(env, EXAMPLE_POLICY, cwd=ROOT)
    blocker = sqlite_db.engine.raw_connection()
    try:
        fake_slack.wait_for_arrival("chat.postMessage", timeout=30)  # the post is in flight
        blocker.cursor().execute("BEGIN IMMEDIATE")  # so the worker's commit will have to wait
        fake_slack.wait_for("chat.postMessage", timeout=10)  # Slack posted and answered
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        blocker.rollback()
        blocker.close()
        if process.poll() is None:
            process.kill()
    assert len(fake_slack.messages(CHANNEL)) == 1
    assert outbox_row(services, lead_id).status == OutboxStatus.SENDING  # died mid-send
    # The bot restarts; once the dead worker's lease has expired the row is taken again.
    clock.set(datetime.now(UTC) + timedelta(minutes=5))
    make_worker(services, clock, fake_slack).run_once()
    (message,) = fake_slack.messages(CHANNEL)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    lead = lead_row(services, lead_id)
    assert lead.status == LeadStatus.POSTED and lead.message_ts == message["ts"]


def test_a_dm_whose_answer_was_lost_is_found_in_the_dm_and_not_sent_again(
    services: Services, worker: OutboxWorker, fake_slack: FakeSlack, clock: ManualClock
) -> None:
    with services.unit_of_work() as uow:
        uow.outbox.enqueue(
            key="dm:1", kind="message", now=clock.now(), channel="U0000MKT1",
            payload={"method": "chat.postMessage",
                     "args": {"channel": "U0000MKT1", "text": "Your lead was queued"}},
        )
        uow.commit()
    fake_slack.fail("chat.postMessage", after_effect=True, drop=True)
    worker.run_once()
    clock.advance(timedelta(minutes=5))
    worker.run_once()
    assert [m["text"] for m in fake_slack.dms("U0000MKT1")] == ["Your lead was queued"]
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    with services.unit_of_work() as uow:
        assert uow.outbox.by_key("dm:1").status == OutboxStatus.SENT  # type: ignore[union-attr]


def test_a_row_that_cannot_be_rendered_fails_alone_after_bounded_attempts(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    """A hand-off whose lead no view can render (stored before intake refused the year 9999)
    neither aborts the pass nor holds back the 19 messages claimed with it; it is retried with
    backoff, ends ``failed`` after ``MAX_ATTEMPTS``, and /healthz says degraded."""
    from bot.outbox.worker import MAX_ATTEMPTS
    from tests.harness import http_get

    services = make_services(fake_slack, db, policy, clock)
    worker = make_worker(services, clock, fake_slack)
    bad = queue(services, "lead-9999")
    with services.unit_of_work() as uow:
        lead = uow.leads.get_for_update(bad)
        assert lead is not None
        lead.qualified_at = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
        for n in range(19):  # one DM each to 19 people: no channel pacing between them
            uow.outbox.enqueue(key=f"dm-{n}", kind="message", now=clock.now(),
                               channel=f"U00000{n:02d}",
                               payload={"method": "chat.postMessage",
                                        "args": {"channel": f"U00000{n:02d}", "text": "hi"}})
        uow.commit()

    assert worker.run_once() == 19  # one pass: the bad row first in line, the others all sent
    assert len(fake_slack.calls_to("chat.postMessage")) == 19
    row = outbox_row(services, bad)
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)
    assert row.last_error == "cannot prepare: OverflowError"

    for _ in range(MAX_ATTEMPTS):
        clock.advance(timedelta(minutes=10))  # past any backoff
        worker.run_once()
    row = outbox_row(services, bad)
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, MAX_ATTEMPTS)
    assert len(fake_slack.calls_to("chat.postMessage")) == 19

    server = start_bot(services)
    try:
        answer = http_get(f"{server.url}/healthz").json()
    finally:
        server.stop()
    assert answer["status"] == "degraded"
    assert answer["outbox"]["failed"] == 1
    assert [f["id"] for f in answer["outbox"]["recent_failures"]] == [row.id]
