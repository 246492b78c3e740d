"""A unit of work: one short transaction, committed explicitly or rolled back.

Services ask for a unit of work instead of handling sessions, so a failure anywhere in a
use case leaves no half-written rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from types import TracebackType
from typing import Self

from sqlalchemy.orm import Session, sessionmaker

from storage.repositories import (
    FeedbackRepository,
    LeadRepository,
    OutboxRepository,
    ProcessedEventRepository,
)


class UnitOfWork:
    session: Session
    leads: LeadRepository
    outbox: OutboxRepository
    feedback: FeedbackRepository
    processed_events: ProcessedEventRepository

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
        self.outbox = OutboxRepository(self.session)
        self.feedback = FeedbackRepository(self.session)
        self.processed_events = ProcessedEventRepository(self.session)
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


UnitOfWorkFactory = Callable[[], UnitOfWork]


def unit_of_work_factory(session_factory: sessionmaker[Session]) -> UnitOfWorkFactory:
    """Units of work for one engine.

    SQLite has one writer at a time and every transaction here begins IMMEDIATE, so threads of
    one process queue on a lock instead of in SQLite's busy handler, which sleeps in growing
    steps (1, 2, 5, 10… ms) and turns contention into idle time. Other processes still wait
    through the busy timeout. PostgreSQL needs no such lock.
    """
    bind = session_factory.kw.get("bind")
    if bind is not None and bind.dialect.name == "sqlite":
        lock = threading.RLock()
        return lambda: UnitOfWork(session_factory, lock)
    return lambda: UnitOfWork(session_factory)
