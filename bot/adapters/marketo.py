"""Marketo webhooks: the payload template we publish, read in the instance's time zone.

Marketo sends whatever JSON the customer writes in its webhook editor, with ``{{lead.*}}``
tokens filled in. We publish a template (``samples/marketo_webhook_template.json``, in the
README) whose layout is the one Snowplow documented for Marketo, plus ``lead.id``; every token
is quoted, so an empty token is ``""`` rather than broken JSON, and numbers arrive as strings.

Marketo's times (``{{system.dateTime}}``, ``Created At``…) have no zone: they are the instance's
local time, read in ``[adapters.marketo] timezone`` (default: the calendar's).

Keys: ``marketo:<lead id>:<system.dateTime>``; the contact key is ``marketo:<lead id>``. A body
without a lead id (an older template) falls back to a hash of the email, then of the body, so a
retry is still a duplicate. Which leads qualify is the policy's MQL definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from bot.adapters.events import FieldError, Rejected, Translated, VendorEvent
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
    is_blank,
    person_name,
    stamp,
    text,
)
from bot.adapters.values import read as _read

VENDOR = "marketo"
KIND = "marketo.webhook"
#: Marketo's interesting-moment types → our activity types
MOMENT_TYPES = {"web": "page_view", "email": "email", "milestone": "milestone",
                "social": "social"}


#: the ``{{lead.*}}`` fields that say who the person is; a body needs one of them
PERSON_FIELDS = ("id", "email_address", "full_name", "first_name", "last_name")


class NotMarketo(ValueError):
    """The body is not laid out as Marketo's template (the POST is refused with 400).

    ``field`` names what is missing: ``(body)`` or ``lead``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def translate(payload: Any, zone: tzinfo, now: datetime) -> Translated:
    """The event of a Marketo webhook; ``NotMarketo`` for a body of another shape.

    Marketo sends whatever the template says, so the shape is all there is to check: every
    Marketo template (ours, Snowplow's) puts the person in a ``lead`` object, and a person
    needs something to be known by. Another tool's JSON (a Mautic event, a bare object)
    would otherwise become a lead named "Marketo lead (no id)".
    """
    if not isinstance(payload, Mapping):
        raise NotMarketo("(body)",
                         "expected a JSON object laid out as the published Marketo template")
    if not isinstance(payload.get("lead"), Mapping):
        raise NotMarketo("lead", "required: an object of {{lead.*}} tokens, as in the "
                                 "published Marketo template")
    lead = _object(payload, "lead")
    if all(is_blank(lead.get(name)) for name in PERSON_FIELDS):
        raise NotMarketo("lead", "needs one of lead." + ", lead.".join(PERSON_FIELDS)
                         + " to say who the person is")
    company = _object(payload, "company")
    try:
        return _translate(payload, lead, company, zone, now)
    except _Bad as bad:
        return Rejected(KIND, [FieldError(bad.field, str(bad.problem))])
    except ValueProblem as problem:  # a value read without naming its field
        return Rejected(KIND, [FieldError(KIND, str(problem))])



def _object(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = payload.get(name)
    return value if isinstance(value, Mapping) else {}


def _translate(
    payload: Mapping[str, Any],
    lead: Mapping[str, Any],
    company: Mapping[str, Any],
    zone: tzinfo,
    now: datetime,
) -> VendorEvent:
    def field(name: str) -> str | None:
        return _read(f"lead.{name}", text, lead.get(name))

    fired = _read("datetime", instant, payload.get("datetime"), zone)
    email = field("email_address")
    lead_id = field("id") or _read("id", text, payload.get("id"))
    if lead_id is not None:
        person: str | None = lead_id
    elif email is not None:
        person = "e-" + fingerprint(email.casefold())
    else:
        person = None
    moment = stamp(fired) if fired is not None else "-"
    key = f"{VENDOR}:{person or fingerprint(payload)}:{moment}"
    name = (field("full_name") or person_name(field("first_name"), field("last_name"))
            or email or f"Marketo lead {lead_id or '(no id)'}")
    campaign, program = _object(payload, "campaign"), _object(payload, "program")
    return VendorEvent(
        vendor=VENDOR,
        kind=KIND,
        key=key,
        contact=f"{VENDOR}:{person}" if person else None,
        data=canonical(
            key=key,
            source=VENDOR,
            qualified_at=fired or now,
            name=name,
            email=email,
            title=field("job_title"),
            phone=field("phone_number") or field("mobile_phone_number"),
            company=_read("company.name", text, company.get("name")),
            industry=_read("company.industry", text, company.get("industry")),
            employees=_read("company.num_employees", integer, company.get("num_employees")),
            company_domain=domain(_read("company.website", text, company.get("website"))),
            score=_read("lead.lead_score", integer, lead.get("lead_score")),
            activities=[_moment(lead, zone)],
            vendor={"name": VENDOR, "event": KIND, "contact_id": lead_id},
            marketo={k: v for k, v in {
                "campaign": text(campaign.get("name")), "program": text(program.get("name")),
                "lead_status": field("lead_status"), "lead_source": field("lead_source"),
            }.items() if v} or None,
        ),
    )


def _moment(lead: Mapping[str, Any], zone: tzinfo) -> dict[str, Any] | None:
    """The lead's last interesting moment as an activity (``Web`` → ``page_view``…).

    A non-web moment is classified by its description, so "Filled out form: Whitepaper" is a
    ``download`` the MQL definition can match.
    """
    at = _read("lead.last_interesting_moment_date", instant,
               lead.get("last_interesting_moment_date"), zone)
    moment_type = text(lead.get("last_interesting_moment_type")
                       or lead.get("last_interseting_moment_type"))  # Snowplow's spelling
    description = text(lead.get("last_interesting_moment_description"))
    kind = MOMENT_TYPES.get((moment_type or "").casefold(), "interesting_moment")
    if kind != "page_view":
        kind = classify(description, kind)
    return activity(kind, at, description, source=text(lead.get("last_interesting_moment_source")))
