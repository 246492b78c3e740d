"""Group commit of webhook deliveries (``bot.intake``, ``storage.unit_of_work.GroupCommit``).

Deliveries that arrive while another is being written are stored together, in one transaction,
by whichever of them leads next. What a sender sees must not change: each is answered only once
its own row is committed, a duplicate is still a duplicate (of a stored lead or of another
delivery in the same group), and one delivery that fails, or a group that fails as a whole,
never costs the others their lead. Over real HTTP against the running bot, on both databases.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot import intake
from bot.clock import ManualClock
from bot.lifecycle import Surface
from bot.submissions import already_handled
from handlers.server import BotServer
from storage.models import Activity, Lead, LeadEvent, OutboxMessage
from storage.repositories import History
from storage.unit_of_work import GroupCommit
from tests.harness import HttpResponse
from tests.harness.databases import Database
from tests.harness.intake import post
from tests.harness.leads import EXAMPLE, lead, not_qualified

WAIT_S = 10


class Commits:
    """The moments sessions finished committing a transaction (only the bot writes here)."""

    def __init__(self) -> None:
        self.at: list[float] = []
        event.listen(Session, "after_commit", self._on_commit)

    def _on_commit(self, _session: Session) -> None:
        self.at.append(time.monotonic())

    def remove(self) -> None:
        event.remove(Session, "after_commit", self._on_commit)


class Senders:
    """Deliveries sent from threads of their own; each answer is kept with when it came."""

    def __init__(self, bot: BotServer) -> None:
        self.bot = bot
        self.answers: dict[str, tuple[HttpResponse, float]] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def send(self, name: str, body: dict[str, Any]) -> None:
        def deliver() -> None:
            response = post(self.bot, body)
            with self._lock:
                self.answers[name] = (response, time.monotonic())

        thread = threading.Thread(target=deliver)
        self._threads.append(thread)
        thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(WAIT_S)
        assert not any(thread.is_alive() for thread in self._threads)

    def json(self, name: str) -> dict[str, Any]:
        response = self.answers[name][0]
        assert response.status == 202, response.body
        body: dict[str, Any] = response.json()
        return body


def hold_first_delivery(
    monkeypatch: pytest.MonkeyPatch, external_id: str
) -> tuple[threading.Event, threading.Event]:
    """Keep the delivery of ``external_id``, alone in its group, from being stored until the
    returned ``release`` is set; everything that arrives meanwhile queues behind it. ``held``
    is set once it is being held."""
    held, release = threading.Event(), threading.Event()
    store_alone = intake._store_alone

    def holding(delivery: Any) -> intake.IntakeResult:
        if delivery.external_id == external_id:
            held.set()
            assert release.wait(WAIT_S)
        return store_alone(delivery)

    monkeypatch.setattr(intake, "_store_alone", holding)
    return held, release


def queue_behind_a_held_delivery(
    bot: BotServer, monkeypatch: pytest.MonkeyPatch, bodies: dict[str, dict[str, Any]]
) -> tuple[Senders, threading.Event]:
    """Send ``first`` (held), then ``bodies`` concurrently; return once all of them queue."""
    held, release = hold_first_delivery(monkeypatch, "first")
    senders = Senders(bot)
    senders.send("first", lead(external_id="first"))
    assert held.wait(WAIT_S)
    group = intake._group_commit(bot.services)
    for name, body in bodies.items():
        senders.send(name, body)
    assert group.wait_queued(len(bodies), WAIT_S), "the deliveries never queued"
    assert senders.answers == {}  # nothing is answered before it is committed
    return senders, release


def count(engine: Engine, model: type[Any]) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def test_deliveries_that_arrive_together_are_stored_in_one_transaction(
    db_bot: BotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db_bot.services.engine
    bodies = {
        **{f"new-{n}": lead(external_id=f"new-{n}") for n in range(5)},
        "cold": not_qualified(),
        "twin-a": lead(external_id="twin"),
        "twin-b": lead(external_id="twin"),
        "first-again": lead(external_id="first"),
    }
    senders, release = queue_behind_a_held_delivery(db_bot, monkeypatch, bodies)
    commits = Commits()
    try:
        release.set()
        senders.join()
    finally:
        commits.remove()

    # the held delivery's transaction, then one for the whole group
    assert len(commits.at) == 2, commits.at
    group_committed = commits.at[1]
    assert all(senders.answers[name][1] >= group_committed for name in bodies)
    first = senders.json("first")
    assert first["status"] == "queued"
    for n in range(5):
        assert senders.json(f"new-{n}")["status"] == "queued"
    cold = senders.json("cold")
    assert cold["status"] == "not_qualified" and cold["reasons"]
    twins = sorted((senders.json("twin-a"), senders.json("twin-b")), key=lambda a: a["status"])
    assert [a["status"] for a in twins] == ["duplicate", "queued"]
    assert twins[0]["lead_id"] == twins[1]["lead_id"]
    assert senders.json("first-again") == {**first, "status": "duplicate"}
    ids = {senders.json(name)["lead_id"] for name in ("first", *bodies)}
    assert len(ids) == 8  # first, five new, the cold one, the twin
    with db_bot.services.unit_of_work() as uow:
        stored = uow.session.execute(select(Lead.id, Lead.external_id, Lead.status)).all()
        assert {row.id for row in stored} == ids
        twin = uow.leads.by_external_id("twin", history=History.ALL)
        assert twin is not None and twin.id == twins[1]["lead_id"]
        assert [e.kind for e in twin.events] == ["qualify"]
        assert len(twin.activities) == len(EXAMPLE["activities"])
        keys = set(uow.session.scalars(select(OutboxMessage.idempotency_key)))
    queued = {first["lead_id"], twins[1]["lead_id"],
              *(senders.json(f"new-{n}")["lead_id"] for n in range(5))}
    assert keys == {f"handoff:{lead_id}" for lead_id in queued}
    assert count(engine, Activity) == 7 * len(EXAMPLE["activities"])
    assert count(engine, LeadEvent) == 8


def test_a_delivery_the_database_refuses_does_not_spoil_its_group(
    db_bot: BotServer, monkeypatch: pytest.MonkeyPatch, db: Database
) -> None:
    engine = db_bot.services.engine
    refuse_external_id(engine, "poison")
    bodies = {
        "poison": lead(external_id="poison"),
        **{f"good-{n}": lead(external_id=f"good-{n}") for n in range(4)},
    }
    senders, release = queue_behind_a_held_delivery(db_bot, monkeypatch, bodies)
    release.set()
    senders.join()

    poisoned = senders.answers["poison"][0]
    assert poisoned.status == 500
    assert poisoned.json()["error"] == "internal_error"
    good = {senders.json(name)["lead_id"] for name in ("first", *bodies) if name != "poison"}
    with engine.connect() as connection:
        stored = set(connection.scalars(select(Lead.id)))
    assert stored == good and len(good) == 5


def test_a_group_that_fails_whole_loses_nothing_it_answered(
    db_bot: BotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group's transaction fails after its inserts (a crash before the commit): it is rolled
    back and every delivery is stored alone; each 202 names a stored lead, none is doubled."""
    store_together = intake._store_together
    failures: list[int] = []

    def crash(uow: Any, deliveries: list[Any]) -> list[intake.IntakeResult]:
        store_together(uow, deliveries)
        failures.append(len(deliveries))
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(intake, "_store_together", crash)
    bodies = {f"lead-{n}": lead(external_id=f"lead-{n}") for n in range(6)}
    bodies["lead-0-again"] = lead(external_id="lead-0")
    senders, release = queue_behind_a_held_delivery(db_bot, monkeypatch, bodies)
    release.set()
    senders.join()

    assert failures == [len(bodies)]
    answers = {name: senders.json(name) for name in ("first", *bodies)}
    assert sorted(a["status"] for a in answers.values()) == ["duplicate"] + ["queued"] * 7
    assert answers["lead-0-again"]["lead_id"] == answers["lead-0"]["lead_id"]
    engine = db_bot.services.engine
    with engine.connect() as connection:
        stored = dict(connection.execute(select(Lead.external_id, Lead.id)).all())
    assert stored == {name: answers[name]["lead_id"] for name in ("first", *bodies)
                      if name != "lead-0-again"}
    assert count(engine, OutboxMessage) == 7
    assert count(engine, LeadEvent) == 7


def test_a_replayed_submission_stores_nothing_in_its_group_either(
    db_bot: BotServer, monkeypatch: pytest.MonkeyPatch, clock: ManualClock
) -> None:
    """A modal submission's key is recorded in its group's transaction: a replay queued in the
    same group, or one of a submission committed before, is answered None and stores nothing."""
    services = db_bot.services
    answers: dict[str, intake.IntakeResult | None] = {}

    def submit(name: str, external_id: str, key: str | None) -> None:
        mql = intake.parse_data(lead(external_id=external_id), now=clock.now())
        answers[name] = intake.accept(services, mql, surface=Surface.MODAL, submission=key)

    submit("before", "slack:V0", "view:old")
    held, release = hold_first_delivery(monkeypatch, "first")
    threads = [threading.Thread(target=submit, args=("first", "first", None))]
    threads[0].start()
    assert held.wait(WAIT_S)
    queued = {"a": ("slack:V1", "view:a"), "a-again": ("slack:V1", "view:a"),
              "old-again": ("slack:V0", "view:old"), "b": ("slack:V2", "view:b")}
    for name, (external_id, key) in queued.items():
        threads.append(threading.Thread(target=submit, args=(name, external_id, key)))
        threads[-1].start()
    assert intake._group_commit(services).wait_queued(len(queued), WAIT_S)
    release.set()
    for thread in threads:
        thread.join(WAIT_S)

    assert answers["old-again"] is None
    assert [answers["a"] is None, answers["a-again"] is None].count(True) == 1
    assert answers["b"] is not None and answers["first"] is not None
    assert count(services.engine, Lead) == 4
    assert all(already_handled(services.uow, key) for key in ("view:old", "view:a", "view:b"))


def test_when_nothing_can_be_stored_nothing_is_answered_accepted(
    db_bot: BotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = {f"lead-{n}": lead(external_id=f"lead-{n}") for n in range(4)}
    senders, release = queue_behind_a_held_delivery(db_bot, monkeypatch, bodies)
    engine = db_bot.services.engine
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE outbox"))  # no handoff can be queued any more
    release.set()
    senders.join()

    assert {name: senders.answers[name][0].status for name in ("first", *bodies)} == {
        name: 500 for name in ("first", *bodies)
    }
    assert count(engine, Lead) == 0


def refuse_external_id(engine: Engine, external_id: str) -> None:
    """A trigger that makes the database refuse one lead, as a constraint it breaks would."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(text(
                "CREATE TRIGGER refuse BEFORE INSERT ON leads "
                f"WHEN NEW.external_id = '{external_id}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            ))
        else:
            connection.execute(text(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.external_id = '{external_id}' THEN RAISE EXCEPTION 'refused'; END IF; "
                "RETURN NEW; END $$"
            ))
            connection.execute(text(
                "CREATE TRIGGER refuse BEFORE INSERT ON leads "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            ))


# --- GroupCommit on its own ------------------------------------------------------------------


def run_together(group: GroupCommit[int], items: list[int]) -> dict[int, BaseException | None]:
    outcomes: dict[int, BaseException | None] = {}

    def submit(item: int) -> None:
        try:
            group.submit(item)
        except BaseException as exc:
            outcomes[item] = exc
        else:
            outcomes[item] = None

    threads = [threading.Thread(target=submit, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def test_group_commit_leader_takes_everything_queued_while_the_writer_was_busy() -> None:
    writer = threading.RLock()
    groups: list[list[int]] = []
    group = GroupCommit(groups.append, writer)

    with writer:  # another unit of work holds the writer
        outcome: dict[int, BaseException | None] = {}
        runner = threading.Thread(target=lambda: outcome.update(run_together(group, [1, 2, 3])))
        runner.start()
        assert group.wait_queued(3, WAIT_S)
        assert groups == []
    runner.join(WAIT_S)

    assert [sorted(g) for g in groups] == [[1, 2, 3]]
    assert outcome == {1: None, 2: None, 3: None}


def test_group_commit_error_reaches_every_caller_of_that_group_only() -> None:
    writer = threading.RLock()
    seen: list[list[int]] = []

    def process(items: list[int]) -> None:
        seen.append(items)
        if 2 in items:
            raise RuntimeError("group failed")

    group = GroupCommit(process, writer)
    with writer:
        outcome: dict[int, BaseException | None] = {}
        runner = threading.Thread(target=lambda: outcome.update(run_together(group, [1, 2])))
        runner.start()
        assert group.wait_queued(2, WAIT_S)
    runner.join(WAIT_S)
    later = run_together(group, [3])

    assert all(isinstance(outcome[i], RuntimeError) for i in (1, 2))
    assert later == {3: None}  # the next group is led as usual
    assert [sorted(items) for items in seen] == [[1, 2], [3]]
