"""Modal submissions acted on once: a replayed submission changes nothing.

A captured signed ``view_submission`` passes the signature check for 5 minutes. Every service
a modal submits to (``log_touch``, ``reassign``, ``convert``, ``recycle``, ``request_changes``,
and the intake's ``accept`` for the MQL modal) takes the submission's key and records it in
the same transaction as its effect (the table that also holds Events API ids,
``storage.models.ProcessedEvent``), returning None without any effect when it was recorded
before, so concurrent replays are decided by the database. A submission that was refused
records nothing: a person may correct it and submit again. The MQL modal's lead is also
stored once per ``external_id`` (its view id), the intake's rule for every surface.
"""

from __future__ import annotations

from storage.unit_of_work import UnitOfWorkFactory


def already_handled(unit_of_work: UnitOfWorkFactory, key: str) -> bool:
    """Whether the submission with ``key`` was acted on: answer it, do nothing again."""
    with unit_of_work() as uow:
        return uow.processed_events.seen(key)
