"""One reminder sweep over a large PostgreSQL table (SPEC section 5): does it stay flat?

    python bench/sweep_bench.py                               # 10,000 and 1,000,000 leads
    python bench/sweep_bench.py --sizes 10000 100000 --runs 9

Why: every sweep pass (every 30 s, in every bot process) must find what is due with one index
range scan of ``leads.next_due_at``, whatever the number of stored leads; only the ~100 due
leads may cost work. This bench creates its own database on the server (dropped at the end),
seeds it with set-based SQL — mostly decided leads (``next_due_at`` NULL), ~1 % open with their
next instant in the future, ~100 due now, two lifecycle events per lead and one handled notice
per handed-off lead — then times ``sweep_notices(services, now)`` in this process. Between
runs, outside the timing, the due leads get their next instant back and what the sweep wrote
(handled notices, outbox rows) is deleted, so every run handles the same ~100 leads. Nothing
is sent: the sweep only queues messages in the outbox, and no outbox worker runs. The fake
Slack Web API answers the owners' status look-ups (out-of-office check).

Printed: a Markdown table per size (sweep median, min, max; the due-leads query alone; SQL
statements per sweep and the time they spent in the database), the large/small ratio, and the
``EXPLAIN ANALYZE`` of the due-leads query at the largest size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, event, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.harness import bench_services  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.policy import Policy, load_policy  # noqa: E402
from bot.reminders.plan import LeadClocks, due_now, plan  # noqa: E402
from bot.reminders.sweep import BATCH, sweep_notices  # noqa: E402
from bot.services import Services  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.models import Lead, LeadStatus  # noqa: E402
from tests.harness import FakeSlack  # noqa: E402

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
POLICY = ROOT / "sla.example.toml"
#: the sweep's instant: a Wednesday morning in Tokyo, inside the example policy's hours
NOMINAL = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)  # 11:30 JST
NOW = NOMINAL + timedelta(seconds=5)
CHANNEL = "C0000SALES"


@dataclass(frozen=True)
class Template:
    """One kind of due lead: its state, and the notice the sweep must send for it."""

    name: str
    status: LeadStatus
    qualified_at: datetime
    posted_at: datetime
    claimed_at: datetime | None
    first_touch_at: datetime | None
    last_touch_at: datetime | None
    touch_count: int
    next_due_at: datetime = field(default=NOW)


def templates(policy: Policy) -> list[Template]:
    """Three realistic reasons to be due at ``NOMINAL``, each checked against the real plan:
    an unclaimed lead (channel nudge), a claimed untouched one (first-contact reminder) and a
    worked one whose next follow-up is due."""
    cal = policy.business_calendar
    hours = timedelta(hours=policy.agreement.first_contact_business_hours)
    before = timedelta(minutes=max(policy.reminders.first_contact_before_minutes))
    unclaimed = timedelta(minutes=policy.reminders.unclaimed_after_business_minutes)
    follow = timedelta(hours=policy.agreement.follow_up_every_business_hours)

    posted_a = cal.add(NOMINAL, -unclaimed)
    posted_b = cal.add(NOMINAL + before, -hours)
    touched_c = cal.add(NOMINAL, -follow)
    posted_c = cal.add(touched_c, -timedelta(hours=1))
    found = []
    for name, status, posted, claimed, touched, count in (
        ("posted, unclaimed", LeadStatus.POSTED, posted_a, None, None, 0),
        ("claimed, untouched", LeadStatus.CLAIMED, posted_b, posted_b + timedelta(minutes=5),
         None, 0),
        ("working, follow-up due", LeadStatus.WORKING, posted_c,
         posted_c + timedelta(minutes=5), touched_c, 1),
    ):
        template = Template(name, status, posted - timedelta(hours=1), posted, claimed, touched,
                            touched, count)
        notices = plan(_clocks(template, policy), policy)
        send, _ = due_now(notices, NOW, set())
        if not send:
            raise SystemExit(f"template {name!r} owes nothing at {NOW}: fix the bench")
        found.append(replace(template, next_due_at=min(n.send_at for n in notices)))
    return found


def _clocks(template: Template, policy: Policy) -> LeadClocks:
    owner = policy_reps(policy)[0] if template.claimed_at else None
    return LeadClocks(status=template.status, qualified_at=template.qualified_at,
                      posted_at=template.posted_at, owner_id=owner,
                      first_touch_at=template.first_touch_at,
                      last_touch_at=template.last_touch_at, touch_count=template.touch_count,
                      decided_at=None)


def policy_reps(policy: Policy) -> list[str]:
    reps = policy.roles.reps
    if isinstance(reps, str) or not reps:
        raise SystemExit("the bench needs a policy listing its reps")
    return list(reps)


# ------------------------------------------------------------------------------ database


def create_database(server_url: str, name: str) -> str:
    """A database of our own on the server: others run tests in theirs concurrently."""
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


SEED_LEADS = """
INSERT INTO leads (external_id, source, status, tier, qualified_at, received_at, score,
                   contact_name, company_name, extra, qualification, channel_id, message_ts,
                   posted_at, owner_id, claimed_at, first_touch_at, touch_count, decided_at,
                   decision_reason, updated_at, last_touch_at, next_due_at)
SELECT 'sweep-bench-' || g, 'bench', k.status, NULL, k.posted_at - interval '1 hour',
       k.posted_at - interval '1 hour', 60, 'Lead ' || g, 'Example KK', '{}', '{}',
       :channel, (1700000000 + g) || '.000100', k.posted_at, k.owner_id, k.claimed_at,
       k.first_touch_at, k.touch_count, k.decided_at, k.reason, :now, k.first_touch_at,
       k.next_due_at
FROM generate_series(1, :n) AS g
CROSS JOIN LATERAL (
    SELECT (g % :every = 0) AS open, (g % :every = 0 AND g / :every <= :due) AS due,
           (g / :every) % 3 AS kind
) AS c
CROSS JOIN LATERAL (
    SELECT
        CASE WHEN c.due THEN (ARRAY[:s0, :s1, :s2])[c.kind + 1]
             WHEN c.open THEN (ARRAY['posted', 'claimed', 'working'])[g % 3 + 1]
             WHEN g % 4 = 0 THEN 'converted' ELSE 'recycled' END AS status,
        CASE WHEN c.due THEN (ARRAY[:p0, :p1, :p2]::timestamptz[])[c.kind + 1]
             WHEN c.open THEN :now - make_interval(mins => g % 4320)
             ELSE :now - make_interval(days => 8 + g % 365) END AS posted_at,
        CASE WHEN c.due THEN (ARRAY[NULL, :r0, :r0]::text[])[c.kind + 1]
             WHEN c.open AND g % 3 = 0 THEN NULL
             ELSE (ARRAY[:r0, :r1]::text[])[g % 2 + 1] END AS owner_id,
        CASE WHEN c.due THEN (ARRAY[:c0, :c1, :c2]::timestamptz[])[c.kind + 1]
             WHEN c.open AND g % 3 = 0 THEN NULL
             WHEN c.open THEN :now - make_interval(mins => g % 4320) + interval '5 minutes'
             ELSE :now - make_interval(days => 8 + g % 365) + interval '5 minutes'
        END AS claimed_at,
        CASE WHEN c.due THEN (ARRAY[:t0, :t1, :t2]::timestamptz[])[c.kind + 1]
             WHEN c.open AND g % 3 = 2 THEN :now - make_interval(mins => g % 4320)
                                          + interval '40 minutes'
             WHEN c.open THEN NULL
             ELSE :now - make_interval(days => 8 + g % 365) + interval '40 minutes'
        END AS first_touch_at,
        CASE WHEN c.due THEN (ARRAY[:n0, :n1, :n2])[c.kind + 1]
             WHEN c.open THEN (g % 3) / 2 ELSE 5 END AS touch_count,
        CASE WHEN c.open THEN NULL
             ELSE :now - make_interval(days => 8 + g % 365) + interval '3 days' END AS decided_at,
        CASE WHEN c.open OR g % 4 = 0 THEN NULL ELSE 'timing' END AS reason,
        CASE WHEN c.due THEN (ARRAY[:d0, :d1, :d2]::timestamptz[])[c.kind + 1]
             WHEN c.open THEN :now + make_interval(mins => 1 + g % 10080)
             ELSE NULL END AS next_due_at
) AS k
"""

#: the audit trail the sweep reads for snoozes (by lead id): two events per lead
SEED_EVENTS = """
INSERT INTO lead_events (lead_id, at, kind, from_status, to_status, actor, surface, data)
SELECT id, posted_at - interval '1 hour' + make_interval(mins => e * 60), k, NULL, NULL,
       NULL, 'bench', '{}'
FROM leads CROSS JOIN LATERAL (VALUES (0, 'received'), (1, 'posted')) AS v(e, k)
"""

#: notices handled long ago (the sweep reads a due lead's handled keys)
SEED_NOTICES = """
INSERT INTO lead_notices (lead_id, key, clock, kind, deadline, planned_at, handled_at, outcome,
                          late)
SELECT id, 'decision:reminder:1d:' || to_char(posted_at, 'YYYYMMDD"T"HH24MISS"Z"'), 'decision',
       'reminder', posted_at + interval '7 days', posted_at + interval '6 days',
       posted_at + interval '6 days', 'sent', false
FROM leads WHERE decided_at IS NOT NULL
"""


@dataclass
class Seeded:
    leads: int
    open: int
    due_ids: list[int]
    next_due: dict[int, datetime]
    seconds: float


def seed(engine: Engine, policy: Policy, size: int, due: int, open_fraction: float) -> Seeded:
    """Empty the tables, then fill them with set-based SQL and ANALYZE."""
    kinds = templates(policy)
    reps = policy_reps(policy)
    every = max(1, round(1 / open_fraction))
    if size // every < due:
        every = max(1, size // due)
    params: dict[str, Any] = {"n": size, "every": every, "due": due, "now": NOW,
                              "channel": CHANNEL, "r0": reps[0], "r1": reps[-1]}
    for i, kind in enumerate(kinds):
        params |= {f"s{i}": kind.status.value, f"p{i}": kind.posted_at, f"c{i}": kind.claimed_at,
                   f"t{i}": kind.first_touch_at, f"n{i}": kind.touch_count,
                   f"d{i}": kind.next_due_at}
    started = time.monotonic()
    with engine.begin() as connection:
        connection.execute(text(
            "TRUNCATE leads, lead_events, lead_notices, outbox, activities, touches, feedback "
            "RESTART IDENTITY CASCADE"))
        connection.execute(text(SEED_LEADS), params)
        connection.execute(text(SEED_EVENTS))
        connection.execute(text(SEED_NOTICES))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE leads, lead_events, lead_notices, outbox"))
    seconds = time.monotonic() - started
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT id, next_due_at FROM leads WHERE next_due_at <= :now ORDER BY id"),
            {"now": NOW}).all()
        opened = connection.execute(text(
            "SELECT count(*) FROM leads WHERE status IN ('posted', 'claimed', 'working')"
        )).scalar_one()
    return Seeded(size, opened, [r[0] for r in rows], {r[0]: r[1] for r in rows}, seconds)


def reset(engine: Engine, seeded: Seeded) -> None:
    """Undo one sweep (outside the timing): the due leads are due again, its rows are gone."""
    with engine.begin() as connection:
        connection.execute(text(
            "UPDATE leads SET next_due_at = d.at FROM "
            "(SELECT unnest(CAST(:ids AS integer[])) AS id, "
            "unnest(CAST(:ats AS timestamptz[])) AS at) AS d WHERE leads.id = d.id"),
            {"ids": seeded.due_ids, "ats": [seeded.next_due[i] for i in seeded.due_ids]})
        connection.execute(text("DELETE FROM lead_notices WHERE handled_at >= :now"),
                           {"now": NOW})
        connection.execute(text("DELETE FROM outbox WHERE created_at >= :now"), {"now": NOW})
        connection.execute(text(
            "DELETE FROM lead_events WHERE kind = 'breach' AND surface <> 'bench'"))


# ------------------------------------------------------------------------------ measuring


class StatementMeter:
    """Counts SQL statements by kind and the time they spend in the database driver; keeps
    the first of each SELECT (with its parameters) to EXPLAIN it afterwards."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self.seconds = 0.0
        self.kinds: Counter[str] = Counter()
        self.kind_seconds: Counter[str] = Counter()
        self.selects: dict[str, Any] = {}
        self._started: list[tuple[float, str]] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, _conn: object, _cursor: object, statement: str, params: Any,
                *_: object) -> None:
        kind = _kind(statement)
        self._started.append((time.perf_counter(), kind))
        self.kinds[kind] += 1
        words = statement.split()
        if words[0] == "SELECT":
            self.selects.setdefault(statement, params)

    def _after(self, *_: object) -> None:
        started, kind = self._started.pop()
        self.count += 1
        self.seconds += time.perf_counter() - started
        self.kind_seconds[kind] += time.perf_counter() - started

    def reset(self) -> None:
        self.count, self.seconds, self._started = 0, 0.0, []
        self.kinds, self.kind_seconds, self.selects = Counter(), Counter(), {}


def _kind(statement: str) -> str:
    """``INSERT INTO outbox``, ``SELECT … FROM leads``, ``SAVEPOINT``: what one statement is."""
    words = statement.split()
    if words[0] == "SELECT":
        return "SELECT … FROM " + (words[words.index("FROM") + 1] if "FROM" in words else "?")
    if words[0] in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
        return " ".join(w for w in words if not w.startswith("sa_savepoint"))
    return " ".join(words[:3])


def due_query() -> Any:
    """The sweep's own due-leads query, as ``bot.reminders.sweep.sweep_notices`` builds it."""
    return (
        select(Lead)
        .where(Lead.next_due_at.is_not(None), Lead.next_due_at <= NOW)
        .order_by(Lead.next_due_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True, of=Lead)
    )


def time_query(engine: Engine, runs: int) -> float:
    """Median milliseconds of the due-leads query alone (rows fetched, locks taken)."""
    timings = []
    for _ in range(runs):
        with engine.connect() as connection:
            started = time.perf_counter()
            connection.execute(due_query()).all()
            timings.append((time.perf_counter() - started) * 1000)
            connection.rollback()
    return statistics.median(timings)


def explain(engine: Engine, selects: dict[str, Any]) -> list[str]:
    """``EXPLAIN ANALYZE`` of every SELECT one sweep issued, with its own parameters (in a
    transaction rolled back: the due-leads query takes row locks)."""
    plans = []
    with engine.connect() as connection:
        for statement, params in selects.items():
            rows = connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement, params).all()
            connection.rollback()
            head = " ".join(statement.split())
            head = head[:60] + " … " + head[head.index(" FROM "):][:160]
            plans.append(f"-- {head}\n" + "\n".join(r[0] for r in rows))
    return plans


@dataclass
class Result:
    seeded: Seeded
    sweeps_ms: list[float]
    query_ms: float
    statements: int
    db_ms: float
    handled: int
    queued: int
    #: per timed sweep: statements by kind, and their seconds in the database
    kinds: list[tuple[Counter[str], Counter[str]]]
    plans: list[str]


def bench_size(services: Services, meter: StatementMeter, args: argparse.Namespace,
               size: int) -> Result:
    engine = services.engine
    seeded = seed(engine, services.policy, size, args.due, args.open_fraction)
    print(f"seeded {size:,} leads ({seeded.open:,} open, {len(seeded.due_ids)} due) "
          f"in {seeded.seconds:.1f} s", file=sys.stderr)
    sweeps: list[float] = []
    statements, db_seconds, handled, queued = [], [], 0, 0
    kinds: list[tuple[Counter[str], Counter[str]]] = []
    selects: dict[str, Any] = {}
    for run in range(args.runs + 1):  # the first run warms caches (compiled SQL, statuses)
        reset(engine, seeded)
        meter.reset()
        started = time.perf_counter()
        result = sweep_notices(services, NOW)
        elapsed = (time.perf_counter() - started) * 1000
        if result.leads != len(seeded.due_ids) or result.sent == 0:
            raise SystemExit(f"run {run}: the sweep handled {result.leads} leads "
                             f"(sent {result.sent}), expected {len(seeded.due_ids)}")
        if run == 0:
            continue
        sweeps.append(elapsed)
        statements.append(meter.count)
        db_seconds.append(meter.seconds)
        handled = result.leads
        kinds.append((Counter(meter.kinds), Counter(meter.kind_seconds)))
        selects = dict(meter.selects)
        with engine.connect() as connection:
            queued = connection.execute(text(
                "SELECT count(*) FROM outbox WHERE created_at >= :now"), {"now": NOW}
            ).scalar_one()
    reset(engine, seeded)
    query_ms = time_query(engine, args.runs)
    plans = explain(engine, selects) if size == max(args.sizes) else []
    return Result(seeded, sweeps, query_ms, round(statistics.median(statements)),
                  statistics.median(db_seconds) * 1000, handled, queued, kinds, plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=7, help="timed sweeps per size")
    parser.add_argument("--due", type=int, default=100, help="leads due at each sweep")
    parser.add_argument("--open-fraction", type=float, default=0.01)
    parser.add_argument("--server-url", default=DEFAULT_SERVER,
                        help="a PostgreSQL server; a database of our own is created there")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    args = parser.parse_args()
    args.sizes = sorted(args.sizes)
    name = f"sla_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(args.server_url, name)
    results: list[Result] = []
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        meter = StatementMeter(engine)
        policy = load_policy(POLICY)
        with FakeSlack() as fake:
            services = bench_services(url, engine, policy, ManualClock(NOW), fake.base_url)
            for size in args.sizes:
                results.append(bench_size(services, meter, args, size))
        engine.dispose()
    finally:
        if args.keep:
            print(f"kept database {name}", file=sys.stderr)
        else:
            drop_database(args.server_url, name)
    report(results)


def report(results: list[Result]) -> None:
    print("| leads | open | due | sweep median ms | min | max | due-leads query ms "
          "| SQL statements | in database ms | outbox rows queued |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.seeded.leads:,} | {r.seeded.open:,} | {r.handled} "
              f"| {statistics.median(r.sweeps_ms):.1f} | {min(r.sweeps_ms):.1f} "
              f"| {max(r.sweeps_ms):.1f} | {r.query_ms:.2f} | {r.statements} "
              f"| {r.db_ms:.1f} | {r.queued} |")
    if len(results) > 1:
        small, large = results[0], results[-1]
        ratio = statistics.median(large.sweeps_ms) / statistics.median(small.sweeps_ms)
        print(f"\nratio {large.seeded.leads:,} / {small.seeded.leads:,} leads: {ratio:.2f}")
    large = results[-1]
    print(f"\nSQL statements of one sweep at {large.seeded.leads:,} leads:\n")
    print("| statement | count | in database ms (median) |\n|---|---|---|")
    counts = large.kinds[-1][0]
    for kind, count in counts.most_common():
        ms = statistics.median(seconds[kind] for _, seconds in large.kinds) * 1000
        print(f"| `{kind}` | {count} | {ms:.1f} |")
    if large.plans:
        print(f"\nEXPLAIN ANALYZE of the sweep's SELECTs at {large.seeded.leads:,} leads:\n")
        print("```\n" + "\n\n".join(large.plans) + "\n```")


if __name__ == "__main__":
    main()
