"""What the benchmarks share: the real bot as a child process on the fake Slack, the bot's
services in the bench's own process, a lead the example policy qualifies, the example policy
rewritten, percentiles.

Light to import: ``button_bench.py`` runs its baseline app in a child that imports its module
(and so this one), and what that child has loaded is part of the baseline it measures; the
bot's modules are imported where they are used.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from tests.harness.bot_process import BotProcess, bot_environment

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot.clock import Clock
    from bot.policy import Policy
    from bot.services import Services

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_POLICY = ROOT / "sla.example.toml"
BOT_TOKEN = "xoxb-bench"
SIGNING_SECRET = "bench-signing-secret"
INTAKE_TOKEN = "bench-intake-token"


def start_bot(slack_api_url: str, database_url: str, policy: Path, *,
              migrate: bool = False) -> BotProcess:
    """``sla-bot run`` on the fake Slack at ``slack_api_url``, logging warnings only, from the
    repository's root; it may not serve yet (``serving``)."""
    env = bot_environment(slack_api_url, database_url, policy, bot_token=BOT_TOKEN,
                          signing_secret=SIGNING_SECRET, INTAKE_TOKEN=INTAKE_TOKEN,
                          LOG_LEVEL="WARNING")
    return BotProcess(env, cwd=ROOT, migrate=migrate)


def serving(bot: BotProcess, timeout: float = 60) -> BotProcess:
    """``bot`` once ``/healthz`` answers; the bench ends if it exits or does not in time."""
    if not bot.wait_serving(timeout):
        bot.stop()
        raise SystemExit("the bot did not start")
    return bot


def bench_services(database_url: str, engine: Engine, policy: Policy, clock: Clock,
                   slack_api_url: str) -> Services:
    """The bot's services in this process, on ``engine``, talking to the fake Slack."""
    from slack_sdk import WebClient

    from bot.services import build_services
    from bot.settings import Settings

    settings = Settings(slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                        database_url=database_url, slack_api_url=slack_api_url)
    slack = WebClient(token=BOT_TOKEN, base_url=slack_api_url, timeout=5)
    return build_services(settings, policy, clock, engine=engine, slack=slack)


def qualified_lead(external_id: str, n: int) -> dict[str, object]:
    """Lead ``n`` as the MA tool sends it, qualified under the example policy."""
    return {
        "external_id": external_id,
        "source": "bench",
        "qualified_at": "2026-11-24T09:12:00+09:00",
        "contact": {"name": f"Lead {n}", "title": "営業部長"},
        "company": {"name": "Example KK", "industry": "manufacturing", "employees": 250},
        "score": 72,
        "activities": [
            {"type": "page_view", "at": "2026-11-20T10:01:00+09:00", "detail": "/pricing"},
            {"type": "webinar", "at": "2026-11-22T14:00:00+09:00", "detail": "Alignment"},
        ],
    }


def rewritten_policy(workdir: Path, lines: dict[str, str]) -> Path:
    """The example policy as ``workdir/sla.toml``, each line matching a pattern of ``lines``
    (one line each, or the bench ends) replaced by its value."""
    text = EXAMPLE_POLICY.read_text(encoding="utf-8")
    for pattern, line in lines.items():
        text, count = re.subn(f"(?m){pattern}", line, text)
        if count != 1:
            raise SystemExit(f"could not rewrite {pattern!r} in the example policy")
    path = workdir / "sla.toml"
    path.write_text(text, encoding="utf-8")
    return path


def percentile(values: list[float], p: float) -> float:
    """The value ``p`` % of the way through ``values`` sorted (the nearest, not interpolated)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
