"""HubSpot: signatures, the workflow "Send a webhook" body, and the Webhooks API's thin events.

Two shapes reach ``POST /webhooks/hubspot``, told apart by the body:

- a JSON **object**: a workflow's "Send a webhook" action, the whole contact with every
  property wrapped (``{"value": "...", "versions": [...]}``), values as strings, times as
  epoch milliseconds in strings, the company under ``associated-company``;
- a JSON **array**: up to 100 thin Webhooks-API events (``objectId``, ``occurredAt``,
  ``subscriptionType`` or ``eventType``…) with no name or email. Each is queued and the contact
  fetched from the CRM API by the outbox worker (``bot.adapters.hubspot_fetch``); a deal's
  ``dealstage`` change (``deal.propertyChange``) is a deal outcome, its deal fetched likewise
  (``bot.adapters.hubspot_deals``).

A contact is an MQL when its lifecycle stage is ``[adapters.hubspot] mql_stage`` (default
``marketingqualifiedlead``) — for a ``lifecyclestage`` change event, the stage it changed to —
*and* it meets the policy's MQL definition. Another stage is a veto: the event only adds
behaviour, or is stored as not qualified with the stage as its reason.

Behaviour comes from HubSpot's analytics properties: the last and first page viewed
(``hs_analytics_last_url`` …, the view count kept with it), the recent and first conversions
and the workflow body's form submissions, classified by name (``bot.adapters.values.classify``).

Keys: thin events ``hubspot:<objectId>:<eventId>``; workflow bodies ``hubspot:<vid>:workflow:
<when the stage last changed>`` (HubSpot resends the same body when it retries). The contact key
is ``hubspot:<contact id>`` (one HubSpot account per bot).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from bot.adapters.events import FieldError, Rejected, Skipped, Translated, VendorEvent
from bot.adapters.values import Bad as _Bad
from bot.adapters.values import (
    ValueProblem,
    activity,
    canonical,
    classify,
    domain,
    fingerprint,
    instant,
    integer,
    person_name,
    stamp,
    text,
    unwrap,
)
from bot.adapters.values import read as _read

VENDOR = "hubspot"
WORKFLOW_KIND = "workflow.webhook"
V3_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
V1_HEADER = "X-HubSpot-Signature"
VERSION_HEADER = "X-HubSpot-Signature-Version"
MAX_AGE = timedelta(minutes=5)
#: HubSpot signs the URI with these escapes decoded (its v3 validation docs)
_URI_DECODE = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
               "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}
#: contact events that are about no one we could hand off
_SKIPPED_EVENTS = {"contact.deletion", "contact.privacyDeletion", "contact.merge",
                   "contact.associationChange", "contact.restore"}
#: a deal's stage changed (SPEC 10): its outcome is read from the CRM
#: (``bot.adapters.hubspot_deals``); other deal events and properties are ignored
DEAL_STAGE_EVENT = "deal.propertyChange"
DEAL_STAGE_PROPERTY = "dealstage"
#: what the CRM API is asked for (``bot.adapters.hubspot_fetch``)
CONTACT_PROPERTIES = (
    "firstname", "lastname", "email", "jobtitle", "phone", "mobilephone", "company",
    "industry", "numemployees", "website", "hubspotscore", "lifecyclestage",
    "hs_lifecyclestage_marketingqualifiedlead_date", "lastmodifieddate",
    "hs_analytics_num_page_views", "hs_analytics_first_url", "hs_analytics_first_timestamp",
    "hs_analytics_last_url", "hs_analytics_last_timestamp", "recent_conversion_event_name",
    "recent_conversion_date", "first_conversion_event_name", "first_conversion_date",
    "num_conversion_events",
)
COMPANY_PROPERTIES = ("name", "industry", "numberofemployees", "domain")


# --------------------------------------------------------------------------- signatures


def sign_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """base64 HMAC-SHA256(secret, method + URI + body + timestamp)."""
    message = method.encode() + _signed_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_v1(secret: str, body: bytes) -> str:
    """hex SHA-256(secret + body)."""
    return hashlib.sha256(secret.encode("utf-8") + body).hexdigest()


def sign_v2(secret: str, method: str, uri: str, body: bytes) -> str:
    """hex SHA-256(secret + method + URI + body) (workflow webhooks before v3)."""
    return hashlib.sha256(secret.encode("utf-8") + method.encode() + uri.encode()
                          + body).hexdigest()


def _signed_uri(uri: str) -> str:
    for escaped, plain in _URI_DECODE.items():
        uri = uri.replace(escaped, plain).replace(escaped.lower(), plain)
    return uri


def has_signature(headers: Mapping[str, str]) -> bool:
    return bool(headers.get(V3_HEADER) or headers.get(V1_HEADER))


def check_signature(
    secret: str, *, method: str, uri: str, body: bytes, headers: Mapping[str, str],
    now: datetime,
) -> str | None:
    """None when the request is HubSpot's; else what is wrong (for the 401 answer).

    v3 when its header is present (with a 5-minute window on the timestamp), else v1 / v2 as
    ``X-HubSpot-Signature-Version`` says (v1 when it says nothing).
    """
    v3 = headers.get(V3_HEADER)
    if v3:
        stamp_ms = (headers.get(TIMESTAMP_HEADER) or "").strip()
        # ASCII digits only ('²'.isdigit() is true, and int() refuses it), and no more than
        # milliseconds until the year 2286 have (int() refuses 5,000 digits too)
        if not (stamp_ms.isascii() and stamp_ms.isdigit() and len(stamp_ms) <= 13):
            return f"{TIMESTAMP_HEADER} is missing or not epoch milliseconds"
        now_ms = int(now.timestamp() * 1000)
        if abs(now_ms - int(stamp_ms)) > MAX_AGE // timedelta(milliseconds=1):
            return f"{TIMESTAMP_HEADER} is more than 5 minutes away from now"
        expected = sign_v3(secret, method, uri, body, stamp_ms)
        return None if _same(v3, expected) else f"{V3_HEADER} does not match the request"
    given = headers.get(V1_HEADER) or ""
    version = (headers.get(VERSION_HEADER) or "v1").strip().lower()
    if version == "v2":
        expected = sign_v2(secret, method, uri, body)
    elif version == "v1":
        expected = sign_v1(secret, body)
    else:
        return f"{VERSION_HEADER} {version!r} is not v1, v2 or v3"
    return None if _same(given, expected) else f"{V1_HEADER} does not match the request"


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.strip().encode("latin-1", "replace"),
                               expected.encode("ascii"))


# --------------------------------------------------------------------------- thin events


@dataclass(frozen=True)
class ThinEvent:
    """A Webhooks-API event: ids only, queued until its contact (or deal) is fetched."""

    kind: str
    object_id: str
    event_id: str
    occurred_at: int | None = None
    property_name: str | None = None
    property_value: str | None = None
    portal_id: str | None = None

    @property
    def key(self) -> str:
        return f"{VENDOR}:{self.object_id}:{self.event_id}"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def thin_events(payload: list[Any]) -> list[tuple[str, ThinEvent | Skipped | Rejected]]:
    return [_thin(index, item) for index, item in enumerate(payload)]


def _thin(index: int, item: Any) -> tuple[str, ThinEvent | Skipped | Rejected]:
    if not isinstance(item, Mapping):
        return "(unknown)", Rejected("(unknown)", [FieldError(f"[{index}]", "expected an object")])
    try:
        return _thin_event(index, item)
    except _Bad as bad:
        return "(unknown)", Rejected("(unknown)", [FieldError(f"[{index}].{bad.field}",
                                                              str(bad.problem))])
    except ValueProblem as problem:
        return "(unknown)", Rejected("(unknown)", [FieldError(f"[{index}]", str(problem))])


def _thin_event(index: int, item: Mapping[str, Any]) -> tuple[str, ThinEvent | Skipped | Rejected]:
    kind = (_read("subscriptionType", text, item.get("subscriptionType"))
            or _read("eventType", text, item.get("eventType")) or "(unknown)")
    if kind == DEAL_STAGE_EVENT:
        if _read("propertyName", text, item.get("propertyName")) != DEAL_STAGE_PROPERTY:
            return kind, Skipped(kind, f"{kind} is not a change of {DEAL_STAGE_PROPERTY}")
    elif not kind.startswith("contact.") or kind in _SKIPPED_EVENTS:
        return kind, Skipped(kind, f"{kind} is not about a contact to hand off")
    errors = []
    for field in ("objectId", "eventId"):
        value = item.get(field)
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
            errors.append(FieldError(f"[{index}].{field}", "required: the event's id"))
    occurred = item.get("occurredAt")
    if occurred is not None and (isinstance(occurred, bool) or not isinstance(occurred, int)):
        errors.append(FieldError(f"[{index}].occurredAt", "expected epoch milliseconds"))
    if errors:
        return kind, Rejected(kind, errors)
    return kind, ThinEvent(
        kind=kind,
        object_id=str(item["objectId"]).strip(),
        event_id=str(item["eventId"]).strip(),
        occurred_at=occurred,
        property_name=_read("propertyName", text, item.get("propertyName")),
        property_value=_read("propertyValue", text, item.get("propertyValue")),
        portal_id=_read("portalId", text, item.get("portalId")),
    )


def from_crm(
    contact: Mapping[str, Any],
    company: Mapping[str, Any] | None,
    event: Mapping[str, Any],
    *,
    mql_stage: str,
    zone: tzinfo,
    now: datetime,
) -> Translated:
    """A fetched CRM contact (``GET /crm/v3/objects/contacts/{id}``) for its thin event."""
    thin = ThinEvent(**event)
    props = contact.get("properties") if isinstance(contact.get("properties"), Mapping) else {}
    company_props = (company or {}).get("properties") if company else None
    stage_change = thin.property_name == "lifecyclestage"
    try:
        occurred = _read("occurredAt", instant, thin.occurred_at, zone, fmt="epoch_ms")
        return _contact(
            props, company_props if isinstance(company_props, Mapping) else {},
            contact_id=thin.object_id, kind=thin.kind, key=thin.key,
            stage=thin.property_value if stage_change else _prop(props, "lifecyclestage"),
            moment=occurred if stage_change else None, fallback_time=occurred or now,
            mql_stage=mql_stage, zone=zone,
        )
    except _Bad as bad:
        return Rejected(thin.kind, [FieldError(bad.field, str(bad.problem))])
    except ValueProblem as problem:  # a value read without naming its field
        return Rejected(thin.kind, [FieldError(thin.kind, str(problem))])


# --------------------------------------------------------------------------- workflow body


def translate_workflow(
    payload: Mapping[str, Any], *, mql_stage: str, zone: tzinfo, now: datetime
) -> Translated:
    props = payload.get("properties")
    if not isinstance(props, Mapping):
        return Rejected(WORKFLOW_KIND, [FieldError("properties", "required: the contact's "
                                                               "properties")])
    associated = payload.get("associated-company")
    company = associated.get("properties") if isinstance(associated, Mapping) else None
    try:
        contact_id = (_read("canonical-vid", text, payload.get("canonical-vid"))
                      or _read("vid", text, payload.get("vid"))
                      or _read("hs_object_id", text, unwrap(props.get("hs_object_id"))))
        if contact_id is None:
            return Rejected(WORKFLOW_KIND, [FieldError("vid", "required: the contact's id")])
        changed = _stage_changed(props, zone)
        key = (f"{VENDOR}:{contact_id}:workflow:"
               f"{stamp(changed) if changed else fingerprint(payload)}")
        return _contact(
            props, company if isinstance(company, Mapping) else {},
            contact_id=contact_id, kind=WORKFLOW_KIND, key=key,
            stage=_prop(props, "lifecyclestage"), moment=None, fallback_time=changed or now,
            mql_stage=mql_stage, zone=zone, forms=payload.get("form-submissions"),
        )
    except _Bad as bad:
        return Rejected(WORKFLOW_KIND, [FieldError(bad.field, str(bad.problem))])
    except ValueProblem as problem:  # a value read without naming its field
        return Rejected(WORKFLOW_KIND, [FieldError(WORKFLOW_KIND, str(problem))])


def _stage_changed(props: Mapping[str, Any], zone: tzinfo) -> datetime | None:
    """When the lifecycle stage last changed: its newest version's time, else the last edit."""
    wrapped = props.get("lifecyclestage")
    versions = wrapped.get("versions") if isinstance(wrapped, Mapping) else None
    if isinstance(versions, list) and versions and isinstance(versions[0], Mapping):
        at = _read("lifecyclestage.versions.0.timestamp", instant,
                   versions[0].get("timestamp"), zone)
        if at is not None:
            return at
    return _read("lastmodifieddate", instant, props.get("lastmodifieddate"), zone)


# --------------------------------------------------------------------------- both shapes



def _prop(props: Mapping[str, Any], name: str) -> str | None:
    return _read(name, text, props.get(name))


def _contact(
    props: Mapping[str, Any],
    company: Mapping[str, Any],
    *,
    contact_id: str,
    kind: str,
    key: str,
    stage: str | None,
    moment: datetime | None,
    fallback_time: datetime,
    mql_stage: str,
    zone: tzinfo,
    forms: Any = None,
) -> VendorEvent:
    def when(name: str) -> datetime | None:
        return _read(name, instant, props.get(name), zone)

    email = _prop(props, "email")
    name = (person_name(_prop(props, "firstname"), _prop(props, "lastname")) or email
            or f"HubSpot contact {contact_id}")
    is_mql = stage is not None and stage.casefold() == mql_stage.casefold()
    vetoes: tuple[str, ...] = ()
    if not is_mql:
        vetoes = (f"HubSpot lifecycle stage is {stage!r}, not {mql_stage!r}" if stage
                  else f"HubSpot lifecycle stage unknown (an MQL is {mql_stage!r})",)
    qualified_at = moment or (when("hs_lifecyclestage_marketingqualifiedlead_date")
                              if is_mql else None) or fallback_time
    website = _read("domain", text, company.get("domain")) or _prop(props, "website")
    return VendorEvent(
        vendor=VENDOR,
        kind=kind,
        key=key,
        contact=f"{VENDOR}:{contact_id}",
        vetoes=vetoes,
        data=canonical(
            key=key,
            source=VENDOR,
            qualified_at=qualified_at,
            name=name,
            email=email,
            title=_prop(props, "jobtitle"),
            phone=_prop(props, "phone") or _prop(props, "mobilephone"),
            company=_read("associated-company.name", text, company.get("name"))
            or _prop(props, "company"),
            industry=_read("associated-company.industry", text, company.get("industry"))
            or _prop(props, "industry"),
            employees=_read("associated-company.numberofemployees", integer,
                            company.get("numberofemployees")) or _lenient_int(
                                props.get("numemployees")),
            company_domain=domain(website),
            score=_read("hubspotscore", integer, props.get("hubspotscore")),
            activities=_dedupe(_activities(props, forms, zone)),
            vendor={"name": VENDOR, "event": kind, "contact_id": contact_id},
            hubspot={"lifecyclestage": stage} if stage else None,
        ),
    )


def _lenient_int(value: Any) -> int | None:
    """The contact's ``numemployees`` is a range like ``25-50``: its lower bound, if any."""
    raw = text(value) if not isinstance(value, Mapping | list) else text(unwrap(value))
    if raw is None:
        return None
    head = raw.split("-")[0].rstrip("+").strip()
    try:
        return integer(head)
    except ValueProblem:
        return None


def _activities(props: Mapping[str, Any], forms: Any, zone: tzinfo
                ) -> Iterable[dict[str, Any] | None]:
    def when(name: str) -> datetime | None:
        return _read(name, instant, props.get(name), zone)

    views = _read("hs_analytics_num_page_views", integer, props.get("hs_analytics_num_page_views"))
    yield activity("page_view", when("hs_analytics_last_timestamp"),
                   _prop(props, "hs_analytics_last_url"), page_views=views)
    yield activity("page_view", when("hs_analytics_first_timestamp"),
                   _prop(props, "hs_analytics_first_url"))
    for prefix in ("recent", "first"):
        event_name = _prop(props, f"{prefix}_conversion_event_name")
        yield activity(classify(event_name, "form_submit"), when(f"{prefix}_conversion_date"),
                       event_name)
    for index, form in enumerate(forms if isinstance(forms, list) else []):
        if isinstance(form, Mapping):
            title = text(form.get("title")) or text(form.get("page-title"))
            yield activity(classify(title, "form_submit"),
                           _read(f"form-submissions.{index}.timestamp", instant,
                                 form.get("timestamp"), zone),
                           title, page=text(form.get("page-url")))


def _dedupe(items: Iterable[dict[str, Any] | None]) -> list[dict[str, Any]]:
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for item in items:
        if item is None:
            continue
        mark = (item["type"], item["at"], item.get("detail"))
        if mark not in seen:
            seen.add(mark)
            unique.append(item)
    return unique
