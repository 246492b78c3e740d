"""The monthly review pack and a manager's ``/sla-status`` over 100,000 leads with deal
outcomes, on PostgreSQL, against an earlier release measured in the same run.

    python bench/outcome_report_bench.py                          # this tree only
    python bench/outcome_report_bench.py --baseline <git ref>     # and a release before it
    python bench/outcome_report_bench.py --leads 20000 --runs 3 --rounds 1

Why: SPEC 10 adds the deals to every report (the funnel, pipeline and revenue per currency,
days to close, loss reasons, deals by source, criterion, behaviour, tier, definition and
agreement version, a funnel chart); SPEC 10's targets are the review pack within 2.5 s and
``/sla-status`` still within 300 ms over a month of 100,000 leads.

The database is seeded once, as ``bench/report_bench.py`` seeds it (100,000 leads handed off
in November 2026, ~60 % decided, ~30 % of those converted; the business-time stamps written by
``restamp_all``), then the deals as the CRM reports them: ~60 % of the SQLs closed (a third won,
the rest lost with a configured reason or an unlisted one), amounts in JPY (85 %), USD and EUR,
closed between the conversion and now, with their ``win``/``lose`` events; the leads carry
agreement versions 1 and 2 (the agreement changed mid-month).

Timing: each tree runs in a process of its own (``--worker``), importing the ``bot`` package of
that tree against the same database: the current working tree, and with ``--baseline REF`` that
commit exported with ``git archive`` (it must read the same schema: migration 0010, the outcome
columns). ``--rounds`` alternates them (baseline, current, baseline, current…), so both see the
same machine load; each process times ``--runs`` calls after one warm-up. Measured:
``bot.reporting.review.build_review`` (the pack: figures, suggestions, blocks and, where the tree
has it, the funnel chart) and ``handlers.status.status_answer`` for a manager and for a rep.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: the deals of the seeded month, as the CRM reports them (set-based, seeded randomness)
SEED_OUTCOMES = """
UPDATE leads AS l SET
    status = d.status, closed_at = d.closed_at, deal_id = 'crm-deal-' || l.id,
    deal_amount = d.amount, deal_currency = d.currency, outcome_source = 'api',
    loss_reason = CASE WHEN d.status = 'lost' AND d.r_reason < 0.9
                       THEN (CAST(:reasons AS text[]))[
                           1 + floor(d.r_reason / 0.9 * :n_reasons)::int]
                       WHEN d.status = 'lost' THEN 'other' END,
    loss_reason_text = CASE WHEN d.status = 'lost' AND d.r_reason >= 0.9
                            THEN 'budget freeze' END
FROM (
    SELECT id, r_reason,
           CASE WHEN r_close < 0.6 AND r_won < 0.33 THEN 'won'
                WHEN r_close < 0.6 THEN 'lost' ELSE 'converted' END AS status,
           CASE WHEN r_close < 0.6 THEN decided_at + (CAST(:now AS timestamptz) - decided_at)
                                                     * r_when END AS closed_at,
           CASE WHEN r_cur < 0.85 THEN 'JPY' WHEN r_cur < 0.95 THEN 'USD' ELSE 'EUR' END
               AS currency,
           CASE WHEN r_cur < 0.85 THEN round((100000 + 4900000 * r_amount)::numeric)
                ELSE round((1000 + 49000 * r_amount)::numeric, 2) END AS amount
    FROM (SELECT id, decided_at, random() AS r_close, random() AS r_won, random() AS r_when,
                 random() AS r_cur, random() AS r_amount, random() AS r_reason
          FROM leads WHERE status = 'converted') AS dice
) AS d
WHERE d.id = l.id;

UPDATE leads SET agreement_version = CASE WHEN posted_at < :switch THEN 1 ELSE 2 END
WHERE posted_at IS NOT NULL;

INSERT INTO lead_events (lead_id, at, kind, from_status, to_status, actor, surface, data)
SELECT id, closed_at, CASE status WHEN 'won' THEN 'win' ELSE 'lose' END, 'converted', status,
       NULL, 'webhook', jsonb_build_object('outcome', status, 'source', 'api')
FROM leads WHERE status IN ('won', 'lost')
ORDER BY closed_at;
"""


# ------------------------------------------------------------------------------ worker


def worker(args: argparse.Namespace) -> None:
    """Time one tree (``--code-root``) against ``--database-url``; print the runs as JSON."""
    root = Path(args.code_root).resolve()
    sys.path.insert(0, str(root))
    from slack_sdk import WebClient

    import bot
    from bot.clock import ManualClock
    from bot.policy import load_policy
    from bot.services import build_services
    from bot.settings import Settings
    from handlers.status import status_answer
    from storage.db import make_engine
    from tests.harness import FakeSlack

    if (root / "bot" / "reporting").is_dir():
        from bot.reporting.periods import month
        from bot.reporting.review import build_review
    else:  # a baseline from before the reporting package
        from bot.periods import month
        from bot.review import build_review

    assert Path(bot.__file__).resolve().is_relative_to(root), bot.__file__
    from bench.report_bench import MONTH, NOW, REPS, YEAR
    from bench.sweep_bench import POLICY

    policy = load_policy(POLICY)
    period = month(YEAR, MONTH, policy.tz)
    engine = make_engine(args.database_url)
    manager = next(iter(policy.roles.managers))
    with FakeSlack() as fake:
        # built here, not by ``bench.harness``: an earlier tree may not have that module
        settings = Settings(slack_bot_token="xoxb-bench", slack_signing_secret="bench",
                            database_url=args.database_url, slack_api_url=fake.base_url)
        slack = WebClient(token="xoxb-bench", base_url=fake.base_url, timeout=5)
        services = build_services(settings, policy, ManualClock(NOW), engine=engine,
                                  slack=slack)
        work = {
            "review": lambda: build_review(services, period),
            "status_manager": lambda: status_answer(services, manager, ""),
            "status_rep": lambda: status_answer(services, REPS[0], ""),
        }
        out: dict[str, Any] = {}
        for name, call in work.items():
            call()  # warm-up: connections, caches, the chart's font
            runs = []
            for _ in range(args.runs):
                started = time.perf_counter()
                call()
                runs.append((time.perf_counter() - started) * 1000)
            out[name] = runs
        review = build_review(services, period)
        out["review_blocks"] = len(review.message["blocks"])
        out["review_chart_bytes"] = len(getattr(review, "chart_png", None) or b"")
    engine.dispose()
    print(json.dumps(out))


# ------------------------------------------------------------------------------ main


def export_tree(ref: str, into: Path) -> Path:
    """``ref`` of this repository as files under ``into`` (``git archive``)."""
    archive = into / "tree.tar"
    with open(archive, "wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref], check=True,
                       stdout=out)
    tree = into / "tree"
    tree.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def run_worker(root: Path, url: str, runs: int) -> dict[str, Any]:
    # the current tree's worker code, importing ``root``'s ``bot`` (and ``bench`` helpers)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", "--code-root", str(root),
         "--database-url", url, "--runs", str(runs)],
        check=True, capture_output=True, text=True, cwd=root, env=env)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def seed_outcomes(url: str) -> dict[str, int]:
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import text

    from bench.report_bench import NOW, run_script
    from bench.sweep_bench import POLICY
    from bot.policy import load_policy
    from storage.db import make_engine

    policy = load_policy(POLICY)
    reasons = [r for r in policy.outcomes.loss_reasons if r != "other"]
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("SELECT setseed(0.17)"))
        run_script(connection, SEED_OUTCOMES, {
            "reasons": reasons, "n_reasons": len(reasons), "now": NOW,
            "switch": NOW.replace(day=16)})
        counts = dict(connection.execute(text(
            "SELECT status, count(*) FROM leads GROUP BY status")).all())
    # every row was rewritten (stamps, outcomes, versions): compact the table and set its
    # visibility map, as autovacuum keeps a table in use
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM FULL leads"))
        connection.execute(text("VACUUM ANALYZE leads, lead_events"))
    engine.dispose()
    return {str(k): int(v) for k, v in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5, help="timed calls per process")
    parser.add_argument("--rounds", type=int, default=2,
                        help="processes per tree, alternating with the baseline")
    parser.add_argument("--baseline", default=None, metavar="REF",
                        help="a git commit or tag of an earlier release, timed in the same run")
    parser.add_argument("--server-url", default=None)
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--code-root", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    sys.path.insert(0, str(ROOT))

    from bench.harness import bench_services
    from bench.report_bench import MONTH, NOW, YEAR, seed
    from bench.sweep_bench import DEFAULT_SERVER, POLICY, create_database, drop_database
    from bot.clock import ManualClock
    from bot.policy import load_policy
    from bot.reporting.periods import month
    from bot.timings import restamp_all
    from storage import migrate
    from storage.db import make_engine
    from tests.harness import FakeSlack

    server = args.server_url or DEFAULT_SERVER
    name = f"sla_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    results: dict[str, list[dict[str, Any]]] = {"current": [], "baseline": []}
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        policy = load_policy(POLICY)
        period = month(YEAR, MONTH, policy.tz)
        started = time.monotonic()
        seeded = seed(engine, policy, period, args.leads)
        with FakeSlack() as fake:
            services = bench_services(url, engine, policy, ManualClock(NOW), fake.base_url)
            restamp_all(services)
        engine.dispose()
        statuses = seed_outcomes(url)
        print(f"seeded {seeded.leads:,} leads ({seeded.handed_off:,} handed off) with outcomes "
              f"{statuses} in {time.monotonic() - started:.0f} s", file=sys.stderr)
        with tempfile.TemporaryDirectory() as scratch:
            baseline = export_tree(args.baseline, Path(scratch)) if args.baseline else None
            for round_ in range(args.rounds):
                if baseline is not None:
                    results["baseline"].append(run_worker(baseline, url, args.runs))
                results["current"].append(run_worker(ROOT, url, args.runs))
                print(f"round {round_ + 1} of {args.rounds} done", file=sys.stderr)
    finally:
        if args.keep:
            print(f"kept database {name}", file=sys.stderr)
        else:
            drop_database(server, name)
    report(args, seeded, statuses, results)


def report(args: argparse.Namespace, seeded: Any, statuses: dict[str, int],
           results: dict[str, list[dict[str, Any]]]) -> None:
    closed = statuses.get("won", 0) + statuses.get("lost", 0)
    print(f"PostgreSQL, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"{seeded.leads:,} leads, {seeded.handed_off:,} handed off in 2026-11; "
          f"{closed:,} deals closed ({statuses.get('won', 0):,} won), "
          f"{statuses.get('converted', 0):,} SQLs open; {args.rounds} processes per tree, "
          f"median of {args.runs} calls each after a warm-up\n")
    trees = [("baseline", f"`{args.baseline}`")] if args.baseline else []
    trees.append(("current", "this tree"))
    print("| measure | " + " | ".join(f"{label} p50 / max ms" for _, label in trees)
          + " | target |")
    print("|---|" + "---|" * len(trees) + "---|")
    targets = {"review": ("monthly review pack (`build_review`)", 2500.0),
               "status_manager": ("`/sla-status`, manager", 300.0),
               "status_rep": ("`/sla-status`, one rep", 300.0)}
    for key, (label, target) in targets.items():
        cells = []
        for tree, _ in trees:
            per_process = [(statistics.median(r[key]), max(r[key])) for r in results[tree]]
            cells.append("; ".join(f"{p50:,.0f} / {top:,.0f}" for p50, top in per_process))
        current = max(statistics.median(r[key]) for r in results["current"])
        mark = "✅" if current <= target else "⚠️"
        print(f"| {label} | " + " | ".join(cells) + f" | ≤ {target:,.0f} ms {mark} |")
    last = results["current"][-1]
    print(f"\nreview pack: {last['review_blocks']} blocks, funnel chart "
          f"{last['review_chart_bytes']:,} bytes")


if __name__ == "__main__":
    main()
