"""Asking ``/sla-status`` of the running bot over signed HTTP, and reading its answer."""

from __future__ import annotations

import json
from typing import Any

from bot.ids import Command
from tests.harness.bot_env import Env


def ask(env: Env, user: str, text: str = "") -> dict[str, Any]:
    """Send ``/sla-status text`` as ``user``; the ephemeral answer it got."""
    answer = env.command(Command.SLA_STATUS, user, text)
    assert answer.get("response_type") == "ephemeral"
    return answer


def shown(answer: dict[str, Any]) -> str:
    return json.dumps(answer.get("blocks", []), ensure_ascii=False)
