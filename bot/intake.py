"""Intake: one path by which every MQL enters, whatever the surface (webhook, CSV, modal, MA tool).

The lead, its behaviour history, its lifecycle event and — when it qualifies — the outbox entry
that will post it are committed in one transaction before anyone is told "accepted"; Slack is
never called here, so intake is fast and nothing accepted is lost when Slack is down.

Deliveries that arrive while others are being stored (an MA tool's burst) wait and are then
stored together by one of them, in one transaction (group commit): a commit and a few
statements per lead cost far more than the rows. Each is still answered only after its own row
is committed, and a group that fails is stored again one delivery at a time, so one bad
delivery answers for itself only.

A delivery is stored once per ``external_id``, whatever the surface. A modal submission also
brings its key (``bot.submissions``), recorded in the transaction that answers it: a replayed
signed submission is answered with nothing and writes nothing.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import unicodedata
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from dataclasses import field as dataclass_field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, overload

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError
from sqlalchemy.exc import IntegrityError

from bot.definition import Qualification, evaluate
from bot.i18n import Translator
from bot.lifecycle import Action, Surface, apply
from bot.policy import Policy
from bot.problems import Problem, pydantic_key
from bot.services import Services
from storage.models import Activity, Lead, LeadStatus
from storage.outbox_kind import OutboxKind
from storage.unit_of_work import GroupCommit, UnitOfWork

log = logging.getLogger(__name__)

MAX_ACTIVITIES = 1000
#: the window a lead's dates must fall in: no marketing tool dates a lead before 2000, and a
#: date ahead of the clock by more than a day (beyond any time zone mistake) is a typo or a
#: placeholder such as 9999-12-31, which would breach or overflow every deadline computed from it
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=1)
#: JSON deeper than this is refused: no intake payload nests more than a few levels
MAX_JSON_DEPTH = 64
#: a refused body names at most this many bad values
MAX_VALUE_PROBLEMS = 20
NUMBER_NOT_TIMESTAMP = (
    "must be an ISO 8601 timestamp with a UTC offset, e.g. 2026-11-24T09:12:00+09:00, not a number"
)
TOO_EARLY = "must not be before 2000-01-01"
TOO_LATE = "must not be more than a day ahead of now"
HAS_NUL = "must not contain NUL characters (\\u0000)"
NOT_FINITE = "must be a finite number, not NaN or Infinity"


def _no_number(value: Any) -> Any:
    """The contract's timestamps carry an offset; a bare number (epoch seconds, as pydantic
    would read it) says nothing about the zone it was meant in, so it is refused."""
    if isinstance(value, bool | int | float):
        raise PydanticCustomError("timestamp_number", NUMBER_NOT_TIMESTAMP)
    if isinstance(value, str):
        try:
            float(value.strip())
        except ValueError:
            return value
        raise PydanticCustomError("timestamp_number", NUMBER_NOT_TIMESTAMP)
    return value


#: an aware instant written with an explicit offset (never a bare number)
Instant = Annotated[AwareDatetime, BeforeValidator(_no_number)]


def _context_now(info: ValidationInfo) -> datetime:
    now = (info.context or {}).get("now")
    if not isinstance(now, datetime):
        raise TypeError("validate intake payloads with parse_data(..., now=clock.now())")
    return now


def in_window(at: datetime, now: datetime) -> str | None:
    """None when ``at`` is a sane date for a lead (see ``EARLIEST``), else what is wrong."""
    if at < EARLIEST:
        return TOO_EARLY
    if at > now + AHEAD:
        return TOO_LATE
    return None


def _sane(value: datetime, info: ValidationInfo) -> datetime:
    problem = in_window(value, _context_now(info))
    if problem is not None:
        raise PydanticCustomError("date_window", problem)
    return value


def _nfkc(value: str) -> str:
    """Full-width and ASCII spellings of an id are one id (``crm-１２３４５`` = ``crm-12345``)."""
    return unicodedata.normalize("NFKC", value).strip()


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
    at: Instant
    detail: _text(10_000) | None = None  # type: ignore[valid-type]


class MqlIn(BaseModel):
    """The canonical intake payload of SPEC section 3; extra fields are kept, not refused.

    Validate it with ``parse_data`` (or ``parse_json``), which passes the clock's ``now``:
    ``qualified_at`` must fall in the sane window (``EARLIEST`` to a day ahead of now), or the
    lead is refused naming the field. An activity dated outside that window is dropped instead,
    and the lead kept: activities are history that vendor tools fill from whatever date field
    they have (an empty date read as 1970, a placeholder far ahead), so refusing the person for
    one implausible past event would lose a real hand-off; and an activity "from the future"
    must not count as recent behaviour toward the MQL definition either.
    """

    model_config = ConfigDict(extra="allow")

    external_id: Annotated[_text(200, 1), AfterValidator(_nfkc)]  # type: ignore[valid-type]
    source: _text(64, 1)  # type: ignore[valid-type]
    qualified_at: Annotated[Instant, AfterValidator(_sane)]
    contact: ContactIn
    company: CompanyIn | None = None
    score: Annotated[StrictInt, Field(ge=-1_000_000, le=1_000_000)] | None = None
    activities: Annotated[list[ActivityIn], Field(max_length=MAX_ACTIVITIES)] = []

    @model_validator(mode="after")
    def _drop_implausible_activities(self, info: ValidationInfo) -> MqlIn:
        now = _context_now(info)
        kept = [a for a in self.activities if in_window(a.at, now) is None]
        if len(kept) != len(self.activities):
            log.info("intake: dropped %d activit(y/ies) dated outside the sane window",
                     len(self.activities) - len(kept))
            self.activities = kept
        return self


@dataclass(frozen=True)
class FieldError:
    """One bad field: ``message`` in English (the webhooks' answer); ``key`` and ``params``
    say it in a person's language (``text``)."""

    field: str
    message: str
    key: str | None = dataclass_field(default=None, compare=False)
    params: Mapping[str, Any] = dataclass_field(default_factory=dict, compare=False)

    def text(self, t: Translator) -> str:
        """The message in ``t``'s language (English as written)."""
        return Problem(self.field, self.message, self.key, self.params).text(t)

    def moved(self, field: str) -> FieldError:
        """The same problem under another name (a CSV column for a payload field)."""
        return FieldError(field, self.message, self.key, self.params)


class InvalidLead(ValueError):
    """The payload does not follow the intake contract; ``errors`` name each bad field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


#: our own error types (``PydanticCustomError``) → catalog keys
_INTAKE_KEYS = {"timestamp_number": "cli.validation.intake.timestamp_number"}


def field_errors(exc: ValidationError,
                 own_keys: Mapping[str, str] | None = None) -> list[FieldError]:
    """Each of pydantic's errors as a ``FieldError``; ``own_keys`` maps a payload's own error
    types (``PydanticCustomError``) to catalog keys, their context filling the template."""
    keys = {**_INTAKE_KEYS, **(own_keys or {})}
    errors = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "(body)"
        message = error["msg"]
        key, params = pydantic_key(error)
        if error["type"] == "missing":
            message = "required"
        elif error["type"] == "timezone_aware":
            message = (
                "must be an ISO 8601 timestamp with a UTC offset, e.g. 2026-11-24T09:12:00+09:00"
            )
        elif error["type"] in keys:
            key = keys[error["type"]]
        elif error["type"] == "date_window":
            key = "cli.validation.intake.too_early" if message == TOO_EARLY else \
                "cli.validation.intake.too_late"
        errors.append(FieldError(location, message, key, params))
    return errors


def parse_json(body: bytes | str, *, now: datetime) -> MqlIn:
    """Parse and validate a JSON body; ``InvalidLead`` on any problem (JSON syntax included)."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidLead([FieldError("(body)", "not valid UTF-8",
                                          "cli.validation.intake.not_utf8")]) from None
    return _validate(load_json(body), now)  # load_json has checked its values


def parse_data(data: Any, *, now: datetime) -> MqlIn:
    """Validate the canonical payload, whatever surface built it (webhook, vendor adapter, CSV,
    modal): its values (``value_problems``), its fields, its dates against ``now``."""
    problems = value_problems(data)
    if problems:
        raise InvalidLead(problems)
    return _validate(data, now)


def _validate(data: Any, now: datetime) -> MqlIn:
    try:
        return MqlIn.model_validate(data, context={"now": now})
    except ValidationError as exc:
        raise InvalidLead(field_errors(exc)) from None


# --------------------------------------------------------------------------- JSON bodies


class _Duplicated(dict[str, Any]):
    """A JSON object that had ``key`` more than once (json keeps the last, silently)."""

    def __init__(self, pairs: list[tuple[str, Any]], key: str) -> None:
        super().__init__(pairs)
        self.duplicate = key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    built = dict(pairs)
    if len(built) == len(pairs):
        return built
    keys: set[str] = set()
    for key, _ in pairs:  # the first repeated key, to name it
        if key in keys:
            return _Duplicated(pairs, key)
        keys.add(key)
    raise AssertionError("unreachable: fewer keys than pairs means a repeat")


def load_json(text: str) -> Any:
    """Every HTTP intake body as JSON (``/webhooks/mql`` and the vendor endpoints alike).

    Stricter than ``json.loads``, which keeps the last of duplicate keys, reads ``NaN``,
    ``Infinity`` and ``1e999`` (not JSON numbers, RFC 8259), and overflows the stack on deep
    nesting: each of those is an ``InvalidLead`` naming the field (``value_problems`` finds
    them with their paths) or the body, so the client gets a 400, never a 500 or a silent pick.
    """
    try:
        value = json.loads(text, object_pairs_hook=_object)
    except RecursionError:
        raise InvalidLead([FieldError("(body)", f"nested more than {MAX_JSON_DEPTH} levels "
                                                "deep", "cli.validation.intake.nested",
                                      {"levels": MAX_JSON_DEPTH})]) from None
    except ValueError:
        raise InvalidLead([FieldError("(body)", "not valid JSON",
                                      "cli.validation.intake.not_json")]) from None
    problems = value_problems(value)
    if problems:
        raise InvalidLead(problems)
    return value


def value_problems(value: Any) -> list[FieldError]:
    """What no stored lead may hold, anywhere in a payload (extra fields included): a NUL
    character (PostgreSQL text and JSON refuse it), a NaN or infinite number (not JSON), a
    duplicated key, nesting deeper than ``MAX_JSON_DEPTH``. Each named by its path.

    On every delivery's path: the path is kept as a linked trail and spelled out only for a
    problem, so a clean payload costs one visit per value.
    """
    problems: list[FieldError] = []
    stack: list[tuple[Any, int, _Trail]] = [(value, 0, None)]
    while stack and len(problems) < MAX_VALUE_PROBLEMS:
        item, depth, trail = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                problems.append(FieldError(_path(trail), HAS_NUL, "cli.validation.intake.nul"))
        elif isinstance(item, float):
            if not math.isfinite(item):
                problems.append(FieldError(_path(trail), NOT_FINITE, "cli.validation.finite"))
        elif isinstance(item, dict | list | tuple) and depth >= MAX_JSON_DEPTH:
            # named by its top-level field: the full path would be as long as the nesting
            while trail is not None and trail[0] is not None:
                trail = trail[0]
            problems.append(FieldError(_path(trail),
                                       f"nested more than {MAX_JSON_DEPTH} levels deep",
                                       "cli.validation.intake.nested",
                                       {"levels": MAX_JSON_DEPTH}))
        elif isinstance(item, dict):
            if isinstance(item, _Duplicated):
                problems.append(FieldError(_path((trail, item.duplicate)),
                                           "appears more than once in its object",
                                           "cli.validation.intake.duplicate_key"))
            for key, child in reversed(list(item.items())):
                if isinstance(key, str) and "\x00" in key:
                    problems.append(FieldError(_path(trail), "a key " + HAS_NUL,
                                               "cli.validation.intake.key_nul"))
                    continue
                stack.append((child, depth + 1, (trail, key)))
        elif isinstance(item, list | tuple):
            for index in range(len(item) - 1, -1, -1):
                stack.append((item[index], depth + 1, (trail, index)))
    return problems


#: where a value sits: (the parent's trail, its key or index); None is the body itself
_Trail = tuple[Any, Any] | None


def _path(trail: _Trail) -> str:
    """``contact.name``, ``activities.0.at``; a long or unprintable key is shortened (the path
    is echoed in the answer and logged)."""
    segments: list[str] = []
    while trail is not None:
        trail, key = trail
        segment = "".join(ch if ch.isprintable() else "?" for ch in str(key))
        segments.append(segment if len(segment) <= 40 else segment[:39] + "…")
    return ".".join(reversed(segments)) or "(body)"


IntakeStatus = Literal["queued", "duplicate", "not_qualified"]


@dataclass(frozen=True)
class IntakeResult:
    lead_id: int
    status: IntakeStatus
    reasons: list[str] = field(default_factory=list)
    #: the reasons as codes and values, for people (translated); not part of the answer
    reason_codes: list[dict[str, Any]] = field(default_factory=list)

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


@overload
def accept(services: Services, mql: MqlIn, *, surface: Surface, actor: str | None = None,
           submission: None = None) -> IntakeResult: ...


@overload
def accept(services: Services, mql: MqlIn, *, surface: Surface, actor: str | None = None,
           submission: str | None) -> IntakeResult | None: ...


def accept(
    services: Services,
    mql: MqlIn,
    *,
    surface: Surface,
    actor: str | None = None,
    submission: str | None = None,
) -> IntakeResult | None:
    """Store the lead once per ``external_id``; queue its handoff when it qualifies.

    ``submission`` is a modal submission's key: recorded in the same transaction as the
    answer, and None (nothing written) when it was recorded before, i.e. for a replay.
    Deliveries that arrive together are stored together (``GroupCommit``): one transaction
    for the group instead of one per lead, each delivery answered once its group is committed.
    Never call it inside a unit of work: on SQLite it may wait for a leader who waits for the
    writer lock that unit holds.
    """
    now = services.clock.now()
    # Built and judged before the unit of work: on SQLite it holds the process's one writer
    # lock, which every other delivery of a burst is waiting for.
    admission = prepare(services.policy, mql, now=now, surface=surface, actor=actor)
    delivery = _Delivery(services, admission, now, mql.source, surface, submission)
    _group_commit(services).submit(delivery)
    if delivery.error is not None:
        raise delivery.error
    if delivery.replayed:
        return None
    assert delivery.result is not None
    return delivery.result


@dataclass(eq=False)
class _Delivery:
    """One delivery waiting for its group; the leader fills in ``result`` or ``error``."""

    services: Services
    admission: Admission
    now: datetime
    source: str
    surface: Surface
    #: a modal submission's key (``bot.submissions``), recorded with the answer
    submission: str | None = None
    result: IntakeResult | None = None
    #: the submission was recorded before: a replay, answered with nothing
    replayed: bool = False
    error: Exception | None = None

    def first_time(self, uow: UnitOfWork) -> bool:
        """Record the submission's key in ``uow``; False (and ``replayed``) if it was before."""
        if self.submission is not None and not uow.processed_events.claim(self.submission,
                                                                          self.now):
            self.replayed = True
            return False
        return True

    @property
    def external_id(self) -> str:
        return str(self.admission.lead.external_id)


#: one group commit per unit-of-work factory (per database of a ``Services``); a group holds
#: no reference to its factory, so both go when the ``Services`` does
_GROUPS: weakref.WeakKeyDictionary[Any, GroupCommit[_Delivery]] = weakref.WeakKeyDictionary()
_GROUPS_LOCK = threading.Lock()


def _group_commit(services: Services) -> GroupCommit[_Delivery]:
    factory = services.uow
    group = _GROUPS.get(factory)
    if group is None:
        with _GROUPS_LOCK:
            group = _GROUPS.get(factory)
            if group is None:
                group = GroupCommit(_store_group, getattr(factory, "writer_lock", None))
                _GROUPS[factory] = group
    return group


def _store_group(deliveries: list[_Delivery]) -> None:
    """Store a group of deliveries in one transaction; if that fails, each alone, so a bad one
    (or a duplicate another process committed meanwhile) answers for itself only."""
    if len(deliveries) > 1:
        try:
            with deliveries[0].services.unit_of_work() as uow:
                results = _store_together(uow, deliveries)
                uow.commit()
        except Exception as exc:
            # the type only: a database error's text quotes the lead's data
            log.warning("a group of %d deliveries failed (%s): storing each alone",
                        len(deliveries), type(exc).__name__)
        else:
            for delivery, result in zip(deliveries, results, strict=True):
                delivery.result = result
                _accepted(delivery)
            return
    for delivery in deliveries:
        delivery.replayed = False  # the group's transaction was rolled back
        try:
            delivery.result = _store_alone(delivery)
        except Exception as exc:
            delivery.error = exc
            continue
        _accepted(delivery)


def _store_together(uow: UnitOfWork, deliveries: list[_Delivery]) -> list[IntakeResult | None]:
    """What ``_store_alone`` does, for many deliveries in the caller's unit of work: one query
    for the ids already stored, then one insert per table. A second delivery of an id in the
    same group is a duplicate of the first; a replayed submission is answered with None."""
    # replays drop out here; ``everyone`` is still answered in order
    everyone, deliveries = deliveries, [d for d in deliveries if d.first_time(uow)]
    existing = uow.leads.find_many_external([d.external_id for d in deliveries])
    first: dict[str, _Delivery] = {}
    for delivery in deliveries:
        if delivery.external_id not in existing:
            first.setdefault(delivery.external_id, delivery)
    fresh = list(first.values())
    lead_ids = uow.leads.insert_many_new([d.admission.lead for d in fresh])
    stored: dict[str, IntakeResult] = {}
    handoffs = []
    for delivery, lead_id in zip(fresh, lead_ids, strict=True):
        qualification = delivery.admission.qualification
        if qualification.qualified:
            handoffs.append({
                "key": f"{OutboxKind.HANDOFF}:{lead_id}", "kind": OutboxKind.HANDOFF,
                "now": delivery.now,
                "lead_id": lead_id, "channel": delivery.services.policy.channels.handoff,
                "payload": {},
            })
            stored[delivery.external_id] = IntakeResult(lead_id, "queued", [])
        else:
            stored[delivery.external_id] = IntakeResult(
                lead_id, "not_qualified", list(qualification.reasons),
                list(qualification.reason_codes))
    uow.outbox.insert_many_new(handoffs)
    results: list[IntakeResult | None] = []
    for delivery in everyone:
        if delivery.replayed:
            results.append(None)
            continue
        if delivery.external_id in existing:
            results.append(_duplicate(*existing[delivery.external_id]))
        elif first[delivery.external_id] is delivery:
            results.append(stored[delivery.external_id])
        else:
            original = first[delivery.external_id].admission.qualification
            results.append(IntakeResult(stored[delivery.external_id].lead_id, "duplicate",
                                        list(original.reasons), list(original.reason_codes)))
    return results


def _store_alone(delivery: _Delivery) -> IntakeResult | None:
    """The delivery in a transaction of its own; None for a replayed submission."""
    services = delivery.services
    try:
        with services.unit_of_work() as uow:
            if not delivery.first_time(uow):
                return None
            existing = uow.leads.find_external(delivery.external_id)
            result = (_duplicate(*existing) if existing is not None
                      else store(uow, services.policy, delivery.admission, now=delivery.now))
            uow.commit()
    except IntegrityError:
        # Another delivery of the same external_id committed first: answer as a duplicate.
        with services.unit_of_work() as uow:
            if not delivery.first_time(uow):
                return None
            existing = uow.leads.find_external(delivery.external_id)
            if existing is None:
                raise
            uow.commit()
        return _duplicate(*existing)
    return result


def _accepted(delivery: _Delivery) -> None:
    """After the commit: log a new lead, wake this process's outbox worker if it was queued."""
    result = delivery.result
    if result is None or result.status == "duplicate":  # a replay, or stored before
        return
    # ids only: ``source`` is the sender's free text (an email has been seen there)
    log.info("lead %s accepted via %s: %s", result.lead_id, delivery.surface.value,
             "queued" if result.status == "queued" else "not qualified")
    if result.status == "queued":
        # this process's worker posts it without waiting to poll
        delivery.services.outbox_ready.set()


def _duplicate(lead_id: int, qualification: dict[str, Any]) -> IntakeResult:
    return IntakeResult(lead_id, "duplicate", list(qualification.get("reasons", [])),
                        list(qualification.get("reason_codes", [])))


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
    return replace(qualification, qualified=False, reasons=(*vetoes, *qualification.reasons),
                   reason_codes=(*({"code": "veto", "text": v} for v in vetoes),
                                 *qualification.reason_codes))


def store(uow: UnitOfWork, policy: Policy, admission: Admission, *, now: datetime) -> IntakeResult:
    """Insert a prepared lead in the caller's unit of work (not committed); queue its handoff if
    it qualifies. The caller commits, then sets ``services.outbox_ready`` when ``queued``."""
    lead, qualification = admission.lead, admission.qualification
    lead_id = uow.leads.insert_new(lead)
    if qualification.qualified:
        uow.outbox.insert_new(
            key=f"{OutboxKind.HANDOFF}:{lead_id}",
            kind=OutboxKind.HANDOFF,
            now=now,
            lead_id=lead_id,
            channel=policy.channels.handoff,
            payload={},
        )
        return IntakeResult(lead_id, "queued", [])
    return IntakeResult(lead_id, "not_qualified", list(qualification.reasons),
                        list(qualification.reason_codes))
