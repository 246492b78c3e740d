"""The generic adapter: a field mapping from the policy turns any tool's JSON into the intake.

For tools without a native adapter (Zapier, a CRM, a form service). ``[[adapters.mapping]]``
names JSON paths (``bot.adapters.paths``) for the canonical fields; values are looked through a
wrapper key (``{"value": ...}``), numbers may arrive as strings, and timestamps are read in the
configured format (``auto``: ISO 8601 or epoch seconds / milliseconds; or a strptime pattern),
naive ones in the configured zone.

Keys: ``<mapping name>:<external_id value>``; with ``contact_id`` set, the contact key is
``<mapping name>:<contact id>`` and the tool's events about one person reach one lead (see
``bot.adapters.receive``). Which leads qualify is the policy's MQL definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from bot.adapters import paths
from bot.adapters.events import FieldError, Rejected, Translated, VendorEvent
from bot.adapters.values import ValueProblem, activity, canonical, instant, integer, text
from bot.policy import FieldMapping

_TEXT_FIELDS = {
    "contact.email": "email", "contact.title": "title", "contact.phone": "phone",
    "company.name": "company", "company.industry": "industry",
    "company.domain": "company_domain",
}


class NotMapped(ValueError):
    """The body has no records where the mapping says (the POST is refused with 400)."""


def records(payload: Any, mapping: FieldMapping) -> tuple[list[Any], bool]:
    """The records of a body, and whether it was a batch (a list) rather than one record."""
    if mapping.records is not None:
        found = paths.get(payload, mapping.records)
        if not isinstance(found, list):
            raise NotMapped(f"expected a list of records at {mapping.records}")
        return found, True
    if isinstance(payload, list):
        return payload, True
    if isinstance(payload, Mapping):
        return [payload], False
    raise NotMapped("expected a JSON object (one record) or a list of records")


def translate(record: Any, mapping: FieldMapping, zone: tzinfo, now: datetime) -> Translated:
    kind = f"{mapping.name}.record"
    if not isinstance(record, Mapping):
        return Rejected(kind, [FieldError("(record)", "expected an object")])
    errors: list[FieldError] = []
    wrapper = mapping.unwrap or None
    tz = _zone(mapping, zone)

    def read(field: str, path: str | None, reader: Any, **options: Any) -> Any:
        if path is None:
            return None
        value = paths.get(record, path)
        if value is paths.MISSING:
            return None
        try:
            return reader(value, wrapper=wrapper, **options)
        except ValueProblem as problem:
            errors.append(FieldError(f"{field} ({path})", str(problem)))
            return None

    def timestamp(field: str, path: str | None) -> datetime | None:
        return read(field, path, instant, zone=tz, fmt=mapping.timestamp_format)

    fields = mapping.fields
    external = read("external_id", mapping.external_id, text)
    if external is None and not errors:
        errors.append(FieldError(f"external_id ({mapping.external_id})", "required"))
    contact_id = read("contact_id", mapping.contact_id, text)
    qualified_at = timestamp("qualified_at", mapping.qualified_at)
    values = {name: read(canonical_name, fields.get(canonical_name), text)
              for canonical_name, name in _TEXT_FIELDS.items()}
    name = (read("contact.name", fields.get("contact.name"), text)
            or " ".join(p for p in (read("contact.first_name", fields.get("contact.first_name"),
                                         text),
                                    read("contact.last_name", fields.get("contact.last_name"),
                                         text)) if p)
            or values["email"])
    if not name and not errors:
        errors.append(FieldError("contact.name", "required: the mapped name fields are empty"))
    employees = read("company.employees", fields.get("company.employees"), integer)
    score = read("score", fields.get("score"), integer)
    activities = _activities(record, mapping, tz, errors)
    if errors:
        return Rejected(kind, errors)
    key = f"{mapping.name}:{external}"
    return VendorEvent(
        vendor=mapping.name,
        kind=kind,
        key=key,
        contact=f"{mapping.name}:{contact_id}" if contact_id else None,
        data=canonical(
            key=key,
            source=mapping.source or mapping.name,
            qualified_at=qualified_at or now,
            name=name,
            employees=employees,
            score=score,
            activities=activities,
            vendor={"name": mapping.name, "event": kind, "contact_id": contact_id},
            **values,
        ),
    )


def _zone(mapping: FieldMapping, default: tzinfo) -> tzinfo:
    return ZoneInfo(mapping.timezone) if mapping.timezone else default


def _activities(
    record: Mapping[str, Any], mapping: FieldMapping, zone: tzinfo, errors: list[FieldError]
) -> list[dict[str, Any] | None]:
    found: list[dict[str, Any] | None] = []
    wrapper = mapping.unwrap or None
    for spec in mapping.activities:
        items = paths.get(record, spec.path)
        if items is paths.MISSING or items is None:
            continue
        for index, item in enumerate(items if isinstance(items, list) else [items]):
            where = f"{spec.path}[{index}]"
            try:
                kind = spec.type_value or text(paths.get(item, spec.type or "$"),
                                                wrapper=wrapper)
                at = instant(_value(item, spec.at), zone, fmt=mapping.timestamp_format,
                             wrapper=wrapper)
                detail = text(_value(item, spec.detail), wrapper=wrapper)
            except ValueProblem as problem:
                errors.append(FieldError(where, str(problem)))
                continue
            if kind:
                found.append(activity(kind, at, detail))
    return found


def _value(item: Any, path: str | None) -> Any:
    if path is None:
        return None
    value = paths.get(item, path)
    return None if value is paths.MISSING else value
