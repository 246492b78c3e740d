"""HubSpot deals → deal outcomes (SPEC 10): a ``dealstage`` change, the deal read from the CRM.

HubSpot's ``deal.propertyChange`` events on ``dealstage`` carry the deal's id and its new stage
only. The endpoint queues one (``queue``: an outbox row of kind ``hubspot_deal_fetch`` in the
HubSpot lane, beside the contact fetches and with their handling of 429s, 5xx and 404s) when
the stage is one of ``[adapters.hubspot] won_stages`` / ``lost_stages``, or an open stage of a
deal whose outcome came from HubSpot (the deal reopened: a correction). Every other stage
change is answered and ignored, so a pipeline's ordinary moves cost no API call.

The outbox worker then reads the deal (``GET /crm/v3/objects/deals/{id}`` with its contacts,
``run``) and records the stage it has *now* — events arrive late and out of order, the CRM's
current stage is the truth — through ``bot.outcomes.record_in`` (source ``hubspot``): the
amount (HubSpot's text, kept exact), its currency (``deal_currency_code``, else
``[adapters.hubspot] default_currency``), ``closed_at`` (``closedate``, else when the stage
changed) and, for a loss, ``closed_lost_reason`` (a configured code, else ``other`` with its
words).

The lead is the one already holding this deal (a correction lands where the first outcome
did), else the SQL of the deal's associated contacts in HubSpot's order: HubSpot leads are
keyed by contact (``hubspot:<contact id>``, ``bot.adapters.hubspot``), so no contact is read.
A deleted deal (404), a deal without contacts, contacts without an SQL, a reopened deal whose
lead has no outcome from HubSpot: the row is moot, skipped with a log line of ids. What
HubSpot reported is never sent back to it by the outbound webhook (``bot.outbound_webhook``).
"""

from __future__ import annotations

import dataclasses
import logging
import urllib.parse
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.adapters.hubspot import VENDOR, ThinEvent
from bot.adapters.hubspot_fetch import LANE, Moot, crm_get
from bot.adapters.receive import Outcome
from bot.intake import in_window
from bot.lifecycle import SQL_STATUSES, Surface
from bot.outbound_webhook import DeliveryRefused, DeliveryRetry
from bot.outcomes import (
    REASON_MAX,
    InvalidOutcome,
    OutcomeInput,
    OutcomeResult,
    OutcomeSource,
    parse_data,
    record_in,
)
from bot.policy import Policy
from bot.services import Services
from storage.models import Lead
from storage.outbox_kind import OutboxKind
from storage.unit_of_work import UnitOfWork

__all__ = ["DEAL_PROPERTIES", "DealGone", "NoLead", "queue", "run"]

log = logging.getLogger(__name__)

#: what the CRM API is asked for about a deal
DEAL_PROPERTIES = ("dealstage", "amount", "deal_currency_code", "closedate",
                   "closed_lost_reason")
SOURCE: OutcomeSource = "hubspot"
#: a deal's contacts tried for its lead, in HubSpot's order
MAX_CONTACTS = 20


class DealGone(Moot):
    """HubSpot answered 404: the deal was deleted."""

    what = "deal"


class NoLead(Moot):
    """The deal is about no SQL the bot knows: nothing to record."""


# --------------------------------------------------------------------------- the endpoint


def queue(policy: Policy, uow: UnitOfWork, event: ThinEvent, now: datetime) -> Outcome:
    """Queue the deal's fetch in the caller's transaction when its new stage may change an
    outcome; else answer it ignored. A replayed event is a duplicate."""
    config = policy.adapters.hubspot
    stage = event.property_value
    closing = stage in config.won_stages or stage in config.lost_stages
    if not closing and _hubspot_lead(uow, event.object_id) is None:
        return Outcome("ignored", reasons=[
            f"deal stage {stage!r} is not in won_stages or lost_stages, and no lead has an "
            "outcome of this deal from HubSpot"])
    row = uow.outbox.enqueue(key=f"{OutboxKind.HUBSPOT_DEAL_FETCH}:{event.key}",
                             kind=OutboxKind.HUBSPOT_DEAL_FETCH,
                             now=now, channel=LANE, payload=event.as_json())
    return Outcome("fetching" if row is not None else "duplicate")


def _hubspot_lead(uow: UnitOfWork, deal_id: str) -> int | None:
    """The lead whose current outcome HubSpot reported for this deal (one index probe)."""
    return uow.leads.latest_for_deal(deal_id, Lead.outcome_source == SOURCE)


# --------------------------------------------------------------------------- the worker


def run(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    """Read one queued event's deal and record its outcome; the outbox worker's job.

    Raises ``DeliveryRetry`` (try again later), ``DealGone`` / ``NoLead`` (moot: skip the row)
    or ``DeliveryRefused`` (fails for good: the deal's values are not a valid outcome).
    """
    settings = services.settings
    if not settings.hubspot_access_token:
        raise DeliveryRetry("HUBSPOT_ACCESS_TOKEN is not set: cannot fetch the deal")
    event = ThinEvent(**payload)
    deal_id = event.object_id
    deal = crm_get(services, f"{settings.hubspot_api_url.rstrip('/')}/crm/v3/objects/deals/"
                   f"{urllib.parse.quote(deal_id, safe='')}?" + urllib.parse.urlencode(
                       {"properties": ",".join(DEAL_PROPERTIES), "associations": "contacts"}),
                   gone=DealGone)
    props = deal.get("properties")
    props = props if isinstance(props, dict) else {}
    data = outcome_input(services.policy, services.clock.now(), event, props)
    contacts = contact_ids(deal)
    with services.unit_of_work() as uow:
        result = _record(services, uow, deal_id, data, contacts)
        if result.status == "recorded":
            uow.commit()
    if result.status == "recorded":
        services.outbox_ready.set()
        log.info("hubspot deal %s: lead %s outcome %s recorded (event %s)", deal_id,
                 result.lead_id, data.outcome, result.event_id)
    elif result.status != "duplicate":
        why = _why_moot(data, result, contacts)
        log.info("hubspot deal %s (contacts %s): %s; nothing recorded", deal_id,
                 ",".join(contacts) or "none", why)
        raise NoLead(f"hubspot deal: {why}")
    return {"ok": True, "channel": LANE, "status": result.status, "lead_id": result.lead_id}


def outcome_input(
    policy: Policy, now: datetime, event: ThinEvent, props: dict[str, Any]
) -> OutcomeInput:
    """The deal as an outcome at ``now``, through the intake's rules
    (``bot.outcomes.parse_data``); ``DeliveryRefused`` naming the bad properties."""
    config = policy.adapters.hubspot
    stage = _prop(props, "dealstage")
    outcome = ("won" if stage in config.won_stages else
               "lost" if stage in config.lost_stages else "open")
    # the deal's id stands in for the lead's until the lead is found (``_record``)
    fields: dict[str, Any] = {"external_id": event.object_id, "outcome": outcome,
                              "deal_id": event.object_id}
    if outcome != "open":
        amount = _prop(props, "amount")
        currency = _prop(props, "deal_currency_code") or config.default_currency
        if amount is not None and currency is None:
            log.warning("hubspot deal %s has an amount but no deal_currency_code: recorded "
                        "without it; set [adapters.hubspot] default_currency", event.object_id)
        elif amount is not None:
            try:
                fields["amount"] = Decimal(amount)
            except InvalidOperation:
                raise DeliveryRefused("hubspot deal: amount is not a number") from None
            fields["currency"] = currency
        fields["closed_at"] = _closed_at(_prop(props, "closedate"), event.occurred_at, now)
    if outcome == "lost" and (reason := _prop(props, "closed_lost_reason")):
        fields["reason"] = reason[:REASON_MAX]
    try:
        parsed = parse_data(fields, now=now)
    except InvalidOutcome as exc:
        names = ", ".join(e.field for e in exc.errors)
        raise DeliveryRefused(f"hubspot deal: not a valid outcome ({names})") from None
    return dataclasses.replace(parsed, external_id=None)


def contact_ids(deal: dict[str, Any]) -> list[str]:
    """The deal's associated contacts, in HubSpot's order, each once."""
    associations = deal.get("associations")
    contacts = associations.get("contacts") if isinstance(associations, dict) else None
    results = contacts.get("results") if isinstance(contacts, dict) else None
    found: dict[str, None] = {}
    for result in results if isinstance(results, list) else []:
        if isinstance(result, dict) and isinstance(result.get("id"), str | int):
            found.setdefault(str(result["id"]).strip(), None)
    return [contact for contact in found if contact][:MAX_CONTACTS]


def _record(
    services: Services, uow: UnitOfWork, deal_id: str, data: OutcomeInput, contacts: list[str]
) -> OutcomeResult:
    """The outcome on the lead holding the deal, else on its contacts' SQL (not committed)."""
    def on(lead_id: int | None = None, contact: str | None = None) -> OutcomeResult:
        target = dataclasses.replace(
            data, lead_id=lead_id, contact_key=f"{VENDOR}:{contact}" if contact else None)
        return record_in(services, uow, target, source=SOURCE, surface=Surface.WEBHOOK)

    if data.outcome == "open":  # a correction only of what HubSpot itself reported
        lead_id = _hubspot_lead(uow, deal_id)
        lead = uow.leads.get_for_update(lead_id) if lead_id is not None else None
        if lead is None or lead.deal_id != deal_id or lead.outcome_source != SOURCE:
            return OutcomeResult(None, "unknown_lead")
        return on(lead_id=lead.id)
    held = uow.leads.latest_for_deal(
        deal_id, Lead.status.in_([s.value for s in SQL_STATUSES]))
    if held is not None:
        return on(lead_id=held)
    result = OutcomeResult(None, "unknown_lead")
    for contact in contacts:
        found = on(contact=contact)
        if found.status in ("recorded", "duplicate"):
            return found
        if found.status == "not_converted" and result.status == "unknown_lead":
            result = found
    return result


def _why_moot(data: OutcomeInput, result: OutcomeResult, contacts: list[str]) -> str:
    if data.outcome == "open":
        return "the deal is open and no lead has an outcome of it from HubSpot"
    if not contacts:
        return "the deal has no associated contact"
    if result.status == "not_converted":
        return f"lead {result.lead_id} never became an SQL"
    return "no lead of its contacts"


def _prop(props: dict[str, Any], name: str) -> str | None:
    """A property as HubSpot's API gives it (text, null when unset)."""
    value = props.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise DeliveryRefused(f"hubspot deal: {name} is not text")


def _closed_at(closedate: str | None, occurred_ms: int | None, now: datetime
               ) -> datetime | None:
    """``closedate`` when it is a sane instant, else when the stage changed, else None (the
    outcome's time of arrival): a close date planned months ahead is not when the deal closed.
    """
    for candidate in (_instant(closedate), _from_ms(occurred_ms)):
        if candidate is not None and in_window(candidate, now) is None:
            return candidate
    return None


def _instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    if value.isascii() and value.isdigit():  # epoch milliseconds, as the legacy API wrote it
        return _from_ms(int(value))
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def _from_ms(value: int | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
