"""``POST /webhooks/mql`` as a marketing-automation tool sends it, and ``POST /webhooks/outcome``
as a CRM does: the same bearer token and JSON body."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.clock import ManualClock
from bot.policy import load_policy
from handlers.server import BotServer
from storage import migrate
from storage.db import make_engine
from tests.harness import FakeSlack, HttpResponse, http_post
from tests.harness.bot_env import make_services, start_bot
from tests.harness.databases import Database
from tests.harness.policies import EXAMPLE_POLICY
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


@contextmanager
def refusing_bot(directory: Path) -> Iterator[BotServer]:
    """One bot, on a SQLite file of its own in ``directory``, for a module's refused requests:
    each asserts it wrote nothing, so they can share it; none may reach Slack."""
    fake = FakeSlack().start()
    url = f"sqlite:///{directory / 'test.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    clock = ManualClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    server = start_bot(
        make_services(fake, Database("sqlite", url, engine), load_policy(EXAMPLE_POLICY), clock)
    )
    try:
        yield server
    finally:
        server.stop()
        fake.stop()
    assert fake.calls == [] and fake.errors == []
