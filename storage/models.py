"""The database schema as typed SQLAlchemy 2 models.

The database is the source of truth: lead state, the audit trail every report is computed
from, and the outbox through which every Slack message leaves (so nothing accepted is lost
when Slack is down). Nothing here knows about Slack's API.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import Money, StrEnumText, UTCDateTime

JSONType = JSON().with_variant(JSONB(), "postgresql")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSONType,
    }


class LeadStatus(StrEnum):
    """The lead lifecycle's states (SPEC section 2); transitions live in ``bot.lifecycle``."""

    RECEIVED = "received"
    NOT_QUALIFIED = "not_qualified"
    QUEUED = "queued"
    POSTED = "posted"
    CLAIMED = "claimed"
    WORKING = "working"
    CONVERTED = "converted"
    RECYCLED = "recycled"
    #: the SQL's deal closed (SPEC 10): a later outcome from the CRM may still correct it
    WON = "won"
    LOST = "lost"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class AgreementStatus(StrEnum):
    """An agreement version's states (SPEC section 9)."""

    PROPOSED = "proposed"
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


def _one_of(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


#: the leads the open-breaches list shows: open now, with a recorded breach
OPEN_BREACHED = ("first_breach_at IS NOT NULL"
                 " AND status IN ('posted', 'claimed', 'working')")


class Lead(Base):
    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(64))
    #: the marketing tool's id for the person (e.g. ``mautic:52``), when a vendor adapter
    #: delivered the lead: later events about the same person find their lead by it
    contact_key: Mapped[str | None] = mapped_column(String(200), index=True)
    status: Mapped[LeadStatus] = mapped_column(StrEnumText(LeadStatus, 20), index=True)
    definition_version: Mapped[str | None] = mapped_column(String(64))
    tier: Mapped[str | None] = mapped_column(String(64))
    qualified_at: Mapped[datetime]
    received_at: Mapped[datetime]
    score: Mapped[int | None]
    contact_name: Mapped[str] = mapped_column(String(300))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    contact_title: Mapped[str | None] = mapped_column(String(300))
    contact_phone: Mapped[str | None] = mapped_column(String(64))
    company_name: Mapped[str | None] = mapped_column(String(300))
    company_industry: Mapped[str | None] = mapped_column(String(200))
    company_employees: Mapped[int | None]
    company_domain: Mapped[str | None] = mapped_column(String(255))
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    qualification: Mapped[dict[str, Any]] = mapped_column(default=dict)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    posted_at: Mapped[datetime | None] = mapped_column(index=True)  # reports: handed off when
    owner_id: Mapped[str | None] = mapped_column(String(32), index=True)
    claimed_at: Mapped[datetime | None]
    first_touch_at: Mapped[datetime | None]
    touch_count: Mapped[int] = mapped_column(default=0)
    decided_at: Mapped[datetime | None] = mapped_column(index=True)  # reports: decided when
    decision_reason: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime]
    #: when the last touch was logged: the follow-up cadence counts from it
    last_touch_at: Mapped[datetime | None]
    #: the next instant the reminder sweep must look at this lead (None: nothing pending);
    #: "what is due now" is one range scan of this index, however many leads are stored
    next_due_at: Mapped[datetime | None] = mapped_column(index=True)
    #: facts the reports read instead of re-deriving them per lead, written in the transaction
    #: that makes them true: the first claim ever (a button press or auto-assignment; release,
    #: re-claim and reassignment leave it), and whether the lead has any behaviour history
    first_claimed_at: Mapped[datetime | None]
    has_history: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: business-time facts of the hand-off, measured on the calendar named by ``timing_basis``
    #: (``bot.timings``): the first-contact deadline, and the business microseconds from the
    #: hand-off to the first claim and to the first touch; re-stamped when the calendar changes
    first_contact_due_at: Mapped[datetime | None]
    claim_business_us: Mapped[int | None] = mapped_column(BigInteger)
    contact_business_us: Mapped[int | None] = mapped_column(BigInteger)
    timing_basis: Mapped[str | None] = mapped_column(String(32))
    #: the earliest recorded breach (its deadline), for the open-breaches list
    first_breach_at: Mapped[datetime | None]
    #: the number of the agreement version active when the lead was handed off
    agreement_version: Mapped[int | None]
    #: the SQL's deal as the CRM last reported it (SPEC 10; ``bot.outcomes``): its id, its
    #: amount (exact, in ``deal_currency``, never converted), when it closed (won or lost),
    #: why it was lost (a code of ``[outcomes] loss_reasons``; an unknown reason is ``other``
    #: with the sender's words in ``loss_reason_text``), and where the outcome came from
    deal_id: Mapped[str | None] = mapped_column(String(200), index=True)
    deal_amount: Mapped[Decimal | None] = mapped_column(Money())
    deal_currency: Mapped[str | None] = mapped_column(String(3))
    closed_at: Mapped[datetime | None] = mapped_column(index=True)  # reports: closed when
    loss_reason: Mapped[str | None] = mapped_column(String(64))
    loss_reason_text: Mapped[str | None] = mapped_column(String(200))
    loss_note: Mapped[str | None] = mapped_column(Text)
    outcome_source: Mapped[str | None] = mapped_column(String(20))

    #: a lead's history: never loaded behind the caller's back (``lazy="raise"``): a service
    #: asks the repository for the collections it reads (``LeadRepository.get(..., history=)``)
    activities: Mapped[list[Activity]] = relationship(
        back_populates="lead", cascade="all, delete-orphan", order_by="Activity.at.desc()",
        lazy="raise",
    )
    touches: Mapped[list[Touch]] = relationship(
        back_populates="lead", cascade="all, delete-orphan", order_by="Touch.at", lazy="raise"
    )
    events: Mapped[list[LeadEvent]] = relationship(
        back_populates="lead", cascade="all, delete-orphan", order_by="LeadEvent.id",
        lazy="raise",
    )

    __table_args__ = (
        Index(None, "channel_id", "message_ts"),
        # the open-breaches list, oldest first: a page and its count read only this index
        Index("ix_leads_open_breaches", "first_breach_at", "id",
              postgresql_where=text(OPEN_BREACHED), sqlite_where=text(OPEN_BREACHED)),
    )


class Activity(Base):
    """One behaviour (page view, download, webinar...) from the lead's history."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]
    detail: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)

    lead: Mapped[Lead] = relationship(back_populates="activities", lazy="raise")


class Touch(Base):
    """A rep's contact attempt: call, email, meeting or other."""

    __tablename__ = "touches"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    rep_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]

    lead: Mapped[Lead] = relationship(back_populates="touches", lazy="raise")


class LeadEvent(Base):
    """One lifecycle transition or notable fact: the audit trail and the source of reports."""

    __tablename__ = "lead_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor: Mapped[str | None] = mapped_column(String(64))
    surface: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    lead: Mapped[Lead] = relationship(back_populates="events", lazy="raise")

    __table_args__ = (Index(None, "lead_id", "at"), Index(None, "kind", "at"))


class OutboxMessage(Base):
    """A Slack call the bot owes somebody, kept until Slack confirmed it.

    ``idempotency_key`` makes enqueuing the same notification twice a no-op; workers claim rows
    by ``locked_by``/``locked_until`` so several processes never send one message twice.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[OutboxStatus] = mapped_column(String(20), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    #: an earlier attempt may have reached Slack (crash, timeout, lost answer): look first
    needs_check: Mapped[bool] = mapped_column(default=False, server_default=false())
    not_before: Mapped[datetime]
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    result_channel: Mapped[str | None] = mapped_column(String(32))
    result_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    #: ``(result_channel, result_ts)`` finds the lead a bot post was about when someone
    #: replies under it (e.g. a recycle notice in the marketing feedback channel)
    __table_args__ = (
        Index(None, "status", "not_before"),
        Index(None, "result_channel", "result_ts"),
    )


class Feedback(Base):
    """A person's reply in a lead's thread, kept as feedback on the lead.

    ``(channel_id, ts)`` is the Slack message, so a redelivered event cannot store it twice.
    An edit replaces ``text`` and sets ``edited_at``; a delete clears ``text`` and sets
    ``deleted_at`` — the row stays as a tombstone so a late redelivery cannot bring the text
    back, but the person's words do not.
    """

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    channel_id: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str] = mapped_column(String(32))
    #: the message replied under: the handoff message or a bot post about the lead
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime]
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("channel_id", "ts"),)


class ProcessedEvent(Base):
    """A Slack delivery already acted on: an Events API ``event_id``, or a modal submission's
    key (``view:`` and a digest of the view and what was submitted, see
    ``handlers.payloads.submission_key``).

    Slack redelivers an event it thinks was not acknowledged (``X-Slack-Retry-Num`` 1–3, same
    ``event_id``), and a captured signed request can be replayed for 5 minutes; inserting the
    key in the transaction that acts on the delivery makes every redelivery or replay a no-op,
    even when several arrive at once. Old keys are pruned
    (``bot.feedback.prune_processed_events``): Slack stops retrying within the hour, and a
    signature is refused after 5 minutes.
    """

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)


class LeadNotice(Base):
    """One notice of the reminder plan that was handled: sent, or skipped as superseded.

    The unique (lead, key) pair is what makes each reminder and breach notice go out once,
    whatever the number of sweeping processes; the planned instant and the lateness are kept
    for the reports.
    """

    __tablename__ = "lead_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(120))
    clock: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    deadline: Mapped[datetime]
    planned_at: Mapped[datetime]
    handled_at: Mapped[datetime]
    #: "sent" or "skipped" (a later reminder of the same clock superseded it)
    outcome: Mapped[str] = mapped_column(String(20))
    #: handled later than planned (the bot was down, or the sweep fell behind)
    late: Mapped[bool] = mapped_column(default=False, server_default=false())

    __table_args__ = (UniqueConstraint("lead_id", "key"),)


class AgreementVersion(Base):
    """One version of the agreement both sides work under (SPEC section 9).

    ``policy_text`` is the agreement part of a policy as canonical TOML (``bot.agreement``);
    ``number`` is unique, so two processes recording the same change at once store it once.
    """

    __tablename__ = "agreement_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    policy_text: Mapped[str] = mapped_column(Text)
    policy_hash: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[AgreementStatus] = mapped_column(String(20))
    #: who proposed it: a Slack user id, or "operator" for a version born of the policy file
    proposer: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    effective_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    #: a proposal's change list and its impact on last month's leads, as computed when it was
    #: proposed (``bot.agreement.proposals``); None for versions born of the policy file
    proposal: Mapped[dict[str, Any] | None]

    __table_args__ = (CheckConstraint(_one_of("status", AgreementStatus), name="status"),)


class AgreementApproval(Base):
    """An approver's approval of a version, for their side; one per person and version."""

    __tablename__ = "agreement_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("agreement_versions.id", ondelete="CASCADE")
    )
    user_id: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(20))
    approved_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("version_id", "user_id"),
        CheckConstraint("side IN ('marketing', 'sales')", name="side"),
    )
