"""The example values shipped in ``.env.example`` and ``sla.example.toml``, recognised.

A copied example file starts the bot (so ``/healthz`` and the demo can be tried), but its
values are not a configuration: an intake token everybody can read in the repository would
let anyone hand leads to sales, and the example channel and member ids point nowhere. So
``check-config`` refuses them one line each, ``run`` names them when it starts, and the intake
webhooks refuse the example token (SPEC 8). ``tests/test_placeholders.py`` keeps these sets in
step with the shipped files.
"""

from __future__ import annotations

from bot.policy import Policy
from bot.settings import Settings

#: environment variable → the example value ``.env.example`` ships for it
ENV_PLACEHOLDERS: dict[str, str] = {
    "SLACK_BOT_TOKEN": "xoxb-your-bot-token",
    "SLACK_SIGNING_SECRET": "your-signing-secret",
    "INTAKE_TOKEN": "change-me-to-a-long-random-string",
}
#: the channel ids of ``sla.example.toml``
CHANNEL_PLACEHOLDERS = frozenset({"C0000SALES", "C0000MKTG"})
#: the member ids of ``sla.example.toml``
MEMBER_PLACEHOLDERS = frozenset({"U0000REP1", "U0000REP2", "U0000MGR1", "U0000MKT1"})

_ENV_FIXES = {
    "SLACK_BOT_TOKEN": "paste the Bot User OAuth Token (xoxb-…) from the Slack app's OAuth & "
    "Permissions page",
    "SLACK_SIGNING_SECRET": "paste the Signing Secret from the Slack app's Basic Information "
    "page",
    "INTAKE_TOKEN": "set a long random string, e.g. the output of: openssl rand -hex 32",
}


def is_placeholder_intake_token(token: str | None) -> bool:
    return token == ENV_PLACEHOLDERS["INTAKE_TOKEN"]


def placeholder_problems(settings: Settings | None, policy: Policy | None) -> list[str]:
    """One line per example value still in use, each with what to put there instead."""
    problems: list[str] = []
    if settings is not None:
        current = {
            "SLACK_BOT_TOKEN": settings.slack_bot_token,
            "SLACK_SIGNING_SECRET": settings.slack_signing_secret,
            "INTAKE_TOKEN": settings.intake_token,
        }
        for name, example in ENV_PLACEHOLDERS.items():
            if current[name] == example:
                problems.append(f"{name}: still the example value of .env.example: "
                                f"{_ENV_FIXES[name]}")
    if policy is not None:
        channels = policy.channels
        for key, value in (
            ("handoff", channels.handoff),
            ("marketing_feedback", channels.marketing_feedback),
            ("digest", channels.digest),
        ):
            if value in CHANNEL_PLACEHOLDERS:
                problems.append(
                    f"[channels] {key}: {value} is the example's channel id: put your channel's "
                    "id (in Slack, open the channel's details; the id is at the bottom)"
                )
        roles = policy.roles
        for key in ("reps", "managers", "marketers", "away"):
            people = getattr(roles, key)
            examples = [] if isinstance(people, str) else [
                person for person in people if person in MEMBER_PLACEHOLDERS
            ]
            if examples:
                problems.append(
                    f"[roles] {key}: {', '.join(examples)} is the example's member id: put your "
                    "people's ids (in Slack, open a profile, ⋮ → Copy member ID)"
                )
        examples = sorted(set(policy.auto_assign.weights) & MEMBER_PLACEHOLDERS)
        if examples:
            problems.append(f"[auto_assign] weights: {', '.join(examples)} is the example's "
                            "member id: use your reps' ids")
    return problems
