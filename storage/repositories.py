"""Repositories: the queries the services need, with time passed in, never read here."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from enum import Flag, auto
from typing import Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import (
    InstrumentedAttribute,
    Session,
    load_only,
    raiseload,
    selectinload,
    with_parent,
)
from sqlalchemy.orm.attributes import set_committed_value

from storage.models import (
    Activity,
    AgreementApproval,
    AgreementStatus,
    AgreementVersion,
    Feedback,
    Lead,
    LeadEvent,
    LeadNotice,
    LeadStatus,
    OutboxMessage,
    OutboxStatus,
    ProcessedEvent,
    Touch,
)
from storage.outbox_kind import OutboxKind

_INSERT_LEAD = insert(Lead.__table__).returning(Lead.__table__.c.id)


class History(Flag):
    """Which of a lead's collections a read loads with it.

    The relationships never load on access (``lazy="raise"``): a query hidden in an attribute
    read once ran inside the claim's transaction. A service asks for the history it reads.
    """

    NONE = 0
    ACTIVITIES = auto()
    TOUCHES = auto()
    EVENTS = auto()
    ALL = ACTIVITIES | TOUCHES | EVENTS


_HISTORY: tuple[tuple[History, InstrumentedAttribute[Any]], ...] = (
    (History.ACTIVITIES, Lead.activities),
    (History.TOUCHES, Lead.touches),
    (History.EVENTS, Lead.events),
)


def _history_options(history: History) -> list[Any]:
    """One ``selectinload`` per collection asked for: one SELECT each, whatever the rows."""
    return [selectinload(attribute) for flag, attribute in _HISTORY if flag in history]


class LeadRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, lead: Lead) -> Lead:
        self.session.add(lead)
        return lead

    def insert_new(self, lead: Lead) -> int:
        """Insert a new (transient) lead with its activities and events; return its id.

        Intake is the hot path — a marketing tool may send a burst — and for a fresh object
        graph the ORM's unit-of-work bookkeeping costs more than the database does, so the rows
        are written with a few Core inserts. ``lead`` itself stays transient.
        """
        table = Lead.__table__
        values = {c.key: getattr(lead, c.key) for c in table.columns if c.key != "id"}
        lead_id = int(self.session.execute(_INSERT_LEAD, values).scalar_one())
        activities = [
            {"lead_id": lead_id, "type": a.type, "at": a.at, "detail": a.detail,
             "extra": a.extra or {}}
            for a in lead.activities
        ]
        if activities:
            self.session.execute(insert(Activity.__table__), activities)
        events = [
            {"lead_id": lead_id, "at": e.at, "kind": e.kind, "from_status": e.from_status,
             "to_status": e.to_status, "actor": e.actor, "surface": e.surface,
             "data": e.data or {}}
            for e in lead.events
        ]
        if events:
            self.session.execute(insert(LeadEvent.__table__), events)
        return lead_id

    def find_external(self, external_id: str) -> tuple[int, dict[str, Any]] | None:
        """The id and qualification of the lead with this external id, if there is one."""
        row = self.session.execute(
            select(Lead.id, Lead.qualification).where(Lead.external_id == external_id)
        ).first()
        return (row[0], row[1]) if row else None

    def find_many_external(
        self, external_ids: list[str]
    ) -> dict[str, tuple[int, dict[str, Any]]]:
        """``find_external`` for many ids at once (one query per group of deliveries)."""
        rows = self.session.execute(
            select(Lead.external_id, Lead.id, Lead.qualification)
            .where(Lead.external_id.in_(list(dict.fromkeys(external_ids))))
        )
        return {row[0]: (row[1], row[2]) for row in rows}

    def insert_many_new(self, leads: list[Lead]) -> list[int]:
        """``insert_new`` for many new leads at once: the same rows, written with one
        statement per table instead of per lead; returns the ids in the order of ``leads``, whose
        external ids must differ."""
        if not leads:
            return []
        table = Lead.__table__
        columns = [c.key for c in table.columns if c.key != "id"]
        rows = self.session.execute(
            insert(table).returning(table.c.external_id, table.c.id),
            [{key: getattr(lead, key) for key in columns} for lead in leads],
        )
        ids: dict[str, int] = {row[0]: int(row[1]) for row in rows}
        lead_ids = [ids[lead.external_id] for lead in leads]
        activities = [
            {"lead_id": lead_id, "type": a.type, "at": a.at, "detail": a.detail,
             "extra": a.extra or {}}
            for lead, lead_id in zip(leads, lead_ids, strict=True)
            for a in lead.activities
        ]
        if activities:
            self.session.execute(insert(Activity.__table__), activities)
        events = [
            {"lead_id": lead_id, "at": e.at, "kind": e.kind, "from_status": e.from_status,
             "to_status": e.to_status, "actor": e.actor, "surface": e.surface, "data": e.data or {}}
            for lead, lead_id in zip(leads, lead_ids, strict=True)
            for e in lead.events
        ]
        if events:
            self.session.execute(insert(LeadEvent.__table__), events)
        return lead_ids

    def get(self, lead_id: int, *, history: History = History.NONE) -> Lead | None:
        """The lead (from the session if it is there already), with the collections of
        ``history`` loaded."""
        lead = self.session.get(Lead, lead_id)
        if lead is not None:
            self.load_history(lead, history)
        return lead

    def load_history(self, lead: Lead, history: History) -> Lead:
        """Load the collections of ``history`` that ``lead`` (of this session) has not loaded.

        One SELECT per collection, in its relationship's order, as a lazy load would have run
        it, and nothing for a collection already loaded. Events added meanwhile without reading
        the collection (``bot.lifecycle``) are in it.
        """
        loaded = inspect(lead).dict  # a collection only appended to (unread) is not in it
        for flag, attribute in _HISTORY:
            if flag not in history or attribute.key in loaded:
                continue
            relationship = attribute.property
            rows = self.session.scalars(
                select(relationship.mapper)
                .where(with_parent(lead, attribute))
                .order_by(*relationship.order_by or ())
            ).all()
            set_committed_value(lead, attribute.key, list(rows))
        return lead

    def owner_and_status(self, lead_id: int) -> tuple[str | None, LeadStatus] | None:
        """A lead's owner and status alone, without building the lead.

        What a Claim press that lost the race needs to answer: the whole row (JSON columns
        decoded, an ORM object built) would cost more than the query.
        """
        row = self.session.execute(
            select(Lead.owner_id, Lead.status).where(Lead.id == lead_id)
        ).first()
        return (row[0], row[1]) if row is not None else None

    def get_for_update(self, lead_id: int, *, history: History = History.NONE) -> Lead | None:
        """Load a lead and lock its row (PostgreSQL) for a read-modify-write, with the
        collections of ``history`` loaded."""
        return self.session.scalars(
            select(Lead).where(Lead.id == lead_id).with_for_update()
            .options(*_history_options(history))
        ).one_or_none()

    def by_external_id(
        self, external_id: str, *, history: History = History.NONE
    ) -> Lead | None:
        return self.session.scalars(
            select(Lead).where(Lead.external_id == external_id)
            .options(*_history_options(history))
        ).one_or_none()

    def by_message(self, channel_id: str, message_ts: str) -> Lead | None:
        return self.session.scalars(
            select(Lead).where(Lead.channel_id == channel_id, Lead.message_ts == message_ts)
        ).one_or_none()

    def batch_after(
        self, where: ColumnElement[bool], after: int, limit: int, *, lock: bool
    ) -> list[Lead]:
        """Leads meeting ``where`` with ids above ``after``, in id order (a batch of a walk
        over many); locked on PostgreSQL when ``lock``."""
        query = select(Lead).where(where, Lead.id > after).order_by(Lead.id).limit(limit)
        if lock and _on_postgresql(self.session):
            query = query.with_for_update(of=Lead)
        return list(self.session.scalars(query))

    def id_by_external_id(self, external_id: str) -> int | None:
        return self.session.scalar(select(Lead.id).where(Lead.external_id == external_id))

    def newest_of_contact(self, contact_key: str, prefer: Iterable[LeadStatus]) -> int | None:
        """The person's newest lead in ``prefer``, else their newest lead."""
        return self.session.scalar(
            select(Lead.id).where(Lead.contact_key == contact_key)
            .order_by(case((Lead.status.in_([s.value for s in prefer]), 0), else_=1),
                      Lead.id.desc())
            .limit(1))

    def received_between(self, start: datetime, end: datetime) -> Sequence[Lead]:
        """Leads received in [start, end) that qualified, with their activities, by id."""
        return self.session.scalars(
            select(Lead)
            .where(Lead.received_at >= start, Lead.received_at < end,
                   Lead.status != LeadStatus.NOT_QUALIFIED)
            .options(selectinload(Lead.activities))
            .order_by(Lead.id)
        ).all()

    def add_touch(self, touch: Touch) -> Touch:
        """Store a logged touch; its id is known on return (the event names it)."""
        self.session.add(touch)
        self.session.flush()
        return touch

    def take_unowned(self, lead_id: int, values: dict[str, Any]) -> Lead | None:
        """The conditional update that decides a claim: ``values`` written only while the lead
        is posted and unowned; the updated lead (refreshed if already loaded), or None."""
        return self.session.scalars(
            update(Lead)
            .where(Lead.id == lead_id, Lead.status == LeadStatus.POSTED, Lead.owner_id.is_(None))
            .values(**values)
            .returning(Lead),
            execution_options={"synchronize_session": False, "populate_existing": True},
        ).one_or_none()

    def count_owned_by(self, owner: str, statuses: Iterable[LeadStatus]) -> int:
        return self.session.scalar(
            select(func.count()).select_from(Lead).where(
                Lead.owner_id == owner, Lead.status.in_([s.value for s in statuses])
            )
        ) or 0

    def counts_owned_by(
        self, owners: Sequence[str], statuses: Iterable[LeadStatus]
    ) -> dict[str | None, int]:
        """How many leads in ``statuses`` each of ``owners`` holds (absent: none)."""
        return {owner: count for owner, count in self.session.execute(
            select(Lead.owner_id, func.count()).where(
                Lead.owner_id.in_(owners), Lead.status.in_([s.value for s in statuses])
            ).group_by(Lead.owner_id)
        )}

    def states_of_contact(self, contact_key: str) -> list[tuple[int, LeadStatus]]:
        """A person's leads (id and status), newest first."""
        return [(row.id, row.status) for row in self.session.execute(
            select(Lead.id, Lead.status).where(Lead.contact_key == contact_key)
            .order_by(Lead.id.desc())
        )]

    def latest_for_deal(self, deal_id: str, *where: ColumnElement[bool]) -> int | None:
        """The newest lead carrying this CRM deal (and meeting ``where``), by id."""
        return self.session.scalar(
            select(Lead.id).where(Lead.deal_id == deal_id, *where)
            .order_by(Lead.id.desc()).limit(1))

    def only_columns(
        self,
        columns: Sequence[Any],
        where: Sequence[ColumnElement[bool]],
        *,
        order_by: Sequence[Any] = (),
        limit: int | None = None,
    ) -> list[Lead]:
        """The leads meeting ``where`` with ``columns`` alone loaded, in one query: reading any
        other attribute or relationship raises instead of querying (no N+1 by accident)."""
        query = (
            select(Lead)
            .options(load_only(*columns, raiseload=True), raiseload("*"))
            .where(*where)
        )
        if order_by:
            query = query.order_by(*order_by)
        if limit is not None:
            query = query.limit(limit)
        return list(self.session.scalars(query))

    def count_in_status(self, status: LeadStatus) -> int:
        return self.session.scalar(
            select(func.count()).select_from(Lead).where(Lead.status == status.value)
        ) or 0


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def enqueue(
        self,
        *,
        key: str,
        kind: OutboxKind,
        now: datetime,
        payload: dict[str, Any],
        channel: str | None = None,
        lead_id: int | None = None,
        not_before: datetime | None = None,
    ) -> OutboxMessage | None:
        """Queue a Slack call once per idempotency key; returns None if the key exists.

        A savepoint keeps a duplicate from spoiling the caller's transaction. A kind that is
        not an ``OutboxKind`` is refused (``ValueError``) before anything is written.
        """
        message = OutboxMessage(
            **_new_outbox_row(key, kind, now, payload, channel, lead_id, not_before)
        )
        try:
            with self.session.begin_nested():
                self.session.add(message)
        except IntegrityError:
            return None
        return message

    def enqueue_many(self, rows: list[dict[str, Any]], now: datetime) -> None:
        """Queue many calls in one statement; a key already queued is skipped (no savepoints).

        ``rows`` hold ``key``, ``kind``, ``payload`` and optionally ``channel``, ``lead_id``,
        ``not_before``. For sweeps that queue hundreds of messages at once.
        """
        if not rows:
            return
        values = [
            _new_outbox_row(r["key"], r["kind"], now, r["payload"], r.get("channel"),
                            r.get("lead_id"), r.get("not_before"))
            for r in rows
        ]
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            stmt: Any = pg_insert(OutboxMessage.__table__).on_conflict_do_nothing(
                index_elements=["idempotency_key"])
        else:
            stmt = sqlite_insert(OutboxMessage.__table__).on_conflict_do_nothing(
                index_elements=["idempotency_key"])
        self.session.execute(stmt, values)

    def insert_new(
        self,
        *,
        key: str,
        kind: OutboxKind,
        now: datetime,
        payload: dict[str, Any],
        channel: str | None = None,
        lead_id: int | None = None,
    ) -> None:
        """Queue a message whose key cannot exist yet (it names a row created in this
        transaction): no savepoint, one statement."""
        self.session.execute(
            insert(OutboxMessage.__table__),
            _new_outbox_row(key, kind, now, payload, channel, lead_id, None),
        )

    def insert_many_new(self, messages: list[dict[str, Any]]) -> None:
        """``insert_new`` for many messages at once (keys that cannot exist yet).

        Each of ``messages`` holds ``key``, ``kind``, ``now``, ``payload``, ``channel``,
        ``lead_id``.
        """
        if messages:
            self.session.execute(insert(OutboxMessage.__table__), [
                _new_outbox_row(m["key"], m["kind"], m["now"], m["payload"], m["channel"],
                                m["lead_id"], None)
                for m in messages
            ])

    def channels_of(self, kind: OutboxKind) -> list[str]:
        """Every channel (or user) messages of ``kind`` were ever queued to, once each."""
        return sorted(self.session.scalars(
            select(OutboxMessage.channel)
            .where(OutboxMessage.kind == kind, OutboxMessage.channel.is_not(None))
            .distinct()))

    def by_key(self, key: str) -> OutboxMessage | None:
        return self.session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == key)
        ).one_or_none()

    def get(self, row_id: int) -> OutboxMessage | None:
        return self.session.get(OutboxMessage, row_id)

    def any_due_on(self, channels: Collection[str], now: datetime) -> bool:
        """Whether a message due by ``now`` waits for one of ``channels``."""
        return self.session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
                OutboxMessage.not_before <= now,
                OutboxMessage.channel.in_(sorted(channels)),
            ).limit(1)
        ) is not None

    def due(self, now: datetime, limit: int, busy: Collection[str]) -> list[OutboxMessage]:
        """Messages due by ``now``, unlocked and not for a ``busy`` channel, oldest first; on
        PostgreSQL locked, skipping rows another worker holds."""
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
                OutboxMessage.not_before <= now,
                or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until <= now),
                or_(OutboxMessage.channel.is_(None),
                    OutboxMessage.channel.not_in(sorted(busy))),
            )
            .order_by(OutboxMessage.not_before, OutboxMessage.id)
            .limit(limit)
        )
        if _on_postgresql(self.session):
            query = query.with_for_update(skip_locked=True)
        return list(self.session.scalars(query))

    def counts_by_status(self, statuses: Iterable[OutboxStatus]) -> dict[str, int]:
        return dict(
            self.session.execute(
                select(OutboxMessage.status, func.count())
                .where(OutboxMessage.status.in_(list(statuses)))
                .group_by(OutboxMessage.status)
            ).all()
        )

    def latest_failed(self, limit: int) -> Sequence[OutboxMessage]:
        return self.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.FAILED)
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        ).all()

    def skip_pending(self, kind: OutboxKind, channel: str, reason: str) -> int:
        """Mark the pending messages of ``kind`` to ``channel`` skipped for ``reason`` (rows
        being sent are left alone); returns how many."""
        return int(self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.kind == kind,
                OutboxMessage.channel == channel,
                OutboxMessage.status == OutboxStatus.PENDING.value,
            )
            .values(status=OutboxStatus.SKIPPED.value, last_error=reason)
            .execution_options(synchronize_session=False)
        ).rowcount)

    def key_of_result(self, channel: str, ts: str) -> str | None:
        """The key of the message whose sending produced the Slack message at (channel, ts)."""
        return self.session.scalar(select(OutboxMessage.idempotency_key).where(
            OutboxMessage.result_channel == channel, OutboxMessage.result_ts == ts))

    def any_due(self, now: datetime) -> bool:
        """Whether a message due by ``now`` waits, for any channel."""
        return self.session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
                OutboxMessage.not_before <= now,
            ).limit(1)) is not None


class FeedbackRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lead_for_thread(self, channel_id: str, thread_ts: str) -> int | None:
        """The lead whose thread this is: its handoff message, or a bot post about it.

        Bot posts about a lead (a recycle notice in the marketing channel, a conversion...)
        are outbox rows with a ``lead_id``; once sent they know where they landed.
        """
        lead_id = self.session.scalar(
            select(Lead.id).where(Lead.channel_id == channel_id, Lead.message_ts == thread_ts)
        )
        if lead_id is not None:
            return int(lead_id)
        lead_id = self.session.scalar(
            select(OutboxMessage.lead_id)
            .where(
                OutboxMessage.result_channel == channel_id,
                OutboxMessage.result_ts == thread_ts,
                OutboxMessage.lead_id.is_not(None),
            )
            .limit(1)
        )
        return int(lead_id) if lead_id is not None else None

    def add(self, feedback: Feedback) -> bool:
        """Store a new reply; False (and nothing changed) when that message is already stored.

        A savepoint keeps the duplicate from spoiling the caller's transaction.
        """
        try:
            with self.session.begin_nested():
                self.session.add(feedback)
        except IntegrityError:
            return False
        return True

    def by_message_for_update(self, channel_id: str, ts: str) -> Feedback | None:
        """The stored reply for a Slack message, locked (PostgreSQL) so an edit racing a
        delete cannot write the deleted text back."""
        return self.session.scalars(
            select(Feedback)
            .where(Feedback.channel_id == channel_id, Feedback.ts == ts)
            .with_for_update()
        ).one_or_none()

    def kept_between(
        self, start: datetime, end: datetime, authors: Collection[str], limit: int
    ) -> tuple[int, list[tuple[Feedback, Lead]]]:
        """Replies kept (not deleted) in [start, end), by ``authors`` when given: how many, and
        the latest ``limit`` with their leads."""
        where = [Feedback.at >= start, Feedback.at < end, Feedback.deleted_at.is_(None)]
        if authors:
            where.append(Feedback.author_id.in_(sorted(authors)))
        count = self.session.scalar(select(func.count()).select_from(Feedback).where(*where))
        rows = self.session.execute(
            select(Feedback, Lead).join(Lead, Lead.id == Feedback.lead_id)
            .where(*where).order_by(Feedback.at.desc(), Feedback.id.desc())
            .limit(limit)
        ).all()
        return int(count or 0), [(item, lead) for item, lead in rows]

    def for_lead(self, lead_id: int) -> list[Feedback]:
        return list(
            self.session.scalars(
                select(Feedback).where(Feedback.lead_id == lead_id).order_by(Feedback.ts)
            )
        )

    def for_lead_newest_first(self, lead_id: int) -> list[Feedback]:
        return list(self.session.scalars(
            select(Feedback)
            .where(Feedback.lead_id == lead_id)
            .order_by(Feedback.at.desc(), Feedback.id.desc())
        ))


class ProcessedEventRepository:
    """Slack deliveries already acted on (event ids, modal submission keys): a redelivery or
    a replay is a no-op."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def claim(self, event_id: str, now: datetime) -> bool:
        """Record ``event_id``; False when it was recorded before (or by a concurrent delivery,
        whose transaction this waits for on PostgreSQL)."""
        try:
            with self.session.begin_nested():
                self.session.execute(
                    insert(ProcessedEvent.__table__), {"event_id": event_id, "at": now}
                )
        except IntegrityError:
            return False
        return True

    def seen(self, event_id: str) -> bool:
        """Whether ``event_id`` was recorded (by a committed transaction)."""
        found = self.session.execute(
            select(ProcessedEvent.event_id).where(ProcessedEvent.event_id == event_id)
        )
        return found.first() is not None

    def prune(self, before: datetime) -> int:
        """Forget ids recorded before ``before``; returns how many."""
        result = self.session.execute(
            delete(ProcessedEvent)
            .where(ProcessedEvent.at < before)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)


class LeadEventRepository:
    """Reads of the lifecycle's audit trail (``lead_events``) beyond one lead's own list."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def of_kind(self, lead_ids: Sequence[int], kind: str) -> list[LeadEvent]:
        if not lead_ids:
            return []
        return list(self.session.scalars(
            select(LeadEvent).where(LeadEvent.lead_id.in_(lead_ids), LeadEvent.kind == kind)
        ))

    def data_of_kinds(self, lead_ids: Sequence[int], kinds: Sequence[str]) -> list[Any]:
        """The ``data`` of the events of ``kinds`` on these leads."""
        return list(self.session.scalars(
            select(LeadEvent.data).where(LeadEvent.lead_id.in_(lead_ids),
                                         LeadEvent.kind.in_(kinds))
        ))

    def of_kind_between(
        self, kind: str, start: datetime, end: datetime, limit: int
    ) -> tuple[int, dict[str | None, int], list[tuple[LeadEvent, Lead]]]:
        """Events of ``kind`` recorded in [start, end): how many, how many per owner, and the
        first ``limit`` with their leads (the kinds are the lifecycle's, ``bot.event_kind``)."""
        in_period = (LeadEvent.kind == kind, LeadEvent.at >= start, LeadEvent.at < end)
        total = self.session.scalar(
            select(func.count()).select_from(LeadEvent).where(*in_period))
        by_owner = dict(self.session.execute(
            select(Lead.owner_id, func.count()).select_from(LeadEvent)
            .join(Lead, Lead.id == LeadEvent.lead_id)
            .where(*in_period, Lead.owner_id.is_not(None)).group_by(Lead.owner_id)
        ).all())
        rows = self.session.execute(
            select(LeadEvent, Lead).join(Lead, Lead.id == LeadEvent.lead_id)
            .where(*in_period).order_by(LeadEvent.at, LeadEvent.id).limit(limit)
        ).all()
        return int(total or 0), by_owner, [(event, lead) for event, lead in rows]

    def count_by_actor(self, *where: ColumnElement[bool]) -> dict[str | None, int]:
        """How many events meeting ``where`` each actor has."""
        return {actor: count for actor, count in self.session.execute(
            select(LeadEvent.actor, func.count()).where(*where).group_by(LeadEvent.actor)
        )}


class NoticeRepository:
    """The reminder sweep's rows: leads whose next instant has come, notices handled once."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def due_leads(self, now: datetime, limit: int) -> list[Lead]:
        """Leads whose next instant is ``now`` or earlier, earliest first; on PostgreSQL
        locked, skipping those another process is sweeping."""
        query = (
            select(Lead)
            .where(Lead.next_due_at.is_not(None), Lead.next_due_at <= now)
            .order_by(Lead.next_due_at)
            .limit(limit)
        )
        if _on_postgresql(self.session):
            query = query.with_for_update(skip_locked=True, of=Lead)
        return list(self.session.scalars(query))

    def due_owners(self, now: datetime, limit: int) -> set[str | None]:
        return set(self.session.scalars(
            select(Lead.owner_id).where(Lead.next_due_at.is_not(None), Lead.next_due_at <= now,
                                        Lead.owner_id.is_not(None)).distinct().limit(limit)
        ))

    def next_due_after(self, now: datetime) -> datetime | None:
        """The earliest next instant of a lead after ``now`` (when a sweep has work again)."""
        return self.session.scalar(select(func.min(Lead.next_due_at))
                                   .where(Lead.next_due_at > now))

    def handled(self, lead_ids: Sequence[int]) -> dict[int, set[str]]:
        """The keys of the notices handled per lead."""
        found: dict[int, set[str]] = {}
        if not lead_ids:
            return found
        rows = self.session.execute(
            select(LeadNotice.lead_id, LeadNotice.key).where(LeadNotice.lead_id.in_(lead_ids))
        )
        for lead_id, key in rows:
            found.setdefault(lead_id, set()).add(key)
        return found

    def write(
        self,
        notices: list[dict[str, Any]],
        events: list[dict[str, Any]],
        next_due: dict[int, datetime | None],
        first_breach: dict[int, datetime],
    ) -> None:
        """What a batch of the sweep writes, as a few set-based statements: the handled
        notices, their events, each lead's next instant and earliest breach."""
        if notices:
            self.session.execute(insert(LeadNotice.__table__), notices)
        if events:
            self.session.execute(insert(LeadEvent.__table__), events)
        if next_due:
            self.session.execute(update(Lead), [
                {"id": lead_id, "next_due_at": due} for lead_id, due in next_due.items()
            ])
        if first_breach:
            at = bindparam("breach_at", type_=Lead.first_breach_at.type)
            self.session.execute(
                update(Lead.__table__)
                .where(Lead.id == bindparam("breach_lead"))
                .values(first_breach_at=case(
                    (or_(Lead.first_breach_at.is_(None), Lead.first_breach_at > at), at),
                    else_=Lead.first_breach_at)),
                [{"breach_lead": lead_id, "breach_at": at_}
                 for lead_id, at_ in first_breach.items()],
            )


def _on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _new_outbox_row(
    key: str,
    kind: OutboxKind | str,
    now: datetime,
    payload: dict[str, Any],
    channel: str | None,
    lead_id: int | None,
    not_before: datetime | None,
) -> dict[str, Any]:
    """The column values of a freshly queued outbox message; an unknown kind is refused
    (``ValueError``), since no worker could send it."""
    return {
        "idempotency_key": key,
        "kind": OutboxKind(kind).value,
        "lead_id": lead_id,
        "channel": channel,
        "payload": payload,
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "needs_check": False,
        "not_before": not_before or now,
        "created_at": now,
    }


class AgreementRepository:
    """The agreement's versions (SPEC section 9): the active one, history, new records."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def lock(self) -> None:
        """Serialize whoever changes the versions until this transaction ends.

        Reading the active version and then the next number are two statements; under
        PostgreSQL's READ COMMITTED another process may commit in between (a second active
        version, not a unique-number clash). A transaction-scoped advisory lock orders them;
        SQLite's transactions begin IMMEDIATE, so they are ordered already.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(select(func.pg_advisory_xact_lock(func.hashtext("agreement"))))

    def active(self) -> AgreementVersion | None:
        return self.session.scalars(
            select(AgreementVersion)
            .where(AgreementVersion.status == AgreementStatus.ACTIVE)
            .order_by(AgreementVersion.number.desc())
            .limit(1)
        ).first()

    def active_number(self) -> int | None:
        """The active version's number alone: what a hand-off records (a tiny table)."""
        return self.session.scalar(
            select(func.max(AgreementVersion.number))
            .where(AgreementVersion.status == AgreementStatus.ACTIVE)
        )

    def latest_number(self) -> int:
        return int(self.session.scalar(select(func.max(AgreementVersion.number))) or 0)

    def add(self, version: AgreementVersion) -> AgreementVersion:
        self.session.add(version)
        self.session.flush()  # the unique number is decided here, not at commit
        return version

    def by_number(self, number: int) -> AgreementVersion | None:
        return self.session.scalars(
            select(AgreementVersion).where(AgreementVersion.number == number)
        ).first()

    def open_proposals(self) -> list[AgreementVersion]:
        """Versions still waiting for approval or for their effective instant, oldest first."""
        return list(self.session.scalars(
            select(AgreementVersion)
            .where(AgreementVersion.status == AgreementStatus.PROPOSED)
            .order_by(AgreementVersion.number)
        ))

    def due_for_activation(self, now: datetime) -> AgreementVersion | None:
        """The newest proposed version approved by both sides whose effective instant has
        come, if it is newer than the active one (an older approval never reverts a newer
        agreement)."""
        def approved_by(side: str) -> Any:
            return exists().where(AgreementApproval.version_id == AgreementVersion.id,
                                  AgreementApproval.side == side)

        active = select(func.coalesce(func.max(AgreementVersion.number), 0)).where(
            AgreementVersion.status == AgreementStatus.ACTIVE).scalar_subquery()
        return self.session.scalars(
            select(AgreementVersion)
            .where(AgreementVersion.status == AgreementStatus.PROPOSED,
                   AgreementVersion.effective_at.is_not(None),
                   AgreementVersion.effective_at <= now,
                   AgreementVersion.number > active,
                   approved_by("marketing"), approved_by("sales"))
            .order_by(AgreementVersion.number.desc())
            .limit(1)
        ).first()

    def approvals(self, version_id: int) -> list[AgreementApproval]:
        """Who approved a version, in the order they approved."""
        return list(self.session.scalars(
            select(AgreementApproval)
            .where(AgreementApproval.version_id == version_id)
            .order_by(AgreementApproval.approved_at, AgreementApproval.id)
        ))

    def history(self) -> list[tuple[AgreementVersion, int]]:
        """Every version, newest first, with how many approvals it has."""
        approvals = (
            select(AgreementApproval.version_id, func.count().label("n"))
            .group_by(AgreementApproval.version_id)
            .subquery()
        )
        rows = self.session.execute(
            select(AgreementVersion, func.coalesce(approvals.c.n, 0))
            .outerjoin(approvals, approvals.c.version_id == AgreementVersion.id)
            .order_by(AgreementVersion.number.desc())
        ).all()
        return [(version, int(count)) for version, count in rows]

    def get(self, version_id: int) -> AgreementVersion | None:
        return self.session.get(AgreementVersion, version_id)

    def open_proposal(self) -> AgreementVersion | None:
        """The proposal still waiting for approvals or for its effective instant (at most one:
        a newer proposal supersedes it)."""
        return self.session.scalars(
            select(AgreementVersion)
            .where(AgreementVersion.status == AgreementStatus.PROPOSED)
            .order_by(AgreementVersion.number.desc())
            .limit(1)
        ).first()

    def add_approval(self, approval: AgreementApproval) -> AgreementApproval:
        self.session.add(approval)
        self.session.flush()
        return approval

    def in_force_up_to(
        self, number: int, statuses: Iterable[str]
    ) -> list[AgreementVersion]:
        """Versions up to ``number`` that were in force (``statuses``), oldest first."""
        return list(self.session.scalars(
            select(AgreementVersion)
            .where(AgreementVersion.number <= number, AgreementVersion.status.in_(list(statuses)))
            .order_by(AgreementVersion.number)))

    def effective_before(
        self, end: datetime, statuses: Iterable[str]
    ) -> list[AgreementVersion]:
        """Versions in ``statuses`` that took effect before ``end``, in effective order."""
        return list(self.session.scalars(
            select(AgreementVersion)
            .where(AgreementVersion.status.in_(list(statuses)),
                   AgreementVersion.effective_at.is_not(None),
                   AgreementVersion.effective_at < end)
            .order_by(AgreementVersion.effective_at, AgreementVersion.number)))

    def approvals_of(self, version_ids: Sequence[int]) -> list[AgreementApproval]:
        """The approvals of these versions, in the order they were given."""
        return list(self.session.scalars(
            select(AgreementApproval)
            .where(AgreementApproval.version_id.in_(list(version_ids)))
            .order_by(AgreementApproval.approved_at, AgreementApproval.id)))

    def number_after(self, number: int) -> int | None:
        """The first version recorded after ``number`` (what superseded it)."""
        return self.session.scalar(
            select(func.min(AgreementVersion.number)).where(AgreementVersion.number > number)
        )
