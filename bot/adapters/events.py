"""What an adapter makes of one vendor event: a lead to receive, a skip, or a rejection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.intake import FieldError

__all__ = ["FieldError", "Rejected", "Skipped", "Translated", "VendorEvent"]


@dataclass(frozen=True)
class VendorEvent:
    """One vendor event, translated into the canonical intake."""

    #: the adapter: ``mautic``, ``hubspot``, ``marketo`` or a mapping's name
    vendor: str
    #: the vendor's event type, e.g. ``mautic.lead_points_change``, ``contact.propertyChange``
    kind: str
    #: the idempotency key from the vendor's ids; the ``external_id`` of a lead it creates
    key: str
    #: the canonical intake (``bot.intake.MqlIn`` as a dict)
    data: dict[str, Any]
    #: the vendor's id for the person, e.g. ``hubspot:123``; None: every event is a new lead
    contact: str | None = None
    #: the tool's own reasons why this is not an MQL (e.g. a HubSpot lifecycle stage); a vetoed
    #: event never posts, whatever the definition says
    vetoes: tuple[str, ...] = ()

    @property
    def label(self) -> dict[str, str]:
        """What the lifecycle event records about the vendor event (ids only)."""
        return {"vendor": self.vendor, "type": self.kind, "key": self.key}


@dataclass(frozen=True)
class Skipped:
    """Not about a person we hand off (e.g. a deletion or a company event): answered, not stored."""

    kind: str
    reason: str


@dataclass(frozen=True)
class Rejected:
    """A malformed event: reported field by field, the rest of its batch still accepted."""

    kind: str
    errors: list[FieldError] = field(default_factory=list)


Translated = VendorEvent | Skipped | Rejected
