"""Storage on SQLite and PostgreSQL: schema from migrations, UTC round trips, outbox keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import InvalidRequestError

from storage import migrate
from storage.db import make_session_factory
from storage.models import Activity, Base, Lead, LeadEvent, LeadStatus, OutboxMessage, Touch
from storage.repositories import History
from storage.unit_of_work import UnitOfWork
from tests.harness.databases import Database
from tests.harness.racing import race

JST = timezone(timedelta(hours=9))


def new_lead(external_id: str = "ext-1", **overrides: object) -> Lead:
    now = datetime(2026, 11, 24, 9, 12, tzinfo=JST)
    values: dict[str, object] = {
        "external_id": external_id,
        "source": "test",
        "status": LeadStatus.RECEIVED,
        "qualified_at": now,
        "received_at": now,
        "updated_at": now,
        "contact_name": "Sato Hanako",
    }
    values.update(overrides)
    return Lead(**values)


def test_migrations_build_exactly_the_models_schema(empty_db: Database) -> None:
    migrate.upgrade(empty_db.engine)
    with empty_db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    tables = set(inspect(empty_db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert not migrate.pending(empty_db.engine)


def test_migrations_can_be_rolled_back_to_nothing_and_reapplied(empty_db: Database) -> None:
    migrate.upgrade(empty_db.engine)
    with empty_db.engine.begin() as connection:
        from alembic import command

        config = migrate.alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert not set(Base.metadata.tables) & set(inspect(empty_db.engine).get_table_names())
    migrate.upgrade(empty_db.engine)
    assert migrate.current_revision(empty_db.engine) == migrate.head_revision()


def test_revision_chain_is_linear() -> None:
    scripts = migrate.script_directory()
    assert len(scripts.get_heads()) == 1, "several heads: merge the branches"
    revisions = list(scripts.walk_revisions())
    roots = [r for r in revisions if r.down_revision is None]
    assert len(roots) == 1
    for revision in revisions:
        assert not isinstance(revision.down_revision, tuple | list), (
            f"{revision.revision} is a merge point; keep the chain linear"
        )
        assert len(revision.nextrev) <= 1, f"{revision.revision} has branches"


def test_timestamps_come_back_aware_in_utc(db: Database) -> None:
    factory = make_session_factory(db.engine)
    qualified = datetime(2026, 11, 24, 9, 12, tzinfo=JST)
    with factory() as session:
        session.add(new_lead(qualified_at=qualified))
        session.commit()
    with factory() as session:
        lead = session.scalars(select(Lead)).one()
        assert lead.qualified_at.tzinfo is not None
        assert lead.qualified_at.utcoffset() == timedelta(0)
        assert lead.qualified_at == qualified
        assert lead.qualified_at == datetime(2026, 11, 24, 0, 12, tzinfo=UTC)


def test_instants_compare_as_instants_in_queries(db: Database) -> None:
    factory = make_session_factory(db.engine)
    with factory() as session:
        session.add(new_lead("a", qualified_at=datetime(2026, 11, 24, 8, 0, tzinfo=JST)))
        session.add(new_lead("b", qualified_at=datetime(2026, 11, 24, 0, 30, tzinfo=UTC)))
        session.commit()
        # 09:00 JST is 00:00 UTC: "a" (23:00 UTC the day before) is earlier, "b" later.
        cutoff = datetime(2026, 11, 24, 9, 0, tzinfo=JST)
        later = session.scalars(select(Lead.external_id).where(Lead.qualified_at > cutoff)).all()
    assert later == ["b"]


def test_naive_datetimes_are_refused(db: Database) -> None:
    factory = make_session_factory(db.engine)
    with factory() as session:
        session.add(new_lead(qualified_at=datetime(2026, 11, 24, 9, 12)))
        with pytest.raises(Exception, match="naive datetime"):
            session.commit()


def test_json_columns_round_trip(db: Database) -> None:
    factory = make_session_factory(db.engine)
    with factory() as session:
        session.add(new_lead(extra={"utm": {"source": "ads"}, "tags": ["a", "b"], "n": 1}))
        session.commit()
    with factory() as session:
        assert session.scalars(select(Lead)).one().extra == {
            "utm": {"source": "ads"},
            "tags": ["a", "b"],
            "n": 1,
        }


def test_unit_of_work_rolls_back_unless_committed(db: Database) -> None:
    factory = make_session_factory(db.engine)
    with UnitOfWork(factory) as uow:
        uow.leads.add(new_lead("dropped"))
        uow.session.flush()
    with UnitOfWork(factory) as uow:
        uow.leads.add(new_lead("kept"))
        uow.commit()
    with UnitOfWork(factory) as uow:
        assert uow.leads.by_external_id("dropped") is None
        assert uow.leads.by_external_id("kept") is not None


def test_a_lead_s_history_is_loaded_on_request_never_on_access(db: Database) -> None:
    factory = make_session_factory(db.engine)
    at = datetime(2026, 11, 24, 9, 12, tzinfo=JST)
    with UnitOfWork(factory) as uow:
        lead = new_lead(activities=[Activity(type="download", at=at)],
                        events=[LeadEvent(at=at, kind="qualify", surface="webhook")])
        uow.leads.add(lead)
        uow.commit()
        lead_id = lead.id
    with UnitOfWork(factory) as uow:
        lead = uow.leads.get(lead_id)
        assert lead is not None
        for name in ("activities", "touches", "events"):
            with pytest.raises(InvalidRequestError, match="lazy='raise'"):
                getattr(lead, name)
        # an event added without reading the trail (as ``bot.lifecycle`` does), not flushed
        added = LeadEvent(at=at, kind="fact", surface="button", lead=lead)
        uow.session.add(added)
        uow.leads.load_history(lead, History.EVENTS | History.TOUCHES)
        assert [e.kind for e in lead.events] == ["qualify", "fact"] and lead.events[-1] is added
        assert lead.touches == []
        with pytest.raises(InvalidRequestError):
            lead.activities  # noqa: B018 - not asked for
        uow.session.add(Touch(lead_id=lead.id, rep_id="U1", kind="call", at=at))
        uow.commit()
    with UnitOfWork(factory) as uow:
        lead = uow.leads.get_for_update(lead_id, history=History.ALL)
        assert lead is not None
        uow.detach(lead)
    assert ([a.type for a in lead.activities], [t.kind for t in lead.touches],
            [e.kind for e in lead.events]) == (["download"], ["call"], ["qualify", "fact"])


def test_outbox_enqueue_is_idempotent_per_key(db: Database) -> None:
    factory = make_session_factory(db.engine)
    now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    with UnitOfWork(factory) as uow:
        first = uow.outbox.enqueue(key="lead:1:post", kind="message", now=now, payload={"x": 1})
        second = uow.outbox.enqueue(key="lead:1:post", kind="message", now=now, payload={"x": 2})
        other = uow.outbox.enqueue(key="lead:2:post", kind="message", now=now, payload={})
        uow.commit()
    assert first is not None and other is not None
    assert second is None
    with UnitOfWork(factory) as uow:
        rows = uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [(r.idempotency_key, r.payload) for r in rows] == [
            ("lead:1:post", {"x": 1}),
            ("lead:2:post", {}),
        ]


def test_concurrent_enqueues_of_one_key_store_one_row(db: Database) -> None:
    """Several writers (threads, each its own connection) race to queue the same message."""
    factory = make_session_factory(db.engine)
    now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    writers = 6

    def write() -> bool:
        with UnitOfWork(factory) as uow:
            queued = uow.outbox.enqueue(key="same", kind="message", now=now, payload={})
            uow.commit()
            return queued is not None

    contest = race([write] * writers)
    results, errors = contest.results, contest.errors
    # Under PostgreSQL a racing writer can see the unique violation only at commit time.
    unexpected = [e for e in errors if "uq_outbox_idempotency_key" not in str(e)]
    assert not unexpected, unexpected
    assert results.count(True) == 1
    with UnitOfWork(factory) as uow:
        assert len(uow.session.scalars(select(OutboxMessage)).all()) == 1


def test_sqlite_uses_wal_and_waits_instead_of_failing(sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_processed_event_ids_are_claimed_once_and_pruned_by_age(db: Database) -> None:
    from storage.models import ProcessedEvent

    factory = make_session_factory(db.engine)
    now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    with UnitOfWork(factory) as uow:
        assert uow.processed_events.claim("Ev1", now - timedelta(days=4))
        assert not uow.processed_events.claim("Ev1", now)  # the transaction survives this
        assert uow.processed_events.claim("Ev2", now)
        uow.commit()
    with UnitOfWork(factory) as uow:
        assert not uow.processed_events.claim("Ev2", now)
        assert uow.processed_events.prune(now - timedelta(days=3)) == 1
        uow.commit()
    with UnitOfWork(factory) as uow:
        assert uow.session.scalars(select(ProcessedEvent.event_id)).all() == ["Ev2"]


def test_concurrent_claims_of_one_event_id_let_one_through(db: Database) -> None:
    """Several deliveries of one Slack event race; exactly one may act on it, none fails."""
    factory = make_session_factory(db.engine)
    now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    writers = 8

    def claim() -> bool:
        with UnitOfWork(factory) as uow:
            won = uow.processed_events.claim("Ev-same", now)
            uow.commit()
            return won

    contest = race([claim] * writers)
    results, errors = contest.results, contest.errors
    assert errors == []
    assert sorted(results) == [False] * (writers - 1) + [True]


def test_a_thread_is_found_by_its_handoff_message_or_a_sent_bot_post(db: Database) -> None:
    factory = make_session_factory(db.engine)
    now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    with UnitOfWork(factory) as uow:
        lead = uow.leads.add(new_lead(channel_id="C0000SALES", message_ts="100.000100"))
        uow.session.flush()
        sent = uow.outbox.enqueue(key="recycle:1", kind="message", now=now, payload={},
                                  channel="C0000MKTG", lead_id=lead.id)
        assert sent is not None
        sent.result_channel, sent.result_ts = "C0000MKTG", "200.000100"
        uow.outbox.enqueue(key="unsent:1", kind="message", now=now, payload={},
                           channel="C0000MKTG", lead_id=lead.id)
        uow.commit()
        lead_id = lead.id
    with UnitOfWork(factory) as uow:
        found = uow.feedback.lead_for_thread
        assert found("C0000SALES", "100.000100") == lead_id
        assert found("C0000MKTG", "200.000100") == lead_id
        assert found("C0000SALES", "200.000100") is None
        assert found("C0000MKTG", "300.000100") is None
