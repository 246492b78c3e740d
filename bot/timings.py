"""Business-time facts of a hand-off, stored with the lead so reports need not re-derive them.

A month's report measures business minutes for every lead it counts; doing that arithmetic per
lead at report time was most of ``/sla-status``'s cost at 100,000 leads. These facts never
change once their inputs are known — the hand-off (``posted_at``), the first claim and the first
touch are each written once, and the tier before the hand-off — so they are stamped in the
transaction that sets each input and read back by ``bot.reporting.metrics``:

- ``first_contact_due_at``: the first-contact deadline (as ``bot.deadlines``; reminders still
  derive theirs each time, these are copies for reports);
- ``claim_business_us`` / ``contact_business_us``: business microseconds from the hand-off to
  the first claim (a claim stamped before the hand-off counts as zero) / to the first touch.

Each stamp names its ``timing_basis``: a digest of the calendar and the first-contact targets
it was measured on. When the policy changes, stamps of the old basis are stale: the reports
measure those leads again themselves (exact either way), and ``restamp_all``, run at every
start, re-stamps them in batches.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import ColumnElement, and_, or_

from bot.calendar import BusinessCalendar, BusinessTimeline
from bot.deadlines import first_contact_target_hours
from bot.policy import Policy
from storage.models import Lead

if TYPE_CHECKING:
    from bot.services import Services
    from storage.unit_of_work import UnitOfWork

__all__ = [
    "RESTAMP_BATCH",
    "Facts",
    "Stamped",
    "basis",
    "facts",
    "is_stamped",
    "measure",
    "restamp_all",
    "stale",
    "stamp",
]

#: leads re-stamped per transaction at start (memory stays flat, no long lock)
RESTAMP_BATCH = 1000

_MICRO = timedelta(microseconds=1)

#: what ``stamp`` measures with: the calendar itself or a timeline over a batch's window
Measure = BusinessCalendar | BusinessTimeline


_HOLIDAYS_VERSION = version("holidays")
#: how many policies' digests are kept: a process runs one policy at a time (a new agreement
#: replaces it), so a few cover every reader; older ones are computed again if asked for
BASES_KEPT = 8
#: the digest of the latest policy objects seen (never mutated), oldest first
_BASES: dict[int, tuple[Policy, str]] = {}
_BASES_LOCK = threading.Lock()


def basis(policy: Policy) -> str:
    """A digest of everything the stamps depend on: the calendar's configuration (zone, days,
    shifts, holidays and closures, with the holiday data's version) and the first-contact
    target of each tier and of the agreement. Computed once per policy object (of the last
    ``BASES_KEPT``)."""
    with _BASES_LOCK:
        known = _BASES.get(id(policy))
    if known is not None and known[0] is policy:
        return known[1]
    # in order: the first tier of a name is the one ``first_contact_target_hours`` uses
    targets = [(tier.name, tier.first_contact_business_hours) for tier in policy.tiers]
    facts = {
        "calendar": policy.calendar.model_dump(mode="json"),
        "holidays": _HOLIDAYS_VERSION,
        "first_contact": policy.agreement.first_contact_business_hours,
        "tiers": targets,
    }
    encoded = json.dumps(facts, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(encoded).hexdigest()[:32]
    with _BASES_LOCK:
        _BASES.pop(id(policy), None)
        _BASES[id(policy)] = (policy, digest)
        while len(_BASES) > BASES_KEPT:
            del _BASES[next(iter(_BASES))]
    return digest


class Stamped(Protocol):
    """A lead, or a row read with the columns the facts come from and are stored in."""

    @property
    def tier(self) -> str | None: ...
    @property
    def posted_at(self) -> datetime | None: ...
    @property
    def first_claimed_at(self) -> datetime | None: ...
    @property
    def first_touch_at(self) -> datetime | None: ...
    @property
    def first_contact_due_at(self) -> datetime | None: ...
    @property
    def claim_business_us(self) -> int | None: ...
    @property
    def contact_business_us(self) -> int | None: ...
    @property
    def timing_basis(self) -> str | None: ...


@dataclass(frozen=True)
class Facts:
    """The stamped facts of one lead (all None until it is handed off)."""

    first_contact_due_at: datetime | None = None
    claim_business_us: int | None = None
    contact_business_us: int | None = None


def measure(lead: Stamped, policy: Policy, *, on: Measure | None = None) -> Facts:
    """The facts ``stamp`` stores, measured now on the calendar (or on a timeline ``on``)."""
    posted = lead.posted_at
    if posted is None:
        return Facts()
    calendar = on or policy.business_calendar
    hours = first_contact_target_hours(lead, policy)
    claimed, touched = lead.first_claimed_at, lead.first_touch_at
    return Facts(
        calendar.add(posted, timedelta(hours=hours)),
        None if claimed is None else calendar.between(posted, max(claimed, posted)) // _MICRO,
        None if touched is None else calendar.between(posted, touched) // _MICRO,
    )


def facts(lead: Stamped, policy: Policy, current: str, *, on: Measure | None = None) -> Facts:
    """The lead's facts: as stored when its stamp is current, else measured."""
    if is_stamped(lead, current):
        return Facts(lead.first_contact_due_at, lead.claim_business_us,
                     lead.contact_business_us)
    return measure(lead, policy, on=on)


def stamp(lead: Lead, policy: Policy, *, on: Measure | None = None,
          current: str | None = None) -> None:
    """Store the lead's facts, in the transaction that set the hand-off, first claim or first
    touch. ``on``/``current`` let a batch share one timeline and one digest."""
    measured = measure(lead, policy, on=on)
    lead.first_contact_due_at = measured.first_contact_due_at
    lead.claim_business_us = measured.claim_business_us
    lead.contact_business_us = measured.contact_business_us
    lead.timing_basis = None if lead.posted_at is None else current or basis(policy)


def is_stamped(lead: Stamped, current: str) -> bool:
    """Whether the lead's stored facts are those ``stamp`` would write now (Python's ``stale``)."""
    return (lead.posted_at is not None and lead.timing_basis == current
            and lead.first_contact_due_at is not None
            and (lead.first_claimed_at is None) == (lead.claim_business_us is None)
            and (lead.first_touch_at is None) == (lead.contact_business_us is None))


def stale(current: str) -> ColumnElement[bool]:
    """Handed-off leads whose facts are missing, of another basis, or behind their inputs."""
    return and_(Lead.posted_at.is_not(None), or_(
        Lead.timing_basis.is_(None),
        Lead.timing_basis != current,
        Lead.first_contact_due_at.is_(None),
        and_(Lead.first_claimed_at.is_not(None), Lead.claim_business_us.is_(None)),
        and_(Lead.first_claimed_at.is_(None), Lead.claim_business_us.is_not(None)),
        and_(Lead.first_touch_at.is_not(None), Lead.contact_business_us.is_(None)),
        and_(Lead.first_touch_at.is_(None), Lead.contact_business_us.is_not(None)),
    ))


def restamp_all(services: Services, *, on_batch: Callable[[int], Any] | None = None) -> int:
    """Stamp every handed-off lead whose facts are stale (a new install, a changed calendar or
    target); returns how many. Batches of ``RESTAMP_BATCH`` in id order, each its own short
    transaction, stopping between batches when the bot stops. Idempotent, so two processes
    starting together only repeat each other's work."""
    policy = services.policy
    current = basis(policy)
    done, after = 0, 0
    while not services.stopping.is_set():
        with services.unit_of_work() as uow:
            # locked: a claim or touch committed meanwhile in another process is not overwritten
            leads = uow.leads.batch_after(stale(current), after, RESTAMP_BATCH, lock=True)
            if not leads:
                break
            _stamp_batch(uow, leads, policy, current)
            uow.commit()
        done += len(leads)
        after = leads[-1].id
        if on_batch is not None:
            on_batch(done)
    return done


def _stamp_batch(uow: UnitOfWork, leads: list[Lead], policy: Policy, current: str) -> None:
    """One timeline over the batch's hand-offs (plus a month for the deadlines past them):
    bisections instead of a walk of the calendar per lead."""
    posted = [lead.posted_at for lead in leads if lead.posted_at is not None]
    on: Measure = policy.business_calendar
    if posted:
        ends = [value for lead in leads
                for value in (lead.first_claimed_at, lead.first_touch_at) if value is not None]
        on = BusinessTimeline(policy.business_calendar, min(posted),
                              max([*posted, *ends]) + timedelta(days=30))
    for lead in leads:
        stamp(lead, policy, on=on, current=current)
    uow.flush()

