"""A unit of work: one short transaction, committed explicitly or rolled back.

Services ask for a unit of work instead of handling sessions, so a failure anywhere in a
use case leaves no half-written rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from types import TracebackType
from typing import Generic, Self, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from storage.report_queries import ReportQueries
from storage.repositories import (
    AgreementRepository,
    FeedbackRepository,
    LeadEventRepository,
    LeadRepository,
    NoticeRepository,
    OutboxRepository,
    ProcessedEventRepository,
)


class UnitOfWork:
    session: Session
    leads: LeadRepository
    events: LeadEventRepository
    notices: NoticeRepository
    outbox: OutboxRepository
    feedback: FeedbackRepository
    processed_events: ProcessedEventRepository
    agreements: AgreementRepository
    reports: ReportQueries

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        writer_lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._writer_lock = writer_lock or nullcontext()

    def __enter__(self) -> Self:
        self._writer_lock.__enter__()
        self.session = self._session_factory()
        self.leads = LeadRepository(self.session)
        self.events = LeadEventRepository(self.session)
        self.notices = NoticeRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.feedback = FeedbackRepository(self.session)
        self.processed_events = ProcessedEventRepository(self.session)
        self.agreements = AgreementRepository(self.session)
        self.reports = ReportQueries(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.session.rollback()  # a no-op after commit(); undoes anything uncommitted
        finally:
            self.session.close()
            self._writer_lock.__exit__(None, None, None)

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    def flush(self) -> None:
        """Write what is pending now (ids, unique keys), inside the transaction."""
        self.session.flush()

    def refresh(self, row: object) -> None:
        """Read ``row`` again from the database (another transaction may have changed it)."""
        self.session.refresh(row)

    def detach(self, *rows: object) -> None:
        """Keep ``rows`` usable after the unit of work ends (their loaded columns only)."""
        for row in rows:
            self.session.expunge(row)

    def detach_all(self) -> None:
        self.session.expunge_all()

    @property
    def on_postgresql(self) -> bool:
        """Row locks, ``SKIP LOCKED`` and advisory locks are PostgreSQL's (SQLite's writers
        are serialized already)."""
        bind = self.session.get_bind()
        return bind is not None and bind.dialect.name == "postgresql"

    def lock(self, key: str) -> None:
        """Serialize transactions about ``key`` until this one ends (PostgreSQL's transaction
        advisory lock; on SQLite the writer lock already orders them)."""
        if self.on_postgresql:
            self.session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))


UnitOfWorkFactory = Callable[[], UnitOfWork]


class UnitsOfWork:
    """A unit-of-work factory for one engine, with the writer lock its units share (if any)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        writer_lock: AbstractContextManager[object] | None = None,
    ) -> None:
        self._session_factory = session_factory
        #: held by every unit of work on SQLite (None on PostgreSQL); ``GroupCommit`` leaders
        #: take it before they look at the queue, so a group holds all who queued meanwhile
        self.writer_lock = writer_lock

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self._session_factory, self.writer_lock)


def unit_of_work_factory(session_factory: sessionmaker[Session]) -> UnitsOfWork:
    """Units of work for one engine.

    SQLite has one writer at a time and every transaction here begins IMMEDIATE, so threads of
    one process queue on a lock instead of in SQLite's busy handler, which sleeps in growing
    steps (1, 2, 5, 10… ms) and turns contention into idle time. Other processes still wait
    through the busy timeout. PostgreSQL needs no such lock.
    """
    bind = session_factory.kw.get("bind")
    if bind is not None and bind.dialect.name == "sqlite":
        return UnitsOfWork(session_factory, threading.RLock())
    return UnitsOfWork(session_factory)


T = TypeVar("T")


@dataclass(eq=False)
class _Ticket(Generic[T]):
    item: T
    #: set when the item was processed, or when its caller is to lead the next group
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    error: BaseException | None = None


class GroupCommit(Generic[T]):
    """Group commit: callers that arrive while a group is being written wait, and the next
    caller to lead writes all of them in one go (``process``, typically one transaction).

    A commit and a handful of statements per caller cost more than the rows themselves; in a
    burst the leader's group holds everyone who queued while the previous group was written, so
    that cost is paid once per group. Each caller returns only after the group holding its item
    was processed. ``process`` records each item's own outcome on the item (an item that fails
    must not fail the others); if it raises anyway, every caller of that group gets the error.
    The leader takes ``lock`` (SQLite's writer lock, reentrant) before taking the queue, so
    what queued while it waited for the writer joins its group. A leader done with its own
    item hands the lead to the oldest caller still waiting; nobody else is woken.
    """

    def __init__(
        self,
        process: Callable[[list[T]], None],
        lock: AbstractContextManager[object] | None = None,
        max_size: int = 200,
    ) -> None:
        self._process = process
        self._lock = lock or nullcontext()
        self._max_size = max_size
        self._mutex = threading.Lock()
        self._queued = threading.Condition(self._mutex)
        self._queue: list[_Ticket[T]] = []
        self._leading = False

    def submit(self, item: T) -> None:
        """Queue ``item`` and return once it was processed (re-raising a group's error)."""
        ticket = _Ticket(item)
        with self._mutex:
            self._queue.append(ticket)
            self._queued.notify_all()
            lead = not self._leading
            self._leading = True
        if not lead:
            ticket.wake.wait()  # processed, or handed the lead
        if not ticket.done:
            try:
                while not ticket.done:
                    self._lead()
            finally:
                with self._mutex:
                    if self._queue:
                        self._queue[0].wake.set()  # the lead passes on; _leading stays set
                    else:
                        self._leading = False
        if ticket.error is not None:
            raise ticket.error

    def _lead(self) -> None:
        with self._lock:
            with self._mutex:
                group = self._queue[: self._max_size]
                del self._queue[: self._max_size]
            error: BaseException | None = None
            try:
                self._process([t.item for t in group])
            except BaseException as exc:  # the others must be released whatever happens
                error = exc
            for t in group:
                t.error = error
                t.done = True
                t.wake.set()

    def wait_queued(self, count: int, timeout: float) -> bool:
        """Whether ``count`` items are waiting for a leader within ``timeout`` s (for tests)."""
        with self._mutex:
            return self._queued.wait_for(lambda: len(self._queue) >= count, timeout)
