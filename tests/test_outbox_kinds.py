"""The registry of outbox kinds: every kind has a sender, and nothing else can be queued."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from bot.clock import ManualClock
from bot.outbox.routes import SENDERS
from bot.outbox.sender import Sender
from bot.policy import Policy
from bot.sandbox.fake_slack import FakeSlack
from storage.db import make_session_factory
from storage.models import OutboxMessage, OutboxStatus
from storage.outbox_kind import OutboxKind
from storage.unit_of_work import UnitOfWork
from tests.harness.bot_env import make_services, make_worker
from tests.harness.databases import Database

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def test_every_kind_has_a_sender() -> None:
    assert set(SENDERS) == set(OutboxKind)
    assert all(isinstance(sender, Sender) for sender in SENDERS.values())


def test_the_stored_values_never_change() -> None:
    """They are in the database: renaming one would strand every row queued under it."""
    assert sorted(kind.value for kind in OutboxKind) == [
        "agreement_proposal", "file", "handoff", "home", "hubspot_deal_fetch", "hubspot_fetch",
        "message", "webhook",
    ]


def test_enqueuing_an_unknown_kind_is_refused(db: Database) -> None:
    """Every way into the outbox refuses a kind no worker could send; nothing is written and
    the caller's transaction goes on."""
    factory = make_session_factory(db.engine)
    with UnitOfWork(factory) as uow:
        with pytest.raises(ValueError, match="post"):
            uow.outbox.enqueue(key="a", kind="post", now=NOW, payload={})  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="post"):
            uow.outbox.insert_new(key="b", kind="post", now=NOW,  # type: ignore[arg-type]
                                  payload={})
        with pytest.raises(ValueError, match="post"):
            uow.outbox.enqueue_many([{"key": "c", "kind": OutboxKind.MESSAGE, "payload": {}},
                                     {"key": "d", "kind": "post", "payload": {}}], NOW)
        assert uow.outbox.enqueue(key="e", kind=OutboxKind.MESSAGE, now=NOW,
                                  payload={}) is not None
        uow.commit()
    with UnitOfWork(factory) as uow:
        rows = uow.session.scalars(select(OutboxMessage)).all()
        assert [(r.idempotency_key, r.kind) for r in rows] == [("e", "message")]


def test_a_stored_row_of_an_unknown_kind_fails_alone(
    db: Database, fake_slack: FakeSlack, policy: Policy, clock: ManualClock
) -> None:
    """A row written around the repository (no such writer exists) is never sent as
    something else: it ends failed, and the rest of the pass is delivered."""
    services = make_services(fake_slack, db, policy, clock)
    with services.unit_of_work() as uow:
        uow.session.execute(insert(OutboxMessage.__table__).values(
            idempotency_key="old", kind="post", channel="C0SALES", payload={},
            status=OutboxStatus.PENDING.value, attempts=0, needs_check=False,
            not_before=clock.now(), created_at=clock.now()))
        uow.outbox.enqueue(key="dm", kind=OutboxKind.MESSAGE, now=clock.now(),
                           channel="U0000REP1", payload={
                               "method": "chat.postMessage",
                               "args": {"channel": "U0000REP1", "text": "hello"}})
        uow.commit()
    make_worker(services, clock, fake_slack).run_once()
    with services.unit_of_work() as uow:
        rows = {r.idempotency_key: r for r in uow.session.scalars(select(OutboxMessage))}
        assert (rows["old"].status, rows["old"].last_error) == (OutboxStatus.FAILED,
                                                               "unknown kind")
        assert rows["dm"].status == OutboxStatus.SENT
    assert [m["text"] for m in fake_slack.dms("U0000REP1")] == ["hello"]
