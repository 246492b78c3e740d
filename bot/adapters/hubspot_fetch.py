"""The durable HubSpot fetch: thin Webhooks-API events become leads once their contact is read.

HubSpot's thin events carry ids only, and HubSpot wants its answer within seconds, so the
endpoint stores each event as an outbox row (kind ``hubspot_fetch``, committed before the 202)
and the outbox worker (``bot.outbox.worker``) calls ``run`` for it: the contact is read from the CRM
API (``GET /crm/v3/objects/contacts/{id}``, and its first associated company), translated
(``bot.adapters.hubspot.from_crm``) and received like any vendor event.

The rows ride the outbox's claims, leases and backoff: a 429 waits for HubSpot's
``Retry-After`` (10 s, HubSpot's rate-limit window, when it gives none) and is never given up;
5xx, timeouts and a refused token are retried with backoff for a day; a contact that no longer
exists (404: deleted or merged) is skipped as moot, not failed. The rows share one lane, paced
like a Slack channel (about one fetch a second), which keeps well inside HubSpot's API limits. A
crash after the lead was stored but before the row was marked sent fetches again, and the
event key makes that a duplicate.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from bot.adapters import hubspot
from bot.adapters.receive import Outcome, receive
from bot.outbound_webhook import DeliveryRefused, DeliveryRetry, retry_after_seconds
from bot.services import Services
from bot.user_agent import USER_AGENT
from storage.outbox_kind import OutboxKind
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

#: the outbox ``channel`` of every fetch: a lane of its own, paced, never a Slack channel
LANE = "hubspot"
#: HubSpot's rate limits are per 10 seconds
DEFAULT_RETRY_AFTER_S = 10.0
MAX_RETRY_AFTER_S = 3600.0
TIMEOUT_S = 10.0
MAX_ANSWER_BYTES = 1024 * 1024


class Moot(DeliveryRefused):
    """Nothing left to do for the row: skipped, not failed (e.g. HubSpot answered 404, the
    record was deleted or merged away)."""

    #: the record a 404 is about, as the row's error names it
    what = "record"


class ContactGone(Moot):
    """HubSpot answered 404: the contact was deleted or merged away."""

    what = "contact"


def queue(uow: UnitOfWork, event: hubspot.ThinEvent, now: datetime) -> bool:
    """Store one thin event for the worker, in the caller's transaction; False if already."""
    row = uow.outbox.enqueue(key=f"{OutboxKind.HUBSPOT_FETCH}:{event.key}",
                             kind=OutboxKind.HUBSPOT_FETCH, now=now,
                             channel=LANE, payload=event.as_json())
    return row is not None


def run(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    """Fetch the contact of one queued event and receive it; the outbox worker's job.

    Raises ``DeliveryRetry`` (try again later), ``ContactGone`` (moot: skip the row) or
    ``DeliveryRefused`` (fails for good).
    """
    settings = services.settings
    if not settings.hubspot_access_token:
        raise DeliveryRetry("HUBSPOT_ACCESS_TOKEN is not set: cannot fetch the contact")
    object_id = urllib.parse.quote(str(payload.get("object_id", "")), safe="")
    base = settings.hubspot_api_url.rstrip("/")
    contact = crm_get(services, f"{base}/crm/v3/objects/contacts/{object_id}?" + urllib.parse
                   .urlencode({"properties": ",".join(hubspot.CONTACT_PROPERTIES),
                               "associations": "companies"}))
    company = None
    if (company_id := _first_company(contact)) is not None:
        company = crm_get(services, f"{base}/crm/v3/objects/companies/"
                       f"{urllib.parse.quote(company_id, safe='')}?" + urllib.parse.urlencode(
                           {"properties": ",".join(hubspot.COMPANY_PROPERTIES)}))
    event = hubspot.from_crm(contact, company, payload,
                             mql_stage=services.policy.adapters.hubspot.mql_stage,
                             zone=services.policy.tz, now=services.clock.now())
    outcome: Outcome = receive(services, event)
    if outcome.rejected:
        fields = ", ".join(e.field for e in outcome.errors)
        raise DeliveryRefused(f"the fetched contact is not a valid lead ({fields})")
    return {"ok": True, "channel": LANE, "status": outcome.status, "lead_id": outcome.lead_id}


def _first_company(contact: dict[str, Any]) -> str | None:
    associations = contact.get("associations")
    companies = associations.get("companies") if isinstance(associations, dict) else None
    results = companies.get("results") if isinstance(companies, dict) else None
    for result in results if isinstance(results, list) else []:
        if isinstance(result, dict) and result.get("id") is not None:
            return str(result["id"])
    return None


def crm_get(services: Services, url: str, *, gone: type[Moot] = ContactGone) -> dict[str, Any]:
    """One read of the CRM API as a JSON object; a 404 raises ``gone`` (the row is moot), the
    other failures ``DeliveryRetry`` / ``DeliveryRefused`` (see ``_classify``)."""
    request = urllib.request.Request(url, method="GET", headers={
        "Authorization": f"Bearer {services.settings.hubspot_access_token}",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    })
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            body = response.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as error:
        with error:
            error.read(MAX_ANSWER_BYTES)
        raise _classify(error.code, error.headers.get("Retry-After"),
                        services.clock.now(), gone) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        cause = getattr(error, "reason", None)
        name = type(cause if isinstance(cause, BaseException) else error).__name__
        raise DeliveryRetry(f"hubspot: {name}", unreachable=True) from None
    try:
        answer = json.loads(body)
    except ValueError:
        raise DeliveryRetry("hubspot: the answer is not JSON") from None
    if not isinstance(answer, dict):
        raise DeliveryRetry("hubspot: the answer is not a JSON object")
    return answer


def _classify(status: int, retry_after: str | None, now: datetime,
              gone: type[Moot]) -> Exception:
    if status == 429:
        return DeliveryRetry("hubspot: http 429 (rate limited)",
                             after_s=_retry_after(retry_after, now))
    if status == 404:
        return gone(f"hubspot: http 404 (the {gone.what} no longer exists)")
    if status >= 500 or status in {401, 403, 408}:
        # 401/403: the token is wrong or lacks a scope (crm.objects.contacts.read,
        # crm.objects.deals.read); fixable, so kept
        return DeliveryRetry(f"hubspot: http {status}")
    return DeliveryRefused(f"hubspot: http {status}")


def _retry_after(value: str | None, now: datetime) -> float:
    """Seconds to wait: ``Retry-After`` (seconds or an HTTP date), else HubSpot's window.

    Never zero: the outbox gives up on a retry without a wait after its attempt limit.
    """
    seconds = retry_after_seconds(value, now)
    if seconds is None:
        seconds = DEFAULT_RETRY_AFTER_S
    return min(max(seconds, 1.0), MAX_RETRY_AFTER_S)
