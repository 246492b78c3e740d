"""Memory of ``sla-bot run`` with 100,000 leads stored (SPEC section 7: RSS ≤ 200 MB).

    python bench/memory_bench.py                     # 100,000 leads, PostgreSQL
    python bench/memory_bench.py --leads 20000

Why: the bot is a long-running process on a small machine; nothing it does routinely may hold
the whole lead table in memory. The bench creates its own PostgreSQL database (dropped at the
end), seeds it with ``bench/report_bench.py``'s month of 100,000 handed-off leads (~40 % still
open, so start-up re-plans ~40,000 leads' next deadline and the first sweeps have breaches to
catch up on), then starts the real bot as its own process (``sla-bot run``: HTTP server, outbox
worker, scheduler, the real clock) against the fake Slack Web API on loopback. Its resident set
size is read from ``/proc/<pid>/status`` every 100 ms through these phases:

1. start-up (migrations checked, every open lead re-planned) until ``/healthz`` answers;
2. 20 s of normal running (scheduler sweeps, outbox posting the reminders and breach notices
   the seeded deadlines owe);
3. a manager's ``/sla-status`` for the seeded month (the heaviest read), answered through
   the response URL, then 5 s more.

The report gives the RSS at the end of each phase and the peak (``VmHWM``, the kernel's
high-water mark) against the target.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import SIGNING_SECRET, serving, start_bot  # noqa: E402
from bench.report_bench import MONTH, NOW, YEAR, seed  # noqa: E402
from bench.sweep_bench import DEFAULT_SERVER, POLICY, create_database, drop_database  # noqa: E402
from bot.policy import load_policy  # noqa: E402
from bot.reporting.periods import month  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import make_engine  # noqa: E402
from tests.harness import FakeSlack, SlackRequests  # noqa: E402

TARGET_MB = 200.0


def kib(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` figure in KiB (``VmRSS``, ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class Sampler(threading.Thread):
    """Reads the process's RSS every 100 ms; ``mark`` names the phase that just ended."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[int] = []
        self.marks: list[tuple[str, int, float]] = []
        self.stopping = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        while not self.stopping.wait(0.1):
            try:
                self.samples.append(kib(self.pid, "VmRSS"))
            except (OSError, KeyError):
                return

    def mark(self, phase: str) -> None:
        self.marks.append((phase, kib(self.pid, "VmRSS"), time.monotonic() - self.started_at))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--run-seconds", type=float, default=20.0)
    parser.add_argument("--server-url", default=DEFAULT_SERVER,
                        help="a PostgreSQL server; a database of our own is created there")
    args = parser.parse_args()
    name = f"sla_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(args.server_url, name)
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        policy = load_policy(POLICY)
        seeded = seed(engine, policy, month(YEAR, MONTH, policy.tz), args.leads)
        engine.dispose()
        print(f"seeded {seeded.leads:,} leads ({seeded.open:,} open) in {seeded.seconds:.1f} s",
              file=sys.stderr)
        with FakeSlack() as fake:
            run(args, url, fake, seeded.leads, seeded.open)
    finally:
        drop_database(args.server_url, name)


def run(args: argparse.Namespace, url: str, fake: FakeSlack, leads: int, open_leads: int) -> None:
    bot = start_bot(fake.base_url, url, POLICY)
    sampler = Sampler(bot.process.pid)
    sampler.start()
    try:
        serving(bot, timeout=300)
        sampler.mark("started (every open lead re-planned)")
        time.sleep(args.run_seconds)
        posted = len(fake.calls_to("chat.postMessage"))
        sampler.mark(f"after {args.run_seconds:.0f} s running ({posted:,} messages sent)")
        manager = next(iter(load_policy(POLICY).roles.managers))
        slack = SlackRequests(f"{bot.url}/slack/events", SIGNING_SECRET,
                              response_url=fake.response_url("status"))
        answer = slack.slash_command("/sla-status", f"{YEAR}-{MONTH:02d}", user_id=manager)
        fake.wait_for("response_url", timeout=120)
        sampler.mark(f"/sla-status {YEAR}-{MONTH:02d} as a manager answered (ack {answer.status})")
        time.sleep(5)
        sampler.mark("5 s later")
        peak = kib(bot.process.pid, "VmHWM")
    finally:
        stopping = time.monotonic()
        bot.stop(60)
        sampler.stopping.set()
        print(f"stopped {time.monotonic() - stopping:.1f} s after SIGTERM", file=sys.stderr)
    report(sampler, peak, leads, open_leads)


def report(sampler: Sampler, peak_kib: int, leads: int, open_leads: int) -> None:
    print(f"\n`sla-bot run`, PostgreSQL, {leads:,} leads stored ({open_leads:,} open), "
          f"the seeded month read at {NOW:%Y-%m-%d}\n")
    print("| phase | at s | RSS MB |")
    print("|---|---|---|")
    for phase, rss, at in sampler.marks:
        print(f"| {phase} | {at:.1f} | {rss / 1024:.1f} |")
    peak = peak_kib / 1024
    verdict = "✅" if peak <= TARGET_MB else "⚠️"
    print(f"\npeak RSS (VmHWM) {peak:.1f} MB; target ≤ {TARGET_MB:.0f} MB {verdict}")


if __name__ == "__main__":
    main()
