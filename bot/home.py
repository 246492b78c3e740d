"""App Home: a rep's open leads by next deadline, overdue first; managers also see the team.

Every Home goes out through the outbox, as a ``home`` row: changes to a lead queue one for each
person whose Home shows it (``bot.lead_messages.refresh_homes``) and opening the Home tab queues one
too (``queue_home_open``). The view is rendered when the row is sent (``home_publish_args``),
from the database as it is then, so a burst of changes never leaves a stale Home behind, and a
refresh that Slack refused is retried with the worker's backoff rather than lost.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.exc import SQLAlchemyError

from bot.agreement.reading import current_headline
from bot.clock import Clock
from bot.deadlines import decision_due, first_contact_due
from bot.lifecycle import OWNED
from bot.policy import Policy
from bot.services import Services
from bot.views.home import UNCLAIMED_SHOWN, Deadline, HomeData, HomeLead, home_view
from storage.models import Lead, LeadStatus
from storage.outbox_kind import OutboxKind
from storage.unit_of_work import UnitOfWork

__all__ = [
    "home_publish_args",
    "load_home",
    "next_deadline",
    "open_key",
    "queue_home_open",
]

log = logging.getLogger(__name__)

#: the only columns ``next_deadline`` may read (the Home loads no others; anything else raises)
DEADLINE_COLUMNS = (Lead.posted_at, Lead.first_touch_at, Lead.tier)
#: what the Home shows of a lead, loaded in one query per list (no lazy loads: no N+1)
HOME_COLUMNS = (
    Lead.id, Lead.contact_name, Lead.company_name, Lead.status, Lead.touch_count,
    Lead.owner_id, Lead.channel_id, Lead.message_ts, *DEADLINE_COLUMNS,
)
OWNED_STATUSES = tuple(sorted(s.value for s in OWNED))
SUPERSEDED = "superseded: a newer render of this Home was sent"


def next_deadline(lead: Lead, policy: Policy) -> Deadline | None:
    """The next promise a lead is held to: first contact until touched, then the decision.

    The one place that decides it (follow-up deadlines will slot in here); it reads only
    ``DEADLINE_COLUMNS``, so extend that tuple if it needs more.
    """
    if lead.first_touch_at is None:
        due = first_contact_due(lead, policy)
        return Deadline("first_contact", due) if due is not None else None
    due = decision_due(lead, policy)
    return Deadline("decision", due) if due is not None else None


# ----------------------------------------------------------------------- opening the tab


def open_key(user_id: str, event_id: str | None, fallback: str) -> str:
    """The outbox key of one ``app_home_opened`` event: Slack's redelivery queues nothing new."""
    unique = "".join(c for c in (event_id or fallback) if c.isalnum() or c in "-_.:")
    return f"home-open:{user_id}:{unique}"[:255]


def queue_home_open(services: Services, user_id: str, event_id: str | None) -> None:
    """Queue a render of ``user_id``'s Home and wake this process's worker.

    Why the outbox rather than ``views.publish`` right here: the row is committed before
    anything is asked of Slack, so an outage delays the Home instead of losing it (the worker
    retries with backoff); every Home is rendered by one code path at send time, from then
    current state, and one process's worker sends in order, so an open that races a change
    cannot publish an older render over a newer one; and the event listener stays a quick
    database write. Waking the worker keeps the usual delay at one round trip.
    """
    now = services.clock.now()
    with services.unit_of_work() as uow:
        uow.outbox.enqueue(
            key=open_key(user_id, event_id, now.isoformat()),
            kind=OutboxKind.HOME,
            now=now,
            channel=user_id,
            payload={"user_id": user_id},
        )
        uow.commit()
    services.outbox_ready.set()


# ---------------------------------------------------------------------------- rendering


def home_publish_args(services: Services, uow: UnitOfWork, user_id: str) -> dict[str, Any]:
    """The arguments of ``views.publish`` for ``user_id``'s Home, from current state.

    Called by the outbox worker inside its unit of work, which it then rolls back. This first
    marks the user's other pending Home refreshes skipped and commits that (see
    ``_skip_superseded``), then reads: whatever those refreshes were owed is already visible.
    """
    is_manager = services.directory.has_role(user_id, "managers")
    is_rep = services.directory.has_role(user_id, "reps")
    _skip_superseded(uow, user_id)
    data = load_home(services.policy, services.clock, uow, user_id, is_rep=is_rep,
                     is_manager=is_manager)
    return {"user_id": user_id, "view": home_view(data, services.policy.tz, services.t)}


def load_home(
    policy: Policy, clock: Clock, uow: UnitOfWork, user_id: str, *, is_rep: bool,
    is_manager: bool,
) -> HomeData:
    """Everything ``user_id``'s Home shows, in a fixed number of queries however many leads.

    A rep's leads come by ``owner_id`` (indexed); a manager's team is every owned open lead
    (by ``status``, indexed), of which the manager's own are a subset, so one query serves
    both. Unclaimed leads are counted, and only the oldest few that are shown are loaded.
    """
    owned = Lead.status.in_(OWNED_STATUSES)
    team: list[HomeLead] | None = None
    unclaimed: list[HomeLead] | None = None
    unclaimed_total = 0
    if is_manager:
        team = _home_leads(uow, policy, [owned, Lead.owner_id.is_not(None)])
        mine = [lead for lead in team if lead.owner_id == user_id]
        posted = Lead.status == LeadStatus.POSTED.value
        unclaimed = _home_leads(uow, policy, [posted], oldest_first=True, limit=UNCLAIMED_SHOWN)
        unclaimed_total = uow.leads.count_in_status(LeadStatus.POSTED)
    else:
        mine = _home_leads(uow, policy, [owned, Lead.owner_id == user_id])
    return HomeData(
        user_id=user_id,
        now=clock.now(),
        handoff_channel=policy.channels.handoff,
        is_rep=is_rep,
        is_manager=is_manager,
        mine=mine,
        team=team,
        unclaimed=unclaimed,
        unclaimed_total=unclaimed_total,
        agreement=current_headline(uow),
    )


def _home_leads(
    uow: UnitOfWork,
    policy: Policy,
    where: Sequence[ColumnElement[bool]],
    *,
    oldest_first: bool = False,
    limit: int | None = None,
) -> list[HomeLead]:
    """One query for the Home's columns of the matching leads; lazy loads raise, not query."""
    leads = uow.leads.only_columns(
        HOME_COLUMNS, where, order_by=(Lead.posted_at, Lead.id) if oldest_first else (),
        limit=limit)
    return [_home_lead(lead, policy) for lead in leads]


def _home_lead(lead: Lead, policy: Policy) -> HomeLead:
    return HomeLead(
        id=lead.id,
        name=lead.contact_name or "",
        company=lead.company_name,
        status=str(lead.status),
        touch_count=lead.touch_count or 0,
        owner_id=lead.owner_id,
        channel_id=lead.channel_id,
        message_ts=lead.message_ts,
        posted_at=lead.posted_at,
        deadline=next_deadline(lead, policy),
    )


def _skip_superseded(uow: UnitOfWork, user_id: str) -> None:
    """Mark this user's other pending Home refreshes skipped: the render being made covers them.

    A pending row visible here was committed together with its change, and everything read
    after this statement sees that change, so sending the row later would only publish the same
    Home again (a burst of claims would otherwise cost each manager one publish per claim). Rows
    a worker is sending are left alone. The outbox worker does not commit a Home row's unit of
    work, so this commits on its own, before any read; if it fails (a lock timeout, a deadlock
    between two workers), it is rolled back and the Home is still rendered.
    """
    try:
        skipped = uow.outbox.skip_pending(OutboxKind.HOME, user_id, SUPERSEDED)
        uow.commit()
    except SQLAlchemyError:
        uow.rollback()
        log.warning("could not skip superseded Home refreshes; rendering anyway", exc_info=True)
        return
    if skipped:
        log.debug("skipped %s superseded Home refreshes", skipped)
