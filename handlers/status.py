"""``/sla-status``: the agreement, and how both sides are doing against it (ephemeral)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.errors import OtherRepRefused
from bot.ids import Command
from bot.reporting.metrics import Scorecard, open_breaches, scorecard, team_and_reps
from bot.reporting.outcome_metrics import closed_summaries
from bot.reporting.periods import parse_status_args
from bot.services import Services
from bot.views.status import StatusReport, status_blocks, status_text
from handlers.errors import reported


def register(app: App) -> None:
    app.command(Command.SLA_STATUS.value)(sla_status)


def sla_status(
    ack: Ack, respond: Respond, services: Services, body: dict[str, Any],
    context: dict[str, Any],
) -> None:
    ack()
    with reported(body, context):
        respond(**status_answer(services, str(body.get("user_id") or ""),
                                str(body.get("text") or "")))


def status_answer(services: Services, user_id: str, text: str) -> dict[str, Any]:
    """The ephemeral answer for ``user_id``: managers see the team and every rep; a rep sees
    their own figures and the team totals, never another rep's."""
    policy = services.policy
    now = services.clock.now()
    period, asked_rep = parse_status_args(text, now, policy.tz)
    is_manager = services.directory.has_role(user_id, "managers")
    if asked_rep is not None and asked_rep != user_id and not is_manager:
        raise OtherRepRefused(f"{user_id} asked for another rep's figures")
    rep = asked_rep if is_manager else user_id
    if is_manager and not asked_rep:  # the team and every rep from one pass
        team, reps = team_and_reps(services, policy, period, now=now)
        mine: Scorecard | None = None
    else:
        team = scorecard(services, policy, period, now=now)
        mine = scorecard(services, policy, period, rep, now=now) if rep else None
        reps = None
    breaches = open_breaches(services, policy, None if is_manager and not asked_rep else rep)
    # the deals closed in the period, the team's and the rep's: one read of ``closed_at``
    team_deals, rep_deals = closed_summaries(services, period, rep if mine else None)
    report = StatusReport(period=period, team=team, rep=mine, reps=reps, breaches=breaches,
                          language=services.t.language, tz=policy.tz,
                          team_deals=team_deals, rep_deals=rep_deals)
    return {
        "response_type": "ephemeral",
        "text": status_text(report, services.t),
        "blocks": status_blocks(report, policy, services.t),
    }
