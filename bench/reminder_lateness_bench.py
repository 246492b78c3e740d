"""Reminder lateness: scheduled instant → the owner's DM received by Slack (SPEC section 5).

    python bench/reminder_lateness_bench.py                      # 60 leads over 3 minutes
    python bench/reminder_lateness_bench.py --leads 120 --spread 150 --no-threads

Why: reminders are not timers; a sweep every ``sweep_interval_seconds`` sends what is due, so a
reminder is late by up to one interval plus the time its message waits in the outbox. This
bench measures that with the real thing: the bot runs as its own process (`sla-bot run`: HTTP
server, outbox worker and the scheduler on the real clock) against the fake Slack Web API in
this process, which records when each DM arrives. The policy is the example one with the
calendar open around the clock (so quiet hours never move a reminder) and the sweep interval
asked for. Claimed, untouched leads are written straight into the bot's SQLite database with
their first-contact reminder instants spread over the next few minutes (computed with the real
``bot.reminders.plan.plan``, so each scheduled instant is known); each lead also has a handoff
message in the sales channel, so — as in production — every reminder is also a reply in the
lead's thread (``--no-threads`` leaves that out).

Printed: lateness = DM arrival − scheduled instant (p50, p90, p99, max), split into
scheduled → handled by a sweep (``lead_notices.handled_at``) and handled → DM received.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slack_sdk import WebClient  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.harness import (  # noqa: E402
    BOT_TOKEN,
    percentile,
    rewritten_policy,
    serving,
    start_bot,
)
from bot.policy import Policy, load_policy  # noqa: E402
from bot.reminders.plan import LeadClocks, NoticeKind, Promise, plan  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.models import Lead, LeadNotice, LeadStatus  # noqa: E402
from tests.harness import FakeSlack  # noqa: E402


def bench_policy(workdir: Path, interval: int, reps: list[str]) -> Path:
    """The example policy, open 24/7 with no holidays, the given sweep interval and reps."""
    days = ", ".join(f'"{d}"' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    return rewritten_policy(workdir, {
        r"^working_days = .*$": f"working_days = [{days}]",
        r"^working_hours = .*$": 'working_hours = [["00:00", "23:59"]]',
        r"^holidays = .*$": "",
        r"^closed_dates = .*$": "closed_dates = []",
        r"^annual_closures = .*$": "annual_closures = []",
        r"^sweep_interval_seconds = .*$": f"sweep_interval_seconds = {interval}",
        r"^reps = .*$": "reps = [" + ", ".join(f'"{r}"' for r in reps) + "]",
    })


@dataclass
class Seeded:
    lead_id: int
    owner: str
    scheduled: datetime  # the first-contact reminder's planned instant
    key: str


def seed(database_url: str, policy: Policy, fake: FakeSlack, args: argparse.Namespace,
         reps: list[str], first: datetime) -> list[Seeded]:
    """Claimed, untouched leads whose first-contact reminders fall from ``first`` on, spread
    evenly over ``args.spread`` seconds; the handoff messages are posted to the fake first."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    client = WebClient(token=BOT_TOKEN, base_url=fake.base_url, timeout=5)
    cal = policy.business_calendar
    hours = timedelta(hours=policy.agreement.first_contact_business_hours)
    before = timedelta(minutes=max(policy.reminders.first_contact_before_minutes))
    seeded: list[Seeded] = []
    with Session(engine) as session:
        for n in range(args.leads):
            target = first + timedelta(seconds=args.spread * n / args.leads)
            posted = cal.add(target + before, -hours).astimezone(UTC)
            owner = reps[n % len(reps)]
            channel = message_ts = None
            if args.threads:
                answer = client.chat_postMessage(channel=policy.channels.handoff,
                                                 text=f"Lead {n} (handoff)")
                channel, message_ts = str(answer["channel"]), str(answer["ts"])
            clocks = LeadClocks(status=LeadStatus.CLAIMED, qualified_at=posted - timedelta(hours=1),
                                posted_at=posted, owner_id=owner, first_touch_at=None,
                                last_touch_at=None, touch_count=0, decided_at=None)
            notices = plan(clocks, policy)
            (reminder,) = [x for x in notices
                           if x.clock == Promise.FIRST_CONTACT and x.kind == NoticeKind.REMINDER]
            lead = Lead(
                external_id=f"lateness-bench-{n}", source="bench", status=LeadStatus.CLAIMED,
                qualified_at=clocks.qualified_at, received_at=clocks.qualified_at, score=60,
                contact_name=f"Lead {n}", company_name="Example KK", extra={},
                qualification={}, channel_id=channel, message_ts=message_ts, posted_at=posted,
                owner_id=owner, claimed_at=posted + timedelta(minutes=1), touch_count=0,
                updated_at=posted, next_due_at=min(x.send_at for x in notices),
            )
            session.add(lead)
            session.flush()
            seeded.append(Seeded(lead.id, owner, reminder.send_at, reminder.key))
        session.commit()
    engine.dispose()
    return seeded


def arrivals(fake: FakeSlack, offset: float) -> dict[str, datetime]:
    """When each reminder DM reached the fake (wall clock), by outbox key."""
    found: dict[str, datetime] = {}
    for call in fake.calls_to("chat.postMessage"):
        metadata = call.args.get("metadata") or {}
        key = str((metadata.get("event_payload") or {}).get("key", ""))
        if call.status == 200 and key.startswith("notice:") and key.endswith(":owner"):
            found.setdefault(key, datetime.fromtimestamp(call.at + offset, UTC))
    return found


def handled_at(database_url: str, seeded: list[Seeded]) -> dict[int, datetime]:
    """When a sweep handled each reminder (the sweep's ``now``)."""
    engine = make_engine(database_url)
    with Session(engine) as session:
        rows = session.execute(select(LeadNotice.lead_id, LeadNotice.key, LeadNotice.handled_at))
        keys = {(s.lead_id, s.key) for s in seeded}
        found = {lead_id: at for lead_id, key, at in rows if (lead_id, key) in keys}
    engine.dispose()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=60)
    parser.add_argument("--spread", type=float, default=180,
                        help="seconds over which the reminder instants are spread")
    parser.add_argument("--lead-in", type=float, default=15,
                        help="seconds from seeding to the first reminder instant")
    parser.add_argument("--interval", type=int, default=30, help="sweep_interval_seconds")
    parser.add_argument("--reps", type=int, default=5, help="owners the leads are shared by")
    parser.add_argument("--no-threads", dest="threads", action="store_false",
                        help="leads without a handoff message: no thread replies")
    args = parser.parse_args()
    reps = [f"U0000REP{n:02d}" for n in range(1, args.reps + 1)]
    with tempfile.TemporaryDirectory() as workdir, FakeSlack() as fake:
        policy_path = bench_policy(Path(workdir), args.interval, reps)
        policy = load_policy(policy_path)
        database_url = f"sqlite:///{workdir}/bench.db"
        offset = time.time() - time.monotonic()
        first = datetime.now(UTC) + timedelta(seconds=args.lead_in)
        seeded = seed(database_url, policy, fake, args, reps, first)
        bot = serving(start_bot(fake.base_url, database_url, policy_path, migrate=True))
        try:
            last = max(s.scheduled for s in seeded)
            give_up = last + timedelta(seconds=args.interval + 60)
            keys = {f"notice:{s.lead_id}:{s.key}:owner" for s in seeded}
            while datetime.now(UTC) < give_up and not keys <= arrivals(fake, offset).keys():
                time.sleep(0.5)
        finally:
            bot.stop()
        received = arrivals(fake, offset)
        handled = handled_at(database_url, seeded)
        threads = sum(1 for c in fake.calls_to("chat.postMessage") if c.args.get("thread_ts"))
    report(args, seeded, received, handled, threads)


def report(args: argparse.Namespace, seeded: list[Seeded], received: dict[str, datetime],
           handled: dict[int, datetime], threads: int) -> None:
    late, waited, delivered = [], [], []
    for s in seeded:
        at = received.get(f"notice:{s.lead_id}:{s.key}:owner")
        if at is None:
            continue
        late.append((at - s.scheduled).total_seconds())
        if s.lead_id in handled:
            waited.append((handled[s.lead_id] - s.scheduled).total_seconds())
            delivered.append((at - handled[s.lead_id]).total_seconds())
    missing = len(seeded) - len(late)
    print(f"{len(seeded)} leads over {args.spread:.0f} s, sweep every {args.interval} s, "
          f"{args.reps} owners, thread replies {'on' if args.threads else 'off'} "
          f"({threads} posted); {missing} DM(s) missing\n")
    print("| measure | n | p50 s | p90 s | p99 s | max s |")
    print("|---|---|---|---|---|---|")
    for name, values in (("scheduled → DM received (lateness)", late),
                         ("scheduled → handled by a sweep", waited),
                         ("handled → DM received", delivered)):
        if values:
            print(f"| {name} | {len(values)} | {statistics.median(values):.1f} "
                  f"| {percentile(values, 90):.1f} | {percentile(values, 99):.1f} "
                  f"| {max(values):.1f} |")
    if late:
        target = args.interval + 1
        verdict = "met" if percentile(late, 99) <= target else "MISSED"
        print(f"\ntarget p99 ≤ interval + 1 s = {target} s: {verdict}")


if __name__ == "__main__":
    main()
