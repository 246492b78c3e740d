"""Asking ``/sla-status`` of the running bot over signed HTTP, and reading its answer."""

from __future__ import annotations

import json
from typing import Any

from bot.ids import Command
from tests.harness.bot_env import Env
from tests.harness.waiting import eventually


def ask(env: Env, user: str, text: str = "") -> dict[str, Any]:
    """Send ``/sla-status text`` as ``user``; the ephemeral answer it got."""
    name = f"status-{user}-{len(env.fake.calls_to('response_url'))}"
    url = env.fake.response_url(name, user=user)
    response = env.slack.slash_command(Command.SLA_STATUS.value, text, user_id=user,
                                       response_url=url)
    assert response.status == 200

    def answered() -> list[dict[str, Any]]:
        return [c.args for c in env.fake.calls_to("response_url")
                if c.args.get("_name") == name]

    eventually(lambda: len(answered()) == 1)
    (answer,) = answered()
    assert answer.get("response_type") == "ephemeral"
    return answer


def shown(answer: dict[str, Any]) -> str:
    return json.dumps(answer.get("blocks", []), ensure_ascii=False)
