"""Repositories: the queries the services need, with time passed in, never read here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import Lead, OutboxMessage, OutboxStatus


class LeadRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, lead: Lead) -> Lead:
        self.session.add(lead)
        return lead

    def get(self, lead_id: int) -> Lead | None:
        return self.session.get(Lead, lead_id)

    def get_for_update(self, lead_id: int) -> Lead | None:
        """Load a lead and lock its row (PostgreSQL) for a read-modify-write."""
        return self.session.scalars(
            select(Lead).where(Lead.id == lead_id).with_for_update()
        ).one_or_none()

    def by_external_id(self, external_id: str) -> Lead | None:
        return self.session.scalars(
            select(Lead).where(Lead.external_id == external_id)
        ).one_or_none()

    def by_message(self, channel_id: str, message_ts: str) -> Lead | None:
        return self.session.scalars(
            select(Lead).where(Lead.channel_id == channel_id, Lead.message_ts == message_ts)
        ).one_or_none()


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def enqueue(
        self,
        *,
        key: str,
        kind: str,
        now: datetime,
        payload: dict[str, Any],
        channel: str | None = None,
        lead_id: int | None = None,
        not_before: datetime | None = None,
    ) -> OutboxMessage | None:
        """Queue a Slack call once per idempotency key; returns None if the key exists.

        A savepoint keeps a duplicate from spoiling the caller's transaction.
        """
        message = OutboxMessage(
            idempotency_key=key,
            kind=kind,
            lead_id=lead_id,
            channel=channel,
            payload=payload,
            status=OutboxStatus.PENDING,
            attempts=0,
            not_before=not_before or now,
            created_at=now,
        )
        try:
            with self.session.begin_nested():
                self.session.add(message)
        except IntegrityError:
            return None
        return message

    def by_key(self, key: str) -> OutboxMessage | None:
        return self.session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == key)
        ).one_or_none()
