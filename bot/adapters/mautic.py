"""Mautic webhooks: the event envelope, its wrapped fields, points, stage and tags.

Mautic POSTs ``{"mautic.<event>": [event, ...], ..., "timestamp": "..."}``: one key per event
type, each a list (its "Send Test Payload" puts a single object under a key instead), several
types in one POST in queue mode. A contact is ``contact`` in contact events and ``lead`` in form
submissions, page hits and email opens; every field is ``fields.<group>.<alias>.value``.

Which events are MQLs is the policy's MQL definition (score, behaviour, firmographics), not
Mautic's: each event about a contact is judged, and one that does not qualify only adds to the
contact's behaviour history (see ``bot.adapters.receive``).

Keys: ``mautic:<contact id>:<event>:<event timestamp>``. The timestamp is the event's own (the
queue entry's ``timestamp``, else the submission / hit / open time, else the POST's), so
Mautic's retry of a queued event is a duplicate. The contact key is ``mautic:<contact id>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from bot.adapters.events import FieldError, Rejected, Skipped, Translated, VendorEvent
from bot.adapters.values import Bad as _Bad
from bot.adapters.values import (
    ValueProblem,
    activity,
    canonical,
    classify,
    domain,
    instant,
    integer,
    person_name,
    stamp,
    text,
)
from bot.adapters.values import read as _read

VENDOR = "mautic"
EVENT_PREFIX = "mautic."
SIGNATURE_HEADER = "Webhook-Signature"
#: where the person sits in an event, and the event's own time
_CONTAINERS = (("submission", "dateSubmitted"), ("hit", "dateHit"), ("stat", "dateRead"))
_SKIP_SUFFIXES = ("_post_delete", "_delete")


class NotMautic(ValueError):
    """The body is not a Mautic envelope at all (the whole POST is refused with 400)."""


def sign(body: bytes, secret: str) -> str:
    """``Webhook-Signature``: base64 of HMAC-SHA256 over the raw body, keyed by the secret."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(body: bytes, header: str | None, secret: str) -> bool:
    if not header:
        return False
    # header values arrive latin-1 decoded (WSGI); compare bytes in constant time
    return hmac.compare_digest(header.strip().encode("latin-1", "replace"),
                               sign(body, secret).encode("ascii"))


def translate(payload: Any, zone: tzinfo) -> list[tuple[str, Translated]]:
    """Every event of an envelope, in order, with its type; ``NotMautic`` for another body."""
    if not isinstance(payload, Mapping):
        raise NotMautic("expected a JSON object of Mautic events ({\"mautic.<event>\": [...]})")
    groups = [(k, v) for k, v in payload.items() if isinstance(k, str)
              and k.startswith(EVENT_PREFIX)]
    if not groups:
        raise NotMautic("no Mautic events: expected keys like \"mautic.lead_post_save_new\"")
    posted_at = payload.get("timestamp")
    events: list[tuple[str, Translated]] = []
    for kind, items in groups:
        for item in items if isinstance(items, list) else [items]:
            events.append((kind, _event(kind, item, posted_at, zone)))
    return events


def _event(kind: str, item: Any, posted_at: Any, zone: tzinfo) -> Translated:
    if not isinstance(item, Mapping):
        return Rejected(kind, [FieldError(kind, "expected an event object")])
    short = kind.removeprefix(EVENT_PREFIX)
    if short.endswith(_SKIP_SUFFIXES):
        return Skipped(kind, "a deletion is not an MQL")
    contact, container, own_time = _find_contact(item)
    if contact is None:
        return Skipped(kind, "the event names no contact")
    try:
        contact_id = _read("contact.id", text, contact.get("id"))
        if contact_id is None:
            return Rejected(kind, [FieldError(f"{kind}.contact.id", "required")])
        return _translate(kind, short, item, contact, contact_id, container, own_time,
                          posted_at, zone)
    except _Bad as bad:
        return Rejected(kind, [FieldError(f"{kind}.{bad.field}", str(bad.problem))])
    except ValueProblem as problem:  # a value read without naming its field
        return Rejected(kind, [FieldError(kind, str(problem))])



def _find_contact(
    item: Mapping[str, Any],
) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None, Any]:
    """The contact, the object around it (submission, hit, email stat) and that one's time."""
    for name in ("contact", "lead"):
        if isinstance(item.get(name), Mapping):
            return item[name], None, None
    for container_name, time_key in _CONTAINERS:
        container = item.get(container_name)
        if isinstance(container, Mapping):
            for name in ("lead", "contact"):
                if isinstance(container.get(name), Mapping):
                    return container[name], container, container.get(time_key)
    return None, None, None


def fields(contact: Mapping[str, Any]) -> dict[str, Any]:
    """Every field by alias, unwrapped: ``fields.<group>.<alias>.value`` (or ``fields.all``)."""
    found: dict[str, Any] = {}
    groups = contact.get("fields")
    if not isinstance(groups, Mapping):
        return found
    for group in groups.values():
        if not isinstance(group, Mapping):
            continue  # "personal": [] when the group is empty
        for alias, field in group.items():
            value = field.get("value") if isinstance(field, Mapping) else field
            if alias not in found or found[alias] in (None, ""):
                found[alias] = value
    return found


def _translate(
    kind: str,
    short: str,
    item: Mapping[str, Any],
    contact: Mapping[str, Any],
    contact_id: str,
    container: Mapping[str, Any] | None,
    own_time: Any,
    posted_at: Any,
    zone: tzinfo,
) -> VendorEvent:
    f = fields(contact)
    at = _first_time(zone, ("timestamp", item.get("timestamp")), ("time", own_time),
                     ("(body).timestamp", posted_at),
                     ("contact.dateModified", contact.get("dateModified")),
                     ("contact.dateAdded", contact.get("dateAdded")))
    if at is None:
        raise _Bad("timestamp", ValueProblem("required: the event carries no time"))
    email = _read("email", text, f.get("email"))
    name = (person_name(_read("firstname", text, f.get("firstname")),
                        _read("lastname", text, f.get("lastname")))
            or email or f"Mautic contact {contact_id}")
    website = _read("website", text, f.get("website"))
    key = f"{VENDOR}:{contact_id}:{short}:{stamp(at)}"
    return VendorEvent(
        vendor=VENDOR,
        kind=kind,
        key=key,
        contact=f"{VENDOR}:{contact_id}",
        data=canonical(
            key=key,
            source=VENDOR,
            qualified_at=at,
            name=name,
            email=email,
            title=_read("position", text, f.get("position")),
            phone=_read("phone", text, f.get("phone")) or _read("mobile", text, f.get("mobile")),
            company=_company_name(contact, f),
            industry=_read("industry", text, f.get("industry") or f.get("companyindustry")),
            employees=_read("employees", integer, f.get("companynumber_of_employees")
                            or f.get("number_of_employees") or f.get("employees")),
            company_domain=domain(website),
            score=_read("contact.points", integer, contact.get("points")),
            activities=_activities(short, item, contact, container, at, zone),
            vendor={"name": VENDOR, "event": kind, "contact_id": contact_id},
            mautic={k: v for k, v in {"stage": _stage(contact), "tags": _tags(contact)}.items()
                    if v} or None,
        ),
    )


def _first_time(zone: tzinfo, *candidates: tuple[str, Any]) -> datetime | None:
    for field, value in candidates:
        at = _read(field, instant, value, zone)
        if at is not None:
            return at
    return None


def _company_name(contact: Mapping[str, Any], f: Mapping[str, Any]) -> str | None:
    name = f.get("company")
    if isinstance(name, Mapping):  # a primary company object in some versions
        name = name.get("companyname") or name.get("name")
    return _read("company", text, name)


def _stage(contact: Mapping[str, Any]) -> str | None:
    stage = contact.get("stage")
    if isinstance(stage, Mapping):
        return text(stage.get("name"))
    return text(stage) if isinstance(stage, str) else None


def _tags(contact: Mapping[str, Any]) -> list[str]:
    """Tag names from ``[{"tag": "x"}]``, ``["x"]`` or the empty ``[[]]``."""
    names: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, Mapping):
            walk(value.get("tag"))
        elif isinstance(value, str) and value.strip():
            names.append(value.strip())

    walk(contact.get("tags"))
    return names


def _activities(
    short: str,
    item: Mapping[str, Any],
    contact: Mapping[str, Any],
    container: Mapping[str, Any] | None,
    at: datetime,
    zone: tzinfo,
) -> list[dict[str, Any] | None]:
    """The behaviour this event shows: a form submitted, a page viewed, an email opened, points.

    A form is classified by its name (``bot.adapters.values.classify``): "Whitepaper download"
    is a ``download``, "Book a demo" a ``demo_request``, any other a ``form_submit``.
    """
    found: list[dict[str, Any] | None] = []
    if short == "form_on_submit" and container is not None:
        form = container.get("form") if isinstance(container.get("form"), Mapping) else {}
        form_name = text(form.get("name")) if form else None
        found.append(activity(classify(form_name, "form_submit"),
                              _read("dateSubmitted", instant, container.get("dateSubmitted"),
                                    zone) or at,
                              form_name, form_id=form.get("id") if form else None))
    elif short == "page_on_hit" and container is not None:
        page = container.get("page") if isinstance(container.get("page"), Mapping) else {}
        found.append(activity("page_view",
                              _read("dateHit", instant, container.get("dateHit"), zone) or at,
                              text(container.get("url")) or (text(page.get("title"))
                                                             if page else None)))
    elif short == "email_on_open" and container is not None:
        email = container.get("email") if isinstance(container.get("email"), Mapping) else {}
        found.append(activity("email_open",
                              _read("dateRead", instant, container.get("dateRead"), zone) or at,
                              text(email.get("name")) if email else None))
    elif short == "lead_points_change":
        points = item.get("points") if isinstance(item.get("points"), Mapping) else None
        if points is not None:
            detail = f"{text(points.get('old_points')) or 0} → {text(points.get('new_points'))}"
        else:
            detail = f"{_read('contact.points', integer, contact.get('points')) or 0} points"
        found.append(activity("points_change", at, detail))
    utm = contact.get("utmtags")
    for tag in utm if isinstance(utm, list) else []:
        if isinstance(tag, Mapping) and text(tag.get("url")):
            found.append(activity("page_view", _read("utmtags.dateAdded", instant,
                                                     tag.get("dateAdded"), zone),
                                  text(tag.get("url")), campaign=text(tag.get("utmCampaign"))))
    return found
