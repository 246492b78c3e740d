"""November 2026 in Tokyo driven lead by lead through the real services, for the reports:
hand-offs, claims, touches and decisions at given instants, the reminder sweep in between."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import ManualClock
from bot.decisions import convert, recycle
from bot.intake import accept, parse_data
from bot.lifecycle import Surface
from bot.outbox.worker import OutboxWorker
from bot.reminders.sweep import sweep_notices
from bot.services import Services
from bot.workflow import claim, log_touch
from storage.models import Lead, LeadStatus
from tests.harness import FakeSlack
from tests.harness.bot_env import make_worker

TOKYO = ZoneInfo("Asia/Tokyo")
BANT = ("budget", "authority", "need", "timeline")


def jst(month_: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month_, day, hour, minute, tzinfo=TOKYO).astimezone(UTC)


def payload(external_id: str, qualified: datetime, *, activities: bool = True,
            hot: bool = False, industry: str = "manufacturing") -> dict[str, Any]:
    local = qualified.astimezone(TOKYO)
    day_before = (local - timedelta(days=1)).isoformat()
    history = [{"type": "page_view", "at": day_before, "detail": "/pricing"}] if activities else []
    if hot:
        history.append({"type": "demo_request", "at": day_before, "detail": "demo"})
    return {
        "external_id": external_id,
        "source": "hubspot",
        "qualified_at": local.isoformat(),
        "contact": {"name": f"Contact {external_id}", "email": "x@example.co.jp",
                    "title": "営業部長"},
        "company": {"name": f"Company {external_id}", "industry": industry, "employees": 250},
        "score": 72,
        "activities": history,
    }


class Month:
    """Drives the clock, the outbox worker and the reminder sweep through the month."""

    def __init__(self, services: Services, clock: ManualClock, fake: FakeSlack) -> None:
        self.services, self.clock = services, clock
        self.worker: OutboxWorker = make_worker(services, clock, fake)

    def at(self, when: datetime) -> None:
        self.clock.set(when)
        sweep_notices(self.services)
        self.drain()
        self.clock.set(when)  # the worker's pacing moved the clock by seconds

    def drain(self) -> None:
        while self.worker.run_once():
            pass

    def hand_off(self, name: str, qualified: datetime, posted: datetime, **kw: Any) -> int:
        lead_id = self.hand_off_body(payload(name, qualified, **kw), posted)
        with self.services.unit_of_work() as uow:
            lead = uow.session.get(Lead, lead_id)
            assert lead is not None and lead.posted_at == posted
        return lead_id

    def hand_off_body(self, data: dict[str, Any], posted: datetime) -> int:
        """The lead ``data`` arrives by webhook at ``posted`` and is posted in that drain."""
        self.at(posted - timedelta(minutes=1))  # what the sweep owes goes out before...
        self.clock.set(posted)  # ...so the hand-off is the first post of its drain, not paced
        mql = parse_data(data, now=self.clock.now())
        result = accept(self.services, mql, surface=Surface.WEBHOOK)
        assert result.status == "queued", result
        self.drain()
        with self.services.unit_of_work() as uow:
            lead = uow.session.get(Lead, result.lead_id)
            assert lead is not None and lead.status == LeadStatus.POSTED
        return result.lead_id

    def claim(self, lead_id: int, rep: str, when: datetime) -> None:
        self.at(when)
        claim(self.services, lead_id, rep, surface=Surface.BUTTON)
        self.drain()

    def touch(self, lead_id: int, rep: str, when: datetime, times: int = 1) -> None:
        for i in range(times):
            self.at(when + timedelta(minutes=i))
            log_touch(self.services, lead_id, rep, kind="call", outcome="connected", note=None)
            self.drain()

    def convert(self, lead_id: int, rep: str, when: datetime) -> None:
        self.at(when)
        convert(self.services, lead_id, rep, bant=BANT)
        self.drain()

    def recycle(self, lead_id: int, rep: str, when: datetime, reason: str) -> None:
        self.at(when)
        recycle(self.services, lead_id, rep, reason=reason, fewer_touches_note="no answer")
        self.drain()
