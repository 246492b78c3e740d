"""The reminder sweep driven by hand: the clock moved, the sweep and the outbox worker run, what
people were sent read back (Tuesday 24 Nov 2026 in Tokyo)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.clock import ManualClock
from bot.outbox.worker import OutboxWorker
from bot.reminders.sweep import sweep_notices
from bot.services import Services
from storage.models import Lead, LeadEvent, LeadStatus
from tests.harness import FakeSlack
from tests.harness.bot_env import make_worker
from tests.harness.leads import lead_row, queue
from tests.harness.people import CHANNEL


def jst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour - 9, minute, tzinfo=UTC) if hour >= 9 else datetime(
        2026, 11, day - 1, hour + 15, minute, tzinfo=UTC)


class World:
    def __init__(self, services: Services, clock: ManualClock, fake: FakeSlack) -> None:
        self.services, self.clock, self.fake = services, clock, fake
        self.worker: OutboxWorker = make_worker(services, clock, fake)

    def drain(self) -> None:
        while self.worker.run_once():
            pass

    def at(self, when: datetime) -> None:
        self.clock.set(when)
        sweep_notices(self.services)
        self.drain()

    def posted(self, external_id: str = "hubspot-20391", **changes: object) -> tuple[int, str]:
        lead_id = queue(self.services, external_id, **changes)
        self.drain()
        lead = self.lead(lead_id)
        assert lead.status == LeadStatus.POSTED and lead.message_ts
        return lead_id, lead.message_ts

    def lead(self, lead_id: int) -> Lead:
        return lead_row(self.services, lead_id)

    def thread(self, ts: str) -> list[str]:
        return [m["text"] for m in self.fake.thread(CHANNEL, ts)]

    def dm_texts(self, user: str) -> list[str]:
        return [m["text"] for m in self.fake.dms(user)]

    def breaches(self, lead_id: int) -> list[LeadEvent]:
        with self.services.unit_of_work() as uow:
            events = list(uow.session.scalars(select(LeadEvent).where(
                LeadEvent.lead_id == lead_id, LeadEvent.kind == "breach")))
            for event in events:
                uow.session.expunge(event)
            return events
