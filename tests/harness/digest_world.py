"""The weekly digest's week driven by hand: week 2026-W48 in Tokyo, the scheduler's sweep run at
an instant, the channel's digests and files read back."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import ManualClock
from bot.feedback import Reply, record_reply
from bot.lifecycle import Surface
from bot.reminders.sweep import sweep_notices
from bot.scheduler import default_steps, sweep
from bot.services import Services
from bot.workflow import claim, log_touch
from tests.harness import FakeSlack
from tests.harness.bot_env import make_worker
from tests.harness.leads import queue
from tests.harness.people import CHANNEL, MARKETER, REP1

TOKYO = ZoneInfo("Asia/Tokyo")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def jst(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=TOKYO)


class World:
    def __init__(self, services: Services, clock: ManualClock, fake: FakeSlack) -> None:
        self.services, self.clock, self.fake = services, clock, fake
        self.worker = make_worker(services, clock, fake)

    def drain(self) -> None:
        for _ in range(100):
            if self.worker.run_once() == 0:
                return
        raise AssertionError("the outbox never drained")

    def sweep_at(self, when: datetime) -> None:
        """What the scheduler does at ``when``: one sweep with the default steps, delivered."""
        self.clock.set(when)
        sweep(self.services, default_steps())
        self.drain()

    def digests(self, week: str = "") -> list[dict[str, Any]]:
        """Digest messages in the channel (of ``week`` only, when given), oldest first."""
        return [m for m in self.fake.messages(CHANNEL)
                if m.get("blocks") and m["blocks"][0]["type"] == "header"
                and week in m["blocks"][0]["text"]["text"]
                and self.services.t("digest.footer") in json.dumps(m["blocks"],
                                                                  ensure_ascii=False)]

    def shared_files(self) -> list[dict[str, Any]]:
        return [f for f in self.fake.files.values() if f["completed"]]

    def busy_week(self) -> None:
        """W48: one lead contacted in time then recycled, one breached with marketer feedback."""
        self.clock.set(jst(11, 24, 10))
        first = queue(self.services, "hubspot-1")
        second = queue(self.services, "hubspot-2", company={
            "name": "<!channel> Ltd", "industry": "software", "employees": 80})
        self.drain()
        claim(self.services, first, REP1, surface=Surface.BUTTON)
        self.clock.set(jst(11, 24, 10, 30))
        log_touch(self.services, first, REP1, kind="call", outcome="connected", note=None)
        from bot.decisions import recycle

        recycle(self.services, first, REP1, reason="no_budget",
                fewer_touches_note="they said no twice")
        self.drain()
        self.clock.set(jst(11, 24, 12, 30))  # the second lead is still unclaimed: breaches
        sweep_notices(self.services)
        self.drain()
        with self.services.unit_of_work() as uow:
            lead = uow.leads.get(second)
            assert lead is not None and lead.message_ts
            ts = lead.message_ts
        reply = Reply("Ev1", CHANNEL, ts, "1700000999.000100", MARKETER, "why no call?")
        assert record_reply(self.services, reply).value == "stored"
