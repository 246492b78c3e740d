"""Deal outcomes (SPEC 10): how each SQL ended, as the CRM reports it, on the lead.

One path for every surface (``POST /webhooks/outcome``, ``sla-bot import-outcomes``, HubSpot
deals): a payload is validated by ``parse_data`` (the intake's JSON rules and date window),
then ``record_outcome`` moves the lead ``converted → won | lost`` (or back to ``converted``
while the deal is open again) with ``bot.lifecycle.apply`` — an event row per outcome, so a
later outcome corrects an earlier one and the trail keeps both — and sets the lead's deal
columns, in one transaction with what the outcome owes (the outbound webhook, Slack).

Answers: ``recorded``; ``duplicate`` when the lead already has this outcome of this deal (the
same delivery again, however many arrive at once: the lead's row is locked while it is
compared and changed); ``unknown_lead`` and ``not_converted`` (a lead that never became an
SQL) write nothing.

Amounts stay exact (``Decimal``) in their own currency, checked against ISO 4217 and its
minor units; a loss reason is recorded as a code of ``[outcomes] loss_reasons``, and one not
listed as ``other`` with the sender's words kept.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from bot.currencies import minor_units
from bot.intake import FieldError, Instant, InvalidLead, _nfkc, _sane, _text, field_errors
from bot.intake import value_problems as intake_value_problems
from bot.lifecycle import SQL_STATUSES, Action, Surface, apply
from bot.outbound_webhook import CRM_SOURCES, queue_outcome
from bot.outcome_notices import announce
from bot.policy import OTHER_LOSS_REASON, Policy
from bot.services import Services
from storage.models import Lead, LeadEvent, LeadStatus
from storage.types import MONEY_PLACES
from storage.unit_of_work import UnitOfWork

__all__ = [
    "CRM_SOURCES",
    "InvalidOutcome",
    "OutcomeIn",
    "OutcomeInput",
    "OutcomeResult",
    "OutcomeSource",
    "exact_text",
    "loss_reason",
    "parse_data",
    "record_in",
    "record_outcome",
]

log = logging.getLogger(__name__)

Outcome = Literal["won", "lost", "open"]
OutcomeStatus = Literal["recorded", "duplicate", "unknown_lead", "not_converted"]
#: where an outcome came from, stored with the lead (``leads.outcome_source``) and its event
OutcomeSource = Literal["api", "csv", "hubspot"]

#: the action each reported outcome takes, and the outcome each SQL state stands for
ACTIONS: dict[str, Action] = {"won": Action.WIN, "lost": Action.LOSE, "open": Action.REOPEN}
OUTCOME_OF: dict[LeadStatus, str] = {
    LeadStatus.WON: "won", LeadStatus.LOST: "lost", LeadStatus.CONVERTED: "open",
}

#: the largest lead id (``leads.id`` is a 32-bit integer on PostgreSQL)
MAX_LEAD_ID = 2**31 - 1
#: no deal is worth more than this in any currency (it keeps sums far from overflowing)
MAX_AMOUNT = Decimal(10) ** 14
NOTE_MAX = 3000
REASON_MAX = 200
NOT_A_NUMBER = "must be a number, e.g. 1200000"
#: where a person reads the payload's problems in their language (the import's rejected rows)
_KEYS = "cli.validation.outcome"
#: the payload's own error types → catalog keys
_OWN_KEYS = {
    "amount_type": f"{_KEYS}.number",
    "amount_finite": "cli.validation.finite",
    "amount_negative": f"{_KEYS}.negative",
    "amount_too_large": f"{_KEYS}.too_large",
    "amount_places": f"{_KEYS}.places",
    "currency_code": f"{_KEYS}.currency",
}


class InvalidOutcome(InvalidLead):
    """The payload does not follow the outcome contract; ``errors`` name each bad field."""


# --------------------------------------------------------------------------- the payload


def _amount(value: Any) -> Any:
    """A JSON number (or a Decimal the CSV reader made) as an exact ``Decimal``."""
    if isinstance(value, bool) or value is None:
        if value is None:
            return None
        raise PydanticCustomError("amount_type", NOT_A_NUMBER)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("amount_finite", "must be a finite number")
        return Decimal(repr(value))  # the shortest text that reads back as this float
    if isinstance(value, int | Decimal):
        return Decimal(value)
    raise PydanticCustomError("amount_type", NOT_A_NUMBER)


def _amount_range(value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    if not value.is_finite():
        raise PydanticCustomError("amount_finite", "must be a finite number")
    if value < 0:
        raise PydanticCustomError("amount_negative", "must not be negative")
    if value >= MAX_AMOUNT:
        raise PydanticCustomError("amount_too_large", "must be less than 100,000,000,000,000")
    if value != value.quantize(Decimal(1).scaleb(-MONEY_PLACES)):
        raise PydanticCustomError("amount_places", "must have at most {places} decimal places",
                                  {"places": MONEY_PLACES})
    return value


def _places_in_currency(amount: Decimal, currency: str) -> list[FieldError]:
    """An amount finer than its currency's minor unit (¥1.5, $0.001) is refused."""
    places = minor_units(currency) or 0
    if amount == amount.quantize(Decimal(1).scaleb(-places)):
        return []
    if places == 0:
        return [FieldError("amount", f"must be a whole number in {currency}",
                           f"{_KEYS}.whole_in_currency", {"currency": currency})]
    return [FieldError("amount", f"must have at most {places} decimal places in {currency}",
                       f"{_KEYS}.places_in_currency", {"places": places, "currency": currency})]


def _currency(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # refused as not a string by the field's own type
    code = unicodedata.normalize("NFKC", value).strip().upper()
    if minor_units(code) is None:
        raise PydanticCustomError("currency_code",
                                  "must be an ISO 4217 currency code, e.g. JPY, USD, EUR")
    return code


def _outcome(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


class OutcomeIn(BaseModel):
    """The outcome payload of SPEC 10. Unknown fields are refused: a misspelt ``ammount``
    must not record a deal without its amount. Validate it with ``parse_data``."""

    model_config = ConfigDict(extra="forbid")

    external_id: Annotated[_text(200, 1), AfterValidator(_nfkc)] | None = None  # type: ignore[valid-type]
    lead_id: Annotated[StrictInt, Field(ge=1, le=MAX_LEAD_ID)] | None = None
    outcome: Annotated[Outcome, BeforeValidator(_outcome)]
    amount: Annotated[Decimal | None, BeforeValidator(_amount),
                      AfterValidator(_amount_range)] = None
    currency: Annotated[_text(10, 1), BeforeValidator(_currency)] | None = None  # type: ignore[valid-type]
    closed_at: Annotated[Instant, AfterValidator(_sane)] | None = None
    reason: _text(REASON_MAX) | None = None  # type: ignore[valid-type]
    note: _text(NOTE_MAX) | None = None  # type: ignore[valid-type]
    deal_id: Annotated[_text(200, 1), AfterValidator(_nfkc)] | None = None  # type: ignore[valid-type]


def _together(model: OutcomeIn) -> list[FieldError]:
    """What no single field can say: which lead, and which fields go with which outcome."""
    problems: list[FieldError] = []
    if model.external_id is None and model.lead_id is None:
        problems.append(FieldError("external_id", "required: external_id or lead_id",
                                   f"{_KEYS}.lead_required"))
    elif model.external_id is not None and model.lead_id is not None:
        problems.append(FieldError("lead_id", "give external_id or lead_id, not both",
                                   f"{_KEYS}.lead_both"))
    if model.amount is not None:
        if model.currency is None:
            problems.append(FieldError("currency", "required with an amount",
                                       f"{_KEYS}.currency_required"))
        else:
            problems += _places_in_currency(model.amount, model.currency)
    if model.outcome == "open" and model.closed_at is not None:
        problems.append(FieldError("closed_at", "only for a won or lost outcome",
                                   f"{_KEYS}.closed_only"))
    if model.outcome != "lost" and model.reason:
        problems.append(FieldError("reason", "only for a lost outcome", f"{_KEYS}.reason_only"))
    return problems


@dataclass(frozen=True)
class OutcomeInput:
    """A validated outcome, whichever surface it came from. ``contact_key`` finds the lead by
    the marketing tool's id for the person (a CRM adapter), when neither id is known."""

    outcome: Outcome
    lead_id: int | None = None
    external_id: str | None = None
    contact_key: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    closed_at: datetime | None = None
    reason: str | None = None
    note: str | None = None
    deal_id: str | None = None


def parse_data(data: Any, *, now: datetime) -> OutcomeInput:
    """Validate a payload (decoded JSON, or a CSV row as a dict); ``InvalidOutcome`` naming
    every bad field. The intake's value rules apply (no NUL, NaN, duplicated keys), and
    ``closed_at`` must fall in its date window."""
    problems = intake_value_problems(data)
    if problems:
        raise InvalidOutcome(problems)
    try:
        model = OutcomeIn.model_validate(data, context={"now": now})
    except ValidationError as exc:
        raise InvalidOutcome(field_errors(exc, _OWN_KEYS)) from None
    problems = _together(model)
    if problems:
        raise InvalidOutcome(problems)
    return OutcomeInput(
        outcome=model.outcome, lead_id=model.lead_id, external_id=model.external_id,
        amount=model.amount, currency=model.currency, closed_at=model.closed_at,
        reason=model.reason or None, note=model.note or None, deal_id=model.deal_id,
    )


def loss_reason(text: str | None, policy: Policy) -> tuple[str | None, str | None]:
    """The reason as a configured code, and the sender's words when no code matched.

    ``"Competitor"``, ``"lost-contact"`` and ``"lost contact"`` read as their codes; anything
    else is ``other`` with the text kept for people to read.
    """
    if not text:
        return None, None
    code = re.sub(r"[\s\-]+", "_", unicodedata.normalize("NFKC", text).strip().lower())
    if code in policy.outcomes.loss_reasons:
        return code, None
    return OTHER_LOSS_REASON, text.strip()[:REASON_MAX]


# --------------------------------------------------------------------------- recording


@dataclass(frozen=True)
class OutcomeResult:
    lead_id: int | None
    status: OutcomeStatus
    #: the outcome's lifecycle event, when one was recorded
    event_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"lead_id": self.lead_id, "status": self.status}


def record_outcome(
    services: Services, data: OutcomeInput, *, source: OutcomeSource, surface: Surface,
) -> OutcomeResult:
    """Record ``data`` in a transaction of its own (see ``record_in``)."""
    with services.unit_of_work() as uow:
        result = record_in(services, uow, data, source=source, surface=surface)
        if result.status == "recorded":
            uow.commit()
    if result.status == "recorded":
        services.outbox_ready.set()  # this process's worker sends what it owes without polling
        log.info("lead %s outcome %s recorded via %s (event %s)", result.lead_id, data.outcome,
                 source, result.event_id)
    return result


def record_in(
    services: Services, uow: UnitOfWork, data: OutcomeInput, *, source: OutcomeSource,
    surface: Surface,
) -> OutcomeResult:
    """Record ``data`` in the caller's unit of work (not committed: the caller commits when
    ``recorded``; nothing is written otherwise).

    The lead's row is locked (PostgreSQL; SQLite has one writer) before it is compared, so of
    concurrent deliveries of one outcome exactly one records it and the others see it done.
    """
    lead = _locked_lead(uow, data)
    if lead is None:
        return OutcomeResult(None, "unknown_lead")
    status = lead.status
    if status not in SQL_STATUSES:
        return OutcomeResult(lead.id, "not_converted")
    deal_id = data.deal_id or lead.deal_id  # no deal id: the deal the lead already has
    if (lead.outcome_source is not None and OUTCOME_OF[status] == data.outcome
            and deal_id == lead.deal_id):
        return OutcomeResult(lead.id, "duplicate")
    now = services.clock.now()
    reason, reason_text = (loss_reason(data.reason, services.policy)
                           if data.outcome == "lost" else (None, None))
    if data.amount is not None:
        amount, currency = data.amount, data.currency
    elif deal_id == lead.deal_id:
        amount, currency = lead.deal_amount, lead.deal_currency  # the same deal: kept
    else:
        amount, currency = None, None
    closed_at = None if data.outcome == "open" else (data.closed_at or now)
    event = apply(lead, ACTIONS[data.outcome], at=now, surface=surface,
                  data=_event_data(data, source, deal_id, amount, currency, closed_at, reason,
                                   reason_text))
    lead.deal_id = deal_id
    lead.deal_amount = amount
    lead.deal_currency = currency
    lead.closed_at = closed_at
    lead.loss_reason = reason
    lead.loss_reason_text = reason_text
    lead.loss_note = data.note if data.outcome == "lost" else None
    lead.outcome_source = source
    uow.flush()
    queue_outcome(services, uow, lead, event)
    result = OutcomeResult(lead.id, "recorded", event.id)
    _announce(services, uow, lead, event, result)
    return result


def _event_data(
    data: OutcomeInput, source: str, deal_id: str | None, amount: Decimal | None,
    currency: str | None, closed_at: datetime | None, reason: str | None,
    reason_text: str | None,
) -> dict[str, Any]:
    """The outcome as the trail keeps it (JSON: the amount as exact text, instants in ISO)."""
    values: dict[str, Any] = {
        "outcome": data.outcome,
        "source": source,
        "deal_id": deal_id,
        "amount": exact_text(amount),
        "currency": currency,
        "closed_at": closed_at.isoformat() if closed_at is not None else None,
        "reason": reason,
        "reason_text": reason_text,
    }
    if data.note is not None:
        values["note"] = data.note  # kept for the record; never logged
    return values


def exact_text(amount: Decimal | None) -> str | None:
    """An amount as plain exact text, without trailing zeros: ``1200000``, ``1234.5``."""
    if amount is None:
        return None
    text = format(amount.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _locked_lead(uow: UnitOfWork, data: OutcomeInput) -> Lead | None:
    """The lead the outcome is about, row-locked; None when no lead matches."""
    if data.lead_id is not None:
        lead_id: int | None = data.lead_id if 0 < data.lead_id <= MAX_LEAD_ID else None
    elif data.external_id is not None:
        lead_id = uow.leads.id_by_external_id(data.external_id)
    elif data.contact_key is not None:
        # the person's newest SQL, else their newest lead (which then answers not_converted)
        lead_id = uow.leads.newest_of_contact(data.contact_key, SQL_STATUSES)
    else:
        lead_id = None
    return uow.leads.get_for_update(lead_id) if lead_id is not None else None


def _announce(
    services: Services, uow: UnitOfWork, lead: Lead, event: LeadEvent, result: OutcomeResult
) -> None:
    """What a recorded outcome owes people in Slack, queued in the outcome's transaction.

    The one place every surface's outcome passes through on its way to Slack (the lead's
    thread, the hand-off message, the marketing channel per ``[outcomes] notify_marketing``):
    ``bot.outcome_notices``.
    """
    del result
    announce(services, uow, lead, event)
