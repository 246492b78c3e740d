"""Intake: one path by which every MQL enters, whatever the surface (webhook, CSV, modal, MA tool).

The lead, its behaviour history, its lifecycle event and — when it qualifies — the outbox entry
that will post it are committed in one transaction before anyone is told "accepted"; Slack is
never called here, so intake is fast and nothing accepted is lost when Slack is down.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
)
from sqlalchemy.exc import IntegrityError

from bot.definition import Qualification, evaluate
from bot.lifecycle import Action, Surface, apply
from bot.policy import Policy
from bot.services import Services
from storage.models import Activity, Lead, LeadStatus
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

HANDOFF_KIND = "handoff"
MAX_ACTIVITIES = 1000


def _text(max_length: int, min_length: int = 0) -> Any:
    return Annotated[
        StrictStr,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
    ]


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: _text(300, 1)  # type: ignore[valid-type]
    email: _text(320) | None = None  # type: ignore[valid-type]
    title: _text(300) | None = None  # type: ignore[valid-type]
    phone: _text(64) | None = None  # type: ignore[valid-type]


class CompanyIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: _text(300) | None = None  # type: ignore[valid-type]
    industry: _text(200) | None = None  # type: ignore[valid-type]
    employees: Annotated[StrictInt, Field(ge=0, le=10_000_000)] | None = None
    domain: _text(255) | None = None  # type: ignore[valid-type]


class ActivityIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: _text(100, 1)  # type: ignore[valid-type]
    at: AwareDatetime
    detail: _text(10_000) | None = None  # type: ignore[valid-type]


class MqlIn(BaseModel):
    """The canonical intake payload of SPEC section 3; extra fields are kept, not refused."""

    model_config = ConfigDict(extra="allow")

    external_id: _text(200, 1)  # type: ignore[valid-type]
    source: _text(64, 1)  # type: ignore[valid-type]
    qualified_at: AwareDatetime
    contact: ContactIn
    company: CompanyIn | None = None
    score: Annotated[StrictInt, Field(ge=-1_000_000, le=1_000_000)] | None = None
    activities: Annotated[list[ActivityIn], Field(max_length=MAX_ACTIVITIES)] = []


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class InvalidLead(ValueError):
    """The payload does not follow the intake contract; ``errors`` name each bad field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


def field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "(body)"
        message = error["msg"]
        if error["type"] == "missing":
            message = "required"
        elif error["type"] == "timezone_aware":
            message = (
                "must be an ISO 8601 timestamp with a UTC offset, e.g. 2026-11-24T09:12:00+09:00"
            )
        errors.append(FieldError(location, message))
    return errors


def parse_json(body: bytes | str) -> MqlIn:
    """Parse and validate a JSON body; ``InvalidLead`` on any problem (JSON syntax included)."""
    try:
        return MqlIn.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise InvalidLead([FieldError("(body)", "not valid JSON")]) from None
        raise InvalidLead(field_errors(exc)) from None


def parse_data(data: dict[str, Any]) -> MqlIn:
    try:
        return MqlIn.model_validate(data)
    except ValidationError as exc:
        raise InvalidLead(field_errors(exc)) from None


IntakeStatus = Literal["queued", "duplicate", "not_qualified"]


@dataclass(frozen=True)
class IntakeResult:
    lead_id: int
    status: IntakeStatus
    reasons: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"lead_id": self.lead_id, "status": self.status, "reasons": self.reasons}


def _extras(mql: MqlIn) -> dict[str, Any]:
    extra: dict[str, Any] = dict(mql.model_extra or {})
    if mql.contact.model_extra:
        extra["contact"] = dict(mql.contact.model_extra)
    if mql.company is not None and mql.company.model_extra:
        extra["company"] = dict(mql.company.model_extra)
    return extra


def build_lead(mql: MqlIn, now: Any) -> Lead:
    company = mql.company or CompanyIn()
    return Lead(
        external_id=mql.external_id,
        source=mql.source,
        status=LeadStatus.RECEIVED,
        qualified_at=mql.qualified_at,
        received_at=now,
        updated_at=now,
        score=mql.score,
        contact_name=mql.contact.name,
        contact_email=mql.contact.email,
        contact_title=mql.contact.title,
        contact_phone=mql.contact.phone,
        company_name=company.name,
        company_industry=company.industry,
        company_employees=company.employees,
        company_domain=company.domain,
        extra=_extras(mql),
        activities=[
            Activity(type=a.type, at=a.at, detail=a.detail, extra=dict(a.model_extra or {}))
            for a in mql.activities
        ],
        touch_count=0,
        has_history=bool(mql.activities),  # the reports read this flag, not the rows
    )


def accept(
    services: Services,
    mql: MqlIn,
    *,
    surface: Surface,
    actor: str | None = None,
) -> IntakeResult:
    """Store the lead once per ``external_id``; queue its handoff when it qualifies."""
    try:
        return _accept(services, mql, surface=surface, actor=actor)
    except IntegrityError:
        # Another delivery of the same external_id committed first: answer as a duplicate.
        with services.unit_of_work() as uow:
            existing = uow.leads.find_external(mql.external_id)
            if existing is None:
                raise
            return _duplicate(*existing)


def _duplicate(lead_id: int, qualification: dict[str, Any]) -> IntakeResult:
    return IntakeResult(lead_id, "duplicate", list(qualification.get("reasons", [])))


def _accept(
    services: Services,
    mql: MqlIn,
    *,
    surface: Surface,
    actor: str | None,
) -> IntakeResult:
    now = services.clock.now()
    # Built and judged before the unit of work: on SQLite it holds the process's one writer
    # lock, which every other delivery of a burst is waiting for.
    admission = prepare(services.policy, mql, now=now, surface=surface, actor=actor)
    with services.unit_of_work() as uow:
        existing = uow.leads.find_external(mql.external_id)
        if existing is not None:
            return _duplicate(*existing)
        result = store(uow, services.policy, admission, now=now)
        uow.commit()
    log.info("lead %s accepted from %s via %s: %s", result.lead_id, mql.source, surface.value,
             "queued" if result.status == "queued" else "not qualified")
    if result.status == "queued":
        services.outbox_ready.set()  # this process's worker posts it without waiting to poll
    return result


@dataclass(frozen=True)
class Admission:
    """A new lead, judged and with its lifecycle event, not yet stored."""

    lead: Lead
    qualification: Qualification


def prepare(
    policy: Policy,
    mql: MqlIn,
    *,
    now: datetime,
    surface: Surface,
    actor: str | None = None,
    contact_key: str | None = None,
    vetoes: Sequence[str] = (),
    event: dict[str, Any] | None = None,
) -> Admission:
    """Build and judge a new lead without the database; ``store`` then inserts it.

    For the vendor adapters (``bot.adapters``): ``contact_key`` is the tool's id for the person,
    ``vetoes`` are the tool's own reasons why this is not an MQL (see ``veto``), and ``event``
    names the vendor event in the lifecycle event's data.
    """
    lead = build_lead(mql, now)
    lead.contact_key = contact_key
    qualification = veto(evaluate(lead, policy, now), vetoes)
    lead.definition_version = qualification.version
    lead.tier = qualification.tier
    lead.qualification = qualification.as_json()
    action = Action.QUALIFY if qualification.qualified else Action.DISQUALIFY
    data: dict[str, Any] = {"version": qualification.version, "tier": qualification.tier}
    if event:
        data["event"] = event
    apply(lead, action, at=now, surface=surface, actor=actor, data=data)
    return Admission(lead, qualification)


def veto(qualification: Qualification, vetoes: Sequence[str]) -> Qualification:
    """A vendor tool's own reasons why this is not an MQL (e.g. a HubSpot lifecycle stage) keep
    the lead from qualifying whatever the definition says; they come first among the reasons."""
    if not vetoes:
        return qualification
    return replace(qualification, qualified=False, reasons=(*vetoes, *qualification.reasons))


def store(uow: UnitOfWork, policy: Policy, admission: Admission, *, now: datetime) -> IntakeResult:
    """Insert a prepared lead in the caller's unit of work (not committed); queue its handoff if
    it qualifies. The caller commits, then sets ``services.outbox_ready`` when ``queued``."""
    lead, qualification = admission.lead, admission.qualification
    lead_id = uow.leads.insert_new(lead)
    if qualification.qualified:
        uow.outbox.insert_new(
            key=f"{HANDOFF_KIND}:{lead_id}",
            kind=HANDOFF_KIND,
            now=now,
            lead_id=lead_id,
            channel=policy.channels.handoff,
            payload={},
        )
        return IntakeResult(lead_id, "queued", [])
    return IntakeResult(lead_id, "not_qualified", list(qualification.reasons))
