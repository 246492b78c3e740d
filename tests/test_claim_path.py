"""What a Claim press costs the bot, kept small: acks share one interpreter lock with it.

A won claim is one conditional update of the lead (it decides and moves it), one insert of its
event and one insert of every Slack call it owes; a press that lost the race reads one row and
writes nothing. Queuing many calls in one statement keeps the outbox's promise: a key queued
twice is sent once. The outbox worker renders a person's Home once for all the refreshes it
claimed together, and its passes wait for the clicks and the listeners in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.clock import ManualClock
from bot.lead_messages import Outgoing
from bot.lifecycle import Action, Surface, apply
from bot.outbox.worker import OutboxWorker
from bot.policy import Policy
from bot.services import Services
from bot.workflow import ClaimOutcome, claim, release
from handlers.app import AckFirst, AckFirstExecutor
from storage.models import Lead, LeadEvent, LeadStatus, OutboxMessage, OutboxStatus
from storage.outbox_kind import OutboxKind
from storage.repositories import History
from tests.harness import FakeSlack
from tests.harness.bot_env import make_services, make_worker
from tests.harness.databases import Database
from tests.harness.leads import queue
from tests.harness.people import MANAGER, REP1, REP2
from tests.harness.waiting import eventually

LONG_WAIT_S = 30.0  # far beyond every wait below: only what is in flight can hold a pass back


@pytest.fixture
def services(fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock) -> Services:
    return make_services(fake_slack, db, policy, clock)


@pytest.fixture
def worker(services: Services, clock: ManualClock, fake_slack: FakeSlack) -> OutboxWorker:
    return make_worker(services, clock, fake_slack)


def drain(worker: OutboxWorker) -> None:
    for _ in range(100):
        if worker.run_once() == 0:
            return
    raise AssertionError("the outbox never drained")


def posted(services: Services, worker: OutboxWorker, external_id: str) -> int:
    lead_id = queue(services, external_id)
    drain(worker)
    return lead_id


@contextmanager
def statements(services: Services) -> Iterator[list[str]]:
    """The SQL statements sent meanwhile, each as its first three words (``INSERT INTO t``)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()[:3]).upper())

    event.listen(services.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(services.engine, "before_cursor_execute", record)


def writes(seen: list[str]) -> list[str]:
    return [s for s in seen if s.startswith(("INSERT", "UPDATE", "DELETE", "SAVEPOINT"))]


def rows(services: Services, **where: Any) -> list[OutboxMessage]:
    with services.unit_of_work() as uow:
        found = uow.session.scalars(
            select(OutboxMessage).filter_by(**where).order_by(OutboxMessage.id)
        ).all()
        uow.session.expunge_all()
        return list(found)


# ------------------------------------------------------------------------------ claim


def test_a_won_claim_is_one_update_one_event_and_one_insert_of_its_calls(
    services: Services, worker: OutboxWorker
) -> None:
    lead_id = posted(services, worker, "lean-claim")
    with statements(services) as seen:
        result = claim(services, lead_id, REP1, surface=Surface.BUTTON)
    assert result.outcome == ClaimOutcome.WON and result.event_id is not None
    written = writes(seen)
    assert written[0] == "UPDATE LEADS SET" and written[-1] == "INSERT INTO OUTBOX"
    assert set(written) == {"UPDATE LEADS SET", "INSERT INTO LEAD_EVENTS", "INSERT INTO OUTBOX"}
    assert (written.count("INSERT INTO LEAD_EVENTS"), written.count("INSERT INTO OUTBOX")) == (1, 1)
    # the conditional update, and the reports' time to claim (``bot.timings.stamp``) if new
    assert written.count("UPDATE LEADS SET") <= 2
    assert not any("LEAD_EVENTS" in s for s in seen if s.startswith("SELECT"))

    prefix = f"claim:{lead_id}:{result.event_id}"
    keys = [r.idempotency_key for r in rows(services, lead_id=lead_id)
            if r.idempotency_key.startswith(prefix)]
    assert keys == [f"{prefix}:update", f"{prefix}:thread", f"{prefix}:dm"]
    homes = [r.idempotency_key for r in rows(services, kind=OutboxKind.HOME)]
    assert homes == [f"{prefix}:home:{user}" for user in sorted({REP1, MANAGER})]
    with services.unit_of_work() as uow:
        lead = uow.leads.get(lead_id, history=History.EVENTS)
        assert lead is not None
        assert (lead.status, lead.owner_id, lead.next_due_at) == (
            LeadStatus.CLAIMED, REP1, services.clock.now())
        assert [(e.kind, e.from_status, e.to_status) for e in lead.events][-1] == (
            "claim", "posted", "claimed")


def test_a_press_that_lost_reads_one_row_and_writes_nothing(
    services: Services, worker: OutboxWorker
) -> None:
    lead_id = posted(services, worker, "lean-lost")
    claim(services, lead_id, REP1, surface=Surface.BUTTON)
    with statements(services) as seen:
        result = claim(services, lead_id, REP2, surface=Surface.BUTTON)
        again = claim(services, lead_id, REP1, surface=Surface.BUTTON)  # a double click
    assert (result.outcome, result.owner_id, result.status) == (
        ClaimOutcome.TAKEN, REP1, LeadStatus.CLAIMED)
    assert again.outcome == ClaimOutcome.ALREADY_YOURS
    assert writes(seen) == []
    reads = [s for s in seen if s.startswith("SELECT")]
    assert reads == ["SELECT LEADS.OWNER_ID, LEADS.STATUS"] * 2


def test_a_claim_after_a_release_shows_on_the_card_and_reads_the_trail_once(
    services: Services, worker: OutboxWorker, fake_slack: FakeSlack
) -> None:
    lead_id = posted(services, worker, "lean-reclaim")
    claim(services, lead_id, REP1, surface=Surface.BUTTON)
    release(services, lead_id, REP1)
    again = claim(services, lead_id, REP2, surface=Surface.BUTTON)
    assert again.outcome == ClaimOutcome.WON
    drain(worker)
    updates = fake_slack.calls_to("chat.update")
    owners = [b["text"]["text"] for c in updates for b in c.args["blocks"]
              if b.get("type") == "section" and "<@" in b.get("text", {}).get("text", "")]
    assert f"<@{REP2}>" in owners[-1]
    kinds = [e.kind for e in _events(services, lead_id)]
    assert kinds[-3:] == ["claim", "release", "claim"]


def _events(services: Services, lead_id: int) -> list[LeadEvent]:
    with services.unit_of_work() as uow:
        found = uow.session.scalars(
            select(LeadEvent).where(LeadEvent.lead_id == lead_id).order_by(LeadEvent.id)
        ).all()
        uow.session.expunge_all()
        return list(found)


# ------------------------------------------------------------------------------ outbox


def test_calls_queued_together_keep_their_keys_and_a_key_queued_again_is_sent_once(
    services: Services, worker: OutboxWorker, fake_slack: FakeSlack
) -> None:
    with services.unit_of_work() as uow:
        with Outgoing(services, uow) as out:
            out.send_dm(None, "once:a", REP1, "first a")
            out.send_dm(None, "once:a", REP1, "a again, in the same statement")
            out.send_dm(None, "once:b", REP2, "first b")
        uow.commit()
    for _ in range(2):  # the use case retried: the same keys, and one new
        with services.unit_of_work() as uow:
            with Outgoing(services, uow) as out:
                out.send_dm(None, "once:a", REP1, "a replayed")
                out.send_dm(None, "once:b", REP2, "b replayed")
                out.send_dm(None, "once:c", REP2, "first c")
            uow.commit()
    drain(worker)
    sent = [c.args["text"] for c in fake_slack.calls_to("chat.postMessage")
            if c.args.get("channel") in (REP1, REP2)]
    assert sorted(sent) == ["first a", "first b", "first c"]
    assert [r.idempotency_key for r in rows(services, status=OutboxStatus.SENT)
            if r.idempotency_key.startswith("once:")] == ["once:a", "once:b", "once:c"]


def test_an_outgoing_that_raised_queues_nothing(services: Services) -> None:
    with services.unit_of_work() as uow:
        with pytest.raises(RuntimeError), Outgoing(services, uow) as out:
            out.send_dm(None, "raised:a", REP1, "never")
            raise RuntimeError("the use case failed")
        uow.commit()
    assert rows(services, idempotency_key="raised:a") == []


def test_a_home_refreshed_by_several_claims_is_rendered_once_per_pass(
    services: Services, worker: OutboxWorker, fake_slack: FakeSlack
) -> None:
    first = posted(services, worker, "homes-1")
    second = posted(services, worker, "homes-2")
    claim(services, first, REP1, surface=Surface.BUTTON)
    claim(services, second, REP2, surface=Surface.BUTTON)
    homes = rows(services, kind=OutboxKind.HOME, channel=MANAGER)
    assert len(homes) == 2
    drain(worker)
    published = [c for c in fake_slack.calls_to("views.publish")
                 if c.args.get("user_id") == MANAGER]
    assert len(published) == 1
    shown = str(published[0].args["view"])
    assert f"<@{REP1}>" in shown and f"<@{REP2}>" in shown  # rendered after both claims
    assert [r.status for r in rows(services, kind=OutboxKind.HOME, channel=MANAGER)] == [
        OutboxStatus.SKIPPED, OutboxStatus.SENT]


# --------------------------------------------------------------------------- lifecycle


def test_a_transition_adds_its_event_without_reading_the_trail(
    services: Services, worker: OutboxWorker
) -> None:
    lead_id = posted(services, worker, "trail")
    before = len(_events(services, lead_id))
    with services.unit_of_work() as uow:
        lead = uow.session.get(Lead, lead_id)
        assert lead is not None
        with statements(services) as seen:
            added = apply(lead, Action.CLAIM, at=services.clock.now(), surface=Surface.BUTTON,
                          actor=REP1)
            lead.owner_id = REP1
            uow.session.flush()
        assert not any("LEAD_EVENTS" in s for s in seen if s.startswith("SELECT"))
        # read now: the stored events and the new one, once
        trail = list(uow.leads.load_history(lead, History.EVENTS).events)
        assert len(trail) == before + 1 and trail[-1] is added
        uow.commit()
    assert len(_events(services, lead_id)) == before + 1


# ------------------------------------------------------------------------ the gate


def test_an_outbox_pass_waits_for_the_listeners_then_goes() -> None:
    gate = AckFirst(max_wait_s=LONG_WAIT_S, quiet_s=0)
    pool = AckFirstExecutor(gate, 2)
    release_listener = threading.Event()
    try:
        running = pool.submit(release_listener.wait)
        assert gate.listeners == 1
        went = threading.Event()
        waiter = threading.Thread(
            target=lambda: (gate.wait_turn(after_listeners=True), went.set()))
        waiter.start()
        eventually(lambda: gate.passes_waiting == 1)
        assert not went.is_set() and gate.waiting == 0  # a pass is not a listener
        release_listener.set()
        running.result(timeout=5)
        eventually(went.is_set)
        waiter.join(5)
        assert (gate.listeners, gate.passes_waiting) == (0, 0)
    finally:
        release_listener.set()
        pool.shutdown(wait=True)


def test_an_outbox_pass_waits_no_longer_than_the_bound() -> None:
    gate = AckFirst(max_wait_s=0.05, quiet_s=0)
    gate.submitted()  # a listener that never ends
    went = threading.Event()
    waiter = threading.Thread(target=lambda: (gate.wait_turn(after_listeners=True), went.set()))
    waiter.start()
    eventually(went.is_set)
    waiter.join(5)
    assert gate.listeners == 1 and gate.passes_waiting == 0


def test_a_listener_that_fails_is_counted_out() -> None:
    gate = AckFirst(max_wait_s=LONG_WAIT_S, quiet_s=0)
    pool = AckFirstExecutor(gate, 1)

    def fails() -> None:
        raise ValueError("listener bug")

    try:
        with pytest.raises(ValueError):
            pool.submit(fails).result(timeout=5)
        eventually(lambda: gate.listeners == 0)
    finally:
        pool.shutdown(wait=True)


def test_the_running_bot_s_worker_waits_for_its_listeners(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock
) -> None:
    from handlers.server import AckFirstWorker, BotServer

    services = make_services(fake_slack, sqlite_db, policy, clock)
    server = BotServer(services, host="127.0.0.1", port=0, start_scheduler=False,
                       start_worker=True)
    assert isinstance(server.worker, AckFirstWorker) and server.worker.gate is server.ack_first
    server.ack_first.max_wait_s = LONG_WAIT_S
    server.ack_first.submitted()
    server.start()
    try:
        queue(services, "held-by-a-listener")
        services.outbox_ready.set()
        eventually(lambda: server.ack_first.passes_waiting == 1)
        assert fake_slack.calls_to("chat.postMessage") == []
        server.ack_first.finished()
        eventually(lambda: len(fake_slack.calls_to("chat.postMessage")) == 1)
    finally:
        server.ack_first.max_wait_s = 0
        server.stop()
