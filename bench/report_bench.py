"""A manager's ``/sla-status`` over 100,000 leads handed off in one month, on PostgreSQL.

    python bench/report_bench.py                     # 100,000 leads, 5 timed runs
    python bench/report_bench.py --leads 20000 --runs 3

Why: ``/sla-status`` answers a slash command (Slack waits 3 s for the ack; the answer follows
through the response URL) and the monthly review reads the same figures. On PostgreSQL the
figures of a scorecard are two aggregate statements over the period's leads (counts per owner;
business-minute durations, read from the facts stamped with each lead, and their percentiles),
so the period's volume is what this bench scales.

The bench creates its own database on the server (dropped at the end, as
``bench/sweep_bench.py`` does) and seeds it with set-based SQL: 100,000 leads handed off in
November 2026 (Asia/Tokyo, the example policy), every instant in business hours (placed by
business minute over the month's open intervals, so "2 business hours" in SQL is the
calendar's), ~20 owners, ~10 % of the "hot" tier:

- ~60 % decided (about 30 % of them converted, the rest recycled with a reason; decided more
  often the older the lead), the rest open: ~10 % of the open ones unclaimed, ~25 % claimed
  and untouched, the rest worked;
- qualified 1–31 h before the handoff (some handoffs late), 5 % extra leads received in the
  month and not qualified;
- the audit trail as the bot writes it: ``qualify``, ``post``, ``claim``, ``touch``,
  ``convert``/``recycle`` events, and a ``breach`` event at each lapsed first-contact and
  decision deadline;
- 0–3 behaviour activities per lead;
- the facts the bot stores with a lead as they happen, as intake and the claim write them:
  ``has_history`` (``with history`` reads it) and ``first_claimed_at`` (time to claim reads
  it), checked against the trail after seeding, and ``first_breach_at``; the business-time
  stamps are then written by ``bot.timings.restamp_all``, as at the bot's first start after
  the upgrade that adds them (timed; ``--database NAME`` re-measures a kept database).

Timed in this process, median of ``--runs`` after one warm-up: the handler's own
``status_answer`` for a manager (team scorecard, per-rep table, open breaches, recycle
reasons; the whole answer with its blocks) and for a rep; each metrics call alone; the view
rendering alone (``status_blocks`` on figures read once); and, when ``bot.reporting.review``
exists, the monthly review pack. The SQL statements of one manager answer (count, time in the
database driver) and a ``cProfile`` of it show where the time goes; ``EXPLAIN ANALYZE`` (with the
report transaction's settings) of the figures statements (team and per rep) and of the open
breaches close the report.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import inspect
import io
import os
import pstats
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, make_url, text  # noqa: E402

from bench.harness import bench_services  # noqa: E402
from bench.sweep_bench import (  # noqa: E402
    DEFAULT_SERVER,
    POLICY,
    StatementMeter,
    create_database,
    drop_database,
)
from bot.clock import ManualClock  # noqa: E402
from bot.policy import Policy, load_policy  # noqa: E402
from bot.reporting.metrics import (  # noqa: E402
    open_breaches,
    per_rep,
    recycle_reasons,
    scorecard,
    team_and_reps,
)
from bot.reporting.periods import Period, month  # noqa: E402
from bot.services import Services  # noqa: E402
from bot.timings import restamp_all  # noqa: E402
from bot.views.status import StatusReport, status_blocks  # noqa: E402
from handlers.status import status_answer  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.report_queries import REPORT_SETTINGS  # noqa: E402
from tests.harness import FakeSlack  # noqa: E402

YEAR, MONTH = 2026, 11
#: when the manager asks: the month's last business day, after closing (all of it is past)
NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # 18:30 JST
CHANNEL = "C0000SALES"
REPS = [f"U00REP{i:04d}" for i in range(1, 21)]
#: business minutes in 7 calendar days, roughly: the decision promise, for the seed's spread
DECISION_SPREAD = 4000

# ------------------------------------------------------------------------------ seeding

#: business minute -> instant, over the month's open intervals (a temp table + function)
SEED_CALENDAR = """
CREATE TEMP TABLE bench_open (start timestamptz, cum double precision, len double precision);
INSERT INTO bench_open
SELECT * FROM unnest(CAST(:starts AS timestamptz[]), CAST(:cums AS double precision[]),
                     CAST(:lens AS double precision[]));
CREATE INDEX ON bench_open (cum);
CREATE FUNCTION pg_temp.at_minute(m double precision) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT start + make_interval(secs => (m - cum) * 60) FROM bench_open
    WHERE cum <= m ORDER BY cum DESC LIMIT 1
$$;
-- how many behaviour activities the g-th handed-off lead arrives with (0–3)
CREATE FUNCTION pg_temp.activities(g int) RETURNS int LANGUAGE sql IMMUTABLE AS $$
    SELECT mod(g * 7, 4)
$$;
"""

#: one row per handed-off lead: its offsets in business minutes and its dice
SEED_PLAN = """
CREATE TEMP TABLE bench_plan AS
SELECT g, posted_m, claim_d, touch_d, r_decided, r_state, r_decide, r_conv, r_reason, r_touches,
       r_qual, tier, rep, :total - posted_m AS age,
       (r_decided < 0.7 * least(1.0, (:total - posted_m) / 2700.0)
        AND :total - posted_m > touch_d + 1) AS decided
FROM (
    SELECT g, random() * :total AS posted_m, 1 + 120 * power(random(), 3) AS claim_d,
           random() AS r_touch, random() AS r_decided, random() AS r_state,
           random() AS r_decide, random() AS r_conv, random() AS r_reason,
           random() AS r_touches, random() AS r_qual,
           CASE WHEN random() < 0.1 THEN 'hot' END AS tier,
           least(floor(power(random(), 1.3) * :reps)::int, :reps - 1) AS rep
    FROM generate_series(1, :n) AS g
) AS d
CROSS JOIN LATERAL (SELECT d.claim_d + 5 + 200 * power(d.r_touch, 4) AS touch_d) AS t;
"""

#: the states and instants, as business minutes (NULL: not happened by now)
SEED_STATE = """
CREATE TEMP TABLE bench_state AS
SELECT g, tier, rep, posted_m, r_qual, r_touches, r_reason,
       CASE WHEN decided THEN CASE WHEN r_conv < 0.3 THEN 'converted' ELSE 'recycled' END
            WHEN r_state < 0.10 OR posted_m + claim_d >= :total THEN 'posted'
            WHEN r_state < 0.35 OR posted_m + touch_d >= :total THEN 'claimed'
            ELSE 'working' END AS status,
       CASE WHEN decided THEN posted_m + touch_d
                              + r_decide * least(age - touch_d - 1, :spread) END AS decided_m,
       claim_d, touch_d
FROM bench_plan;
"""

SEED_LEADS = """
INSERT INTO leads (external_id, source, status, definition_version, tier, qualified_at,
                   received_at, score, contact_name, company_name, extra, qualification,
                   channel_id, message_ts, posted_at, owner_id, claimed_at, first_touch_at,
                   touch_count, decided_at, decision_reason, updated_at, last_touch_at,
                   next_due_at, first_claimed_at, has_history)
SELECT 'report-bench-' || s.g, (ARRAY['hubspot', 'marketo', 'csv', 'modal'])[1 + s.g % 4],
       s.status, CAST(:version AS text), s.tier, q.qualified_at, q.qualified_at,
       60, 'Lead ' || s.g, 'Example KK ' || (s.g % 5000), '{}',
       jsonb_build_object(
           'qualified', true, 'version', CAST(:version AS text), 'reasons', '[]'::jsonb,
           'tier', s.tier,
           'matched', jsonb_build_array(
               'score: 60 ≥ 30',
               (ARRAY['behaviour: 料金ページ閲覧 (page_view /pricing)',
                      'behaviour: 資料ダウンロード (download)',
                      'behaviour: デモ依頼 (demo_request)'])[1 + s.g % 3],
               'industry: ' || (ARRAY['manufacturing', 'software', 'retail', 'finance',
                                      'logistics'])[1 + s.g % 5],
               'title: 部長', 'employees: 250 ≥ 50')),
       :channel,
       (1700000000 + s.g) || '.000100', i.posted_at,
       CASE WHEN s.status <> 'posted' THEN (CAST(:reps AS text[]))[s.rep + 1] END,
       i.claimed_at, i.touched_at,
       CASE s.status WHEN 'converted' THEN 3 + floor(s.r_touches * 6)::int
                     WHEN 'recycled' THEN 1 + floor(s.r_touches * 8)::int
                     WHEN 'working' THEN 1 + floor(s.r_touches * 4)::int ELSE 0 END,
       i.decided_at,
       CASE WHEN s.status = 'recycled'
            THEN (CAST(:reasons AS text[]))[1 + floor(s.r_reason * :n_reasons)::int] END,
       coalesce(i.decided_at, i.touched_at, i.claimed_at, i.posted_at),
       i.touched_at,
       CASE WHEN s.status IN ('posted', 'claimed', 'working') THEN :now END,
       i.claimed_at, pg_temp.activities(s.g) > 0
FROM bench_state AS s
CROSS JOIN LATERAL (
    SELECT pg_temp.at_minute(s.posted_m) AS posted_at,
           CASE WHEN s.status <> 'posted' THEN pg_temp.at_minute(s.posted_m + s.claim_d)
           END AS claimed_at,
           CASE WHEN s.status NOT IN ('posted', 'claimed')
                THEN pg_temp.at_minute(s.posted_m + s.touch_d) END AS touched_at,
           CASE WHEN s.decided_m IS NOT NULL THEN pg_temp.at_minute(s.decided_m)
           END AS decided_at
) AS i
CROSS JOIN LATERAL (
    SELECT i.posted_at - make_interval(mins => (60 + 1800 * power(s.r_qual, 3))::int)
           AS qualified_at
) AS q
ORDER BY s.g;

INSERT INTO leads (external_id, source, status, qualified_at, received_at, score, contact_name,
                   company_name, extra, qualification, touch_count, updated_at)
SELECT 'report-bench-nq-' || g, 'bench', 'not_qualified', t, t, 20, 'Lead nq ' || g,
       'Example KK', '{}', '{}', 0, t
FROM generate_series(1, :not_qualified) AS g
CROSS JOIN LATERAL (SELECT pg_temp.at_minute(random() * :total) AS t) AS x;
"""

#: the audit trail, as ``bot.lifecycle`` writes it, and the breaches the sweep records
SEED_EVENTS = """
INSERT INTO lead_events (lead_id, at, kind, from_status, to_status, actor, surface, data)
SELECT l.id, e.at, e.kind, e.from_status, e.to_status, e.actor, e.surface, '{}'
FROM leads AS l
CROSS JOIN LATERAL (VALUES
    (l.qualified_at, 'qualify', 'received', 'queued', NULL, 'webhook'),
    (l.posted_at, 'post', 'queued', 'posted', NULL, 'outbox'),
    (l.claimed_at, 'claim', 'posted', 'claimed', l.owner_id, 'button'),
    (l.first_touch_at, 'touch', 'claimed', 'working', l.owner_id, 'modal'),
    (l.decided_at, CASE l.status WHEN 'converted' THEN 'convert' ELSE 'recycle' END,
     'working', l.status, l.owner_id, 'modal')
) AS e(at, kind, from_status, to_status, actor, surface)
WHERE l.posted_at IS NOT NULL AND e.at IS NOT NULL
ORDER BY l.id, e.at;

INSERT INTO lead_events (lead_id, at, kind, from_status, to_status, actor, surface, data)
SELECT l.id, b.due, 'breach', NULL, NULL, NULL, 'scheduler',
       jsonb_build_object('promise', b.promise, 'deadline', b.due)
FROM leads AS l
JOIN bench_state AS s ON l.external_id = 'report-bench-' || s.g
CROSS JOIN LATERAL (VALUES
    ('first_contact', pg_temp.at_minute(
        s.posted_m + CASE WHEN l.tier = 'hot' THEN 60 ELSE 120 END)),
    ('decision', l.posted_at + interval '7 days')
) AS b(promise, due)
WHERE b.due <= :now AND CASE b.promise
    WHEN 'first_contact' THEN coalesce(l.first_touch_at, l.decided_at, :now) > b.due
    ELSE coalesce(l.decided_at, :now) > b.due END
ORDER BY b.due;
-- the earliest breach, stored with the lead as the sweep stores it
UPDATE leads AS l SET first_breach_at = b.first_at
FROM (SELECT lead_id, min(at) AS first_at FROM lead_events WHERE kind = 'breach'
      GROUP BY lead_id) AS b
WHERE b.lead_id = l.id;
"""

#: 0–3 behaviour activities per handed-off lead, before its qualification
SEED_ACTIVITIES = """
INSERT INTO activities (lead_id, type, at, detail, extra)
SELECT l.id, (ARRAY['page_view', 'download', 'webinar', 'demo_request'])[1 + (l.id + k) % 4],
       l.qualified_at - make_interval(days => k), '/pricing', '{}'
FROM leads AS l
CROSS JOIN LATERAL generate_series(
    1, pg_temp.activities(CAST(substring(l.external_id FROM '[0-9]+$') AS int))) AS k
WHERE l.posted_at IS NOT NULL
"""

#: the facts the bot stores with each lead (intake's ``has_history``, the claim's
#: ``first_claimed_at``) must agree with the trail seeded above, as the migration derives them
CHECK_FACTS = """
WITH histories AS (SELECT DISTINCT lead_id FROM activities),
     claims AS (SELECT lead_id, min(at) AS first_at FROM lead_events WHERE kind = 'claim'
                GROUP BY lead_id)
SELECT count(*) FILTER (WHERE l.has_history <> (h.lead_id IS NOT NULL)),
       count(*) FILTER (WHERE l.first_claimed_at IS DISTINCT FROM c.first_at)
FROM leads AS l
LEFT JOIN histories AS h ON h.lead_id = l.id
LEFT JOIN claims AS c ON c.lead_id = l.id
"""


@dataclass
class Seeded:
    leads: int
    handed_off: int
    decided: int
    converted: int
    open: int
    owners: int
    events: int
    breaches: int
    open_breached: int
    activities: int
    seconds: float


def open_intervals(policy: Policy, period: Period) -> tuple[list[datetime], list[float],
                                                             list[float]]:
    """The period's open intervals: starts, cumulative business minutes before each, lengths."""
    starts, cums, lens, total = [], [], [], 0.0
    for start, end in policy.business_calendar.open_intervals(period.start, min(period.end,
                                                                                 NOW)):
        minutes = (end - start).total_seconds() / 60
        starts.append(start)
        cums.append(total)
        lens.append(minutes)
        total += minutes
    return starts, cums, lens


def seed(engine: Engine, policy: Policy, period: Period, leads: int) -> Seeded:
    """Fill the empty database with set-based SQL, then VACUUM ANALYZE."""
    starts, cums, lens = open_intervals(policy, period)
    total = cums[-1] + lens[-1]
    reasons = list(policy.recycle.reasons)
    params: dict[str, Any] = {
        "n": leads, "total": total, "reps": len(REPS), "spread": DECISION_SPREAD,
        "now": NOW, "channel": CHANNEL, "n_reasons": len(reasons),
        "not_qualified": leads // 20, "version": policy.mql_definition.version,
    }
    started = time.monotonic()
    with engine.begin() as connection:
        connection.execute(text("SELECT setseed(0.42)"))
        run_script(connection, SEED_CALENDAR, {"starts": starts, "cums": cums, "lens": lens})
        run_script(connection, SEED_PLAN, params)
        run_script(connection, SEED_STATE, params)
        run_script(connection, SEED_LEADS, params | {"reps": REPS, "reasons": reasons})
        run_script(connection, SEED_EVENTS, params)
        run_script(connection, SEED_ACTIVITIES, params)
        wrong = connection.execute(text(CHECK_FACTS)).one()
        assert tuple(wrong) == (0, 0), f"stored facts disagree with the trail: {wrong}"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE leads, lead_events, activities"))
    return census(engine, time.monotonic() - started)


def census(engine: Engine, seconds: float) -> Seeded:
    """What the database holds (a seeded one, or one kept from an earlier run)."""
    with engine.connect() as connection:
        row = connection.execute(text("""
            SELECT count(*), count(posted_at), count(decided_at),
                   count(*) FILTER (WHERE status = 'converted'),
                   count(*) FILTER (WHERE status IN ('posted', 'claimed', 'working')),
                   count(DISTINCT owner_id),
                   (SELECT count(*) FROM lead_events),
                   (SELECT count(*) FROM lead_events WHERE kind = 'breach'),
                   (SELECT count(DISTINCT e.lead_id) FROM lead_events e JOIN leads o
                    ON o.id = e.lead_id WHERE e.kind = 'breach'
                    AND o.status IN ('posted', 'claimed', 'working')),
                   (SELECT count(*) FROM activities)
            FROM leads""")).one()
    return Seeded(*(int(v) for v in row), seconds=seconds)


def run_script(connection: Any, script: str, params: dict[str, Any]) -> None:
    """Each ``;``-terminated statement of ``script`` with the parameters it names.

    (A function body between ``$$`` is kept whole.)
    """
    statements, current, quoted = [], [], False
    for line in script.strip().splitlines():
        current.append(line)
        quoted ^= line.count("$$") % 2 == 1
        if line.rstrip().endswith(";") and not quoted:
            statements.append("\n".join(current))
            current = []
    if current:
        statements.append("\n".join(current))
    for statement in statements:
        if "$$" in statement:
            connection.exec_driver_sql(statement)
            continue
        clause = text(statement)
        names = set(clause.compile().params)
        connection.execute(clause, {k: v for k, v in params.items() if k in names})


# ------------------------------------------------------------------------------ timing


@dataclass
class Timed:
    label: str
    runs_ms: list[float] = field(default_factory=list)
    statements: int = 0
    db_ms: float = 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.runs_ms)


def timed(label: str, work: Callable[[], object], runs: int, meter: StatementMeter) -> Timed:
    """Median of ``runs`` calls after one warm-up; statements and driver time of the median."""
    work()
    result = Timed(label)
    statements, db_seconds = [], []
    for _ in range(runs):
        meter.reset()
        started = time.perf_counter()
        work()
        result.runs_ms.append((time.perf_counter() - started) * 1000)
        statements.append(meter.count)
        db_seconds.append(meter.seconds)
    result.statements = round(statistics.median(statements))
    result.db_ms = statistics.median(db_seconds) * 1000
    return result


def review_work(services: Services, period: Period) -> tuple[str, Callable[[], object]] | None:
    """Building the monthly review pack, if ``bot.reporting.review`` offers a builder we can
    call."""
    try:
        review = importlib.import_module("bot.reporting.review")
    except ImportError as exc:
        print(f"bot.reporting.review not importable ({exc}): review pack not timed",
              file=sys.stderr)
        return None
    for name in ("build_review", "review_pack", "build_pack", "monthly_review", "build"):
        builder = getattr(review, name, None)
        if not callable(builder):
            continue
        parameters = list(inspect.signature(builder).parameters)
        kwargs: dict[str, Any] = {}
        args: list[Any] = [services]
        for parameter in parameters[1:]:
            if parameter in ("period", "month"):
                args.append(period)
            elif parameter == "now":
                kwargs["now"] = NOW

        def work(b: Callable[..., object] = builder, a: list[Any] = args,
                 k: dict[str, Any] = kwargs) -> object:
            return b(*a, **k)

        try:
            work()
        except Exception as exc:  # a work in progress: report it, do not fail the bench
            print(f"bot.reporting.review.{name} failed ({exc!r}): review pack not timed",
                  file=sys.stderr)
            return None
        return f"bot.reporting.review.{name}", work
    print("bot.reporting.review has no builder this bench knows: review pack not timed",
          file=sys.stderr)
    return None


def profile(work: Callable[[], object], top: int) -> str:
    """The ``top`` functions by cumulative time over one call of ``work``."""
    profiler = cProfile.Profile()
    profiler.enable()
    work()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue()


def explain(engine: Engine, selects: dict[str, Any],
            wanted: list[tuple[str, Callable[[str], bool]]]) -> list[str]:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the first SELECT each predicate picks."""
    plans = []
    with engine.connect() as connection:
        for title, picks in wanted:
            connection.exec_driver_sql(REPORT_SETTINGS)
            found = [(s, p) for s, p in selects.items() if picks(s)]
            if not found:
                plans.append(f"-- {title}: statement not found")
                continue
            statement, params = found[0]
            rows = connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement, params).all()
            connection.rollback()
            plans.append(f"-- {title}\n" + "\n".join(r[0] for r in rows))
    return plans


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000, help="handed off in the month")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each measure")
    parser.add_argument("--target-ms", type=float, default=300.0)
    parser.add_argument("--profile-top", type=int, default=18)
    parser.add_argument("--server-url", default=DEFAULT_SERVER,
                        help="a PostgreSQL server; a database of our own is created there")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--database", default=None, metavar="NAME",
                        help="measure a database kept (--keep) by an earlier run: no seeding; "
                             "it is migrated and kept")
    args = parser.parse_args()
    reuse = args.database is not None
    name = args.database or f"sla_bench_{uuid.uuid4().hex[:8]}"
    url = (make_url(args.server_url).set(database=name).render_as_string(hide_password=False)
           if reuse else create_database(args.server_url, name))
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        policy = load_policy(POLICY)
        period = month(YEAR, MONTH, policy.tz)
        seeded = census(engine, 0.0) if reuse else seed(engine, policy, period, args.leads)
        print(f"seeded {seeded.leads:,} leads in {seeded.seconds:.1f} s", file=sys.stderr)
        meter = StatementMeter(engine)
        with FakeSlack() as fake:
            services = bench_services(url, engine, policy, ManualClock(NOW), fake.base_url)
            # the business-time stamps, as the bot writes them at its first start after the
            # migration (``bot.timings.restamp_all``): timed, it is what an upgrade costs
            started = time.monotonic()
            stamped = restamp_all(services)
            restamp = (stamped, time.monotonic() - started)
            print(f"stamped {stamped:,} leads in {restamp[1]:.1f} s", file=sys.stderr)
            if stamped:  # every row was rewritten once: compact it and set its visibility
                # map, as autovacuum keeps a table in use (index-only scans rely on the map)
                with engine.connect().execution_options(
                        isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text("VACUUM FULL leads"))
                    connection.execute(text("VACUUM ANALYZE leads"))
            measured = measure(services, meter, period, args)
        engine.dispose()
    finally:
        if args.keep or reuse:
            print(f"kept database {name}", file=sys.stderr)
        else:
            drop_database(args.server_url, name)
    report(seeded, period, args, restamp, *measured)


def measure(services: Services, meter: StatementMeter, period: Period,
            args: argparse.Namespace) -> tuple[list[Timed], dict[str, Any], str, list[str],
                                                 dict[str, Any]]:
    policy = services.policy
    manager = next(iter(policy.roles.managers))
    rep = REPS[0]
    runs = args.runs
    answer = status_answer(services, manager, "")
    team = scorecard(services, policy, period, now=NOW)
    reps = per_rep(services, policy, period, now=NOW)
    breaches = open_breaches(services, policy)
    report_ = StatusReport(period=period, team=team, rep=None, reps=reps, breaches=breaches,
                           language=services.t.language, tz=policy.tz)
    results = [
        timed("`/sla-status`, manager (`status_answer`: all below + blocks)",
              lambda: status_answer(services, manager, ""), runs, meter),
        timed("`/sla-status`, one rep (own + team + own breaches)",
              lambda: status_answer(services, rep, ""), runs, meter),
        timed("`scorecard` (team)", lambda: scorecard(services, policy, period, now=NOW),
              runs, meter),
        timed("`per_rep`", lambda: per_rep(services, policy, period, now=NOW), runs, meter),
        timed("`team_and_reps`", lambda: team_and_reps(services, policy, period, now=NOW),
              runs, meter),
        timed("`open_breaches`", lambda: open_breaches(services, policy), runs, meter),
        timed("`recycle_reasons` (team)",
              lambda: recycle_reasons(services, policy, period), runs, meter),
        timed("view only: `status_blocks` (manager)",
              lambda: status_blocks(report_, policy, services.t), runs, meter),
    ]
    review = review_work(services, period)
    if review is not None:
        results.append(timed(f"monthly review pack (`{review[0]}`)", review[1], runs, meter))
    # one manager answer, statement by statement, then under the profiler
    meter.reset()
    status_answer(services, manager, "")
    kinds = {kind: (meter.kinds[kind], meter.kind_seconds[kind] * 1000) for kind in meter.kinds}
    selects = dict(meter.selects)
    profiled = profile(lambda: status_answer(services, manager, ""), args.profile_top)
    plans = explain(services.engine, selects, [
        ("counts per owner (`team_and_reps`)",
         lambda s: "count(*) FILTER" in s and "GROUP BY leads.owner_id" in s),
        ("durations and percentiles, per owner and team (`team_and_reps`)",
         lambda s: "percentile_disc" in s and "GROUPING SETS" in s),
        ("open breaches: the page (`open_breaches`)",
         lambda s: "first_breach_at IS NOT NULL" in s and "LIMIT" in s),
        ("open breaches: the total (`open_breaches`)",
         lambda s: "first_breach_at IS NOT NULL" in s and "count(*)" in s),
    ])
    facts = {
        "blocks": len(answer["blocks"]),
        "reps": len(reps),
        "team_handed_off": team.handed_off,
        "team_decided": team.decided,
        "claims_measured": team.time_to_claim.count,
        "contacts_measured": team.time_to_first_contact.count,
        "breaches_total": breaches.total,
    }
    return results, kinds, profiled, plans, facts


def report(seeded: Seeded, period: Period, args: argparse.Namespace,
           restamp: tuple[int, float], results: list[Timed],
           kinds: dict[str, Any], profiled: str, plans: list[str],
           facts: dict[str, Any]) -> None:
    print(f"PostgreSQL, {os.cpu_count()} cores; period {period.label} (now {NOW:%Y-%m-%d %H:%M}"
          f" UTC); median of {args.runs} runs after one warm-up\n")
    print(f"seeded: {seeded.leads:,} leads ({seeded.handed_off:,} handed off, "
          f"{seeded.decided:,} decided, {seeded.converted:,} converted, {seeded.open:,} open, "
          f"{seeded.owners} owners); {seeded.events:,} events ({seeded.breaches:,} breaches, "
          f"{seeded.open_breached:,} open leads breached); {seeded.activities:,} activities; "
          f"{seeded.seconds:.1f} s")
    if restamp[0]:
        print(f"business-time stamps (`restamp_all`, as at the first start after the "
              f"upgrade): {restamp[0]:,} leads in {restamp[1]:.1f} s")
    print(f"answer: {facts['blocks']} blocks, {facts['reps']} reps, handed off "
          f"{facts['team_handed_off']:,}, decided {facts['team_decided']:,}, "
          f"durations over {facts['claims_measured']:,} claims and "
          f"{facts['contacts_measured']:,} first contacts, {facts['breaches_total']:,} open "
          "breaches\n")
    print("| measure | median ms | min | max | SQL statements | in database ms |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.label} | {r.median:.1f} | {min(r.runs_ms):.1f} | {max(r.runs_ms):.1f} "
              f"| {r.statements} | {r.db_ms:.1f} |")
    manager = results[0]
    mark = "✅" if manager.median <= args.target_ms else "⚠️"
    print(f"\nmanager `/sla-status`: {manager.median:.1f} ms, target ≤ {args.target_ms:.0f} ms "
          f"{mark}; in the database driver {manager.db_ms:.1f} ms, in Python "
          f"{manager.median - manager.db_ms:.1f} ms")
    print("\nSQL statements of one manager answer:\n")
    print("| statement | count | in database ms |\n|---|---|---|")
    for kind, (count, ms) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
        print(f"| `{kind}` | {count} | {ms:.1f} |")
    print("\ncProfile of one manager answer (by own time):\n")
    print("```\n" + "\n".join(line for line in profiled.splitlines() if line.strip())
          + "\n```")
    print("\nEXPLAIN ANALYZE:\n")
    print("```\n" + "\n\n".join(plans) + "\n```")


if __name__ == "__main__":
    main()
