"""The example values shipped in ``.env.example`` and ``sla.example.toml``, recognised.

A copied example file starts the bot (so ``/healthz`` and the demo can be tried), but its
values are not a configuration: an intake token everybody can read in the repository would
let anyone hand leads to sales, and the example channel and member ids point nowhere. So
``check-config`` refuses them one line each, ``run`` names them when it starts, and the intake
webhooks refuse the example token (SPEC 8). ``tests/test_placeholders.py`` keeps these sets in
step with the shipped files.
"""

from __future__ import annotations

from bot.i18n import Translator
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

def is_placeholder_intake_token(token: str | None) -> bool:
    return token == ENV_PLACEHOLDERS["INTAKE_TOKEN"]


def placeholder_problems(
    settings: Settings | None, policy: Policy | None, t: Translator | None = None
) -> list[str]:
    """One line per example value still in use, each with what to put there instead, in the
    policy's language (or ``t``'s)."""
    if t is None:
        t = Translator(policy.language if policy is not None else "en")
    problems: list[str] = []
    if settings is not None:
        current = {
            "SLACK_BOT_TOKEN": settings.slack_bot_token,
            "SLACK_SIGNING_SECRET": settings.slack_signing_secret,
            "INTAKE_TOKEN": settings.intake_token,
        }
        for name, example in ENV_PLACEHOLDERS.items():
            if current[name] == example:
                problems.append(t(f"placeholders.{name.lower()}", name=name))
    if policy is not None:
        channels = policy.channels
        for key, value in (
            ("handoff", channels.handoff),
            ("marketing_feedback", channels.marketing_feedback),
            ("digest", channels.digest),
        ):
            if value in CHANNEL_PLACEHOLDERS:
                problems.append(t("placeholders.channel", key=key, value=value))
        roles = policy.roles
        for key in ("reps", "managers", "marketers", "away"):
            people = getattr(roles, key)
            examples = [] if isinstance(people, str) else [
                person for person in people if person in MEMBER_PLACEHOLDERS
            ]
            if examples:
                problems.append(t("placeholders.member", key=key, ids=", ".join(examples)))
        examples = sorted(set(policy.auto_assign.weights) & MEMBER_PLACEHOLDERS)
        if examples:
            problems.append(t("placeholders.weights", ids=", ".join(examples)))
    return problems
