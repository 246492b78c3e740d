"""Optional auto-assignment: who gets a lead nobody claimed in time (SPEC 5, policy opt-in).

Weighted round-robin over the reps who can take it now — not away (policy list or Slack
status), under their open-lead cap, weight above zero: the one furthest behind their share of
recent automatic assignments gets the next lead. Recent assignments are the scheduler's claim
events, so the rotation survives restarts and is shared by every process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from bot.event_kind import Action
from bot.lifecycle import OWNED, Surface
from bot.policy import Policy
from bot.roles import Directory
from storage.models import LeadEvent
from storage.unit_of_work import UnitOfWork

__all__ = ["choose", "pick_assignee"]

#: how far back the rotation looks when counting who got how many
ROTATION_WINDOW = timedelta(days=30)


def choose(
    candidates: Sequence[str], weights: Mapping[str, int], recent: Mapping[str, int]
) -> str | None:
    """The candidate with the fewest recent assignments per unit of weight (ties: list order)."""
    eligible = [c for c in candidates if weights.get(c, 1) > 0]
    if not eligible:
        return None
    order = {c: i for i, c in enumerate(eligible)}
    return min(eligible, key=lambda c: (recent.get(c, 0) / weights.get(c, 1), order[c]))


def pick_assignee(
    directory: Directory, policy: Policy, uow: UnitOfWork, now: datetime
) -> str | None:
    """The rep to assign the next unclaimed lead to, or None when nobody can take one."""
    reps = sorted(r for r in directory.members("reps")
                  if not directory.is_away(r, cached_only=True))
    if not reps:
        return None
    cap = policy.agreement.max_open_leads_per_rep
    if cap is not None:
        open_counts = uow.leads.counts_owned_by(reps, OWNED)
        reps = [r for r in reps if open_counts.get(r, 0) < cap]
    recent = uow.events.count_by_actor(
        LeadEvent.kind == Action.CLAIM,
        LeadEvent.surface == Surface.SCHEDULER.value,
        LeadEvent.at >= now - ROTATION_WINDOW,
        LeadEvent.actor.in_(reps),
    )
    return choose(reps, policy.auto_assign.weights, {str(k): int(v) for k, v in recent.items()})
