"""``POST /webhooks/mql`` as a marketing-automation tool sends it, and ``POST /webhooks/outcome``
as a CRM does: the same bearer token and JSON body."""

from __future__ import annotations

import json
from typing import Any

from handlers.server import BotServer
from tests.harness import HttpResponse, http_post
from tests.harness.settings import INTAKE_TOKEN

MQL_PATH = "/webhooks/mql"
OUTCOME_PATH = "/webhooks/outcome"


def post(
    bot: BotServer,
    body: dict[str, Any] | list[Any] | str | bytes,
    *,
    token: str | None = INTAKE_TOKEN,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
    path: str = MQL_PATH,
) -> HttpResponse:
    data = body if isinstance(body, str | bytes) else json.dumps(body, ensure_ascii=False)
    sent: dict[str, str] = {}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if content_type is not None:
        sent["Content-Type"] = content_type
    sent.update(headers or {})
    return http_post(f"{bot.url}{path}", data, sent)
