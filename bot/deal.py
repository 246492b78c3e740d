"""A lead's deal outcome as people are shown it (SPEC 10): frozen facts the views read.

Built here, from the lead's deal columns or from one outcome event, so the views that show an
outcome (the hand-off message, the thread reply, the marketing post, the Details history)
never read ORM rows and every one of them reads the same facts the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from bot.event_kind import Action
from storage.models import Lead, LeadEvent, LeadStatus

__all__ = [
    "OUTCOME_KINDS",
    "DealOutcome",
    "OutcomeNotice",
    "deal_outcome",
    "event_outcome",
    "matched_criteria",
]

DealState = Literal["won", "lost", "open"]
#: the lifecycle events a deal outcome writes (``bot.lifecycle.Action.WIN`` …), and what each says
OUTCOME_KINDS: dict[str, DealState] = {Action.WIN: "won", Action.LOSE: "lost",
                                       Action.REOPEN: "open"}
_CLOSED: dict[str, Literal["won", "lost"]] = {
    LeadStatus.WON.value: "won", LeadStatus.LOST.value: "lost",
}


@dataclass(frozen=True)
class DealOutcome:
    """How a lead's deal ended (or that it is open again), in the CRM's own terms.

    ``reason`` is a code of ``[outcomes] loss_reasons``; ``reason_text`` the sender's words
    when the code is ``other``. ``previous`` is the outcome this one corrects (``won`` or
    ``lost``), None for a first outcome.
    """

    outcome: DealState
    amount: Decimal | None = None
    currency: str | None = None
    closed_at: datetime | None = None
    reason: str | None = None
    reason_text: str | None = None
    note: str | None = None
    previous: Literal["won", "lost"] | None = None


@dataclass(frozen=True)
class OutcomeNotice:
    """What marketing is told of a closed deal: the lead as other marketing posts name it
    (name, company, lead number, the hand-off thread — no contact data), what qualified it
    (source and the criteria it met: which MQLs win, and why they lose) and the outcome."""

    lead_id: int
    lead_name: str
    company: str | None
    source: str | None
    criteria: tuple[Any, ...]
    thread: str | None
    deal: DealOutcome


def deal_outcome(lead: Lead) -> DealOutcome | None:
    """The lead's outcome as it stands (won or lost), from its deal columns; None otherwise."""
    outcome = _CLOSED.get(str(lead.status or ""))
    if outcome is None:
        return None
    return DealOutcome(
        outcome=outcome, amount=lead.deal_amount, currency=lead.deal_currency,
        closed_at=lead.closed_at, reason=lead.loss_reason if outcome == "lost" else None,
        reason_text=lead.loss_reason_text if outcome == "lost" else None,
        note=lead.loss_note if outcome == "lost" else None,
    )


def event_outcome(event: LeadEvent) -> DealOutcome | None:
    """The outcome one event recorded (``bot.outcomes`` keeps it in the event's data), with
    the outcome it corrected; None for any other event."""
    outcome = OUTCOME_KINDS.get(str(event.kind or ""))
    if outcome is None:
        return None
    data: Mapping[str, Any] = event.data or {}
    return DealOutcome(
        outcome=outcome, amount=_amount(data.get("amount")),
        currency=_text(data.get("currency")), closed_at=_instant(data.get("closed_at")),
        reason=_text(data.get("reason")), reason_text=_text(data.get("reason_text")),
        note=_text(data.get("note")), previous=_CLOSED.get(str(event.from_status or "")),
    )


def matched_criteria(lead: Lead) -> tuple[Any, ...]:
    """The MQL definition's criteria the lead met when it qualified (codes with values, or
    the English text of leads judged before criteria had codes)."""
    judged = lead.qualification or {}
    matched: Sequence[Any] = judged.get("matched_codes") or judged.get("matched") or ()
    return tuple(matched)


def _amount(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
