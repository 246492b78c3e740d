"""Intake and handoff benchmarks (SPEC section 7), against a fake Slack on loopback.

    python bench/intake_bench.py speed --leads 500     # webhook → chat.postMessage latency
    python bench/intake_bench.py burst --leads 1000    # answers/s and time until all posted
    python bench/intake_bench.py burst --server-url postgresql+psycopg://user@host/postgres

The real bot runs as its own process (`sla-bot run`: HTTP server, outbox worker; a temporary
SQLite file, a fresh database of its own on the --server-url PostgreSQL server, dropped
afterwards, or an existing --database-url), so the load generator does not share its
interpreter; the fake Slack in this process records when each post arrives. Results are
printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    EXAMPLE_POLICY,
    INTAKE_TOKEN,
    percentile,
    qualified_lead,
    serving,
    start_bot,
)
from tests.harness import FakeSlack, http_post  # noqa: E402
from tests.harness.bot_process import BotProcess  # noqa: E402

CHANNEL = "C0000SALES"


def lead(n: int) -> bytes:
    return json.dumps(qualified_lead(f"bench-{n}", n)).encode()


def post(url: str, n: int) -> tuple[int, float]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {INTAKE_TOKEN}"}
    answer = http_post(url, lead(n), headers, timeout=30)
    return answer.status, time.monotonic()


def speed(args: argparse.Namespace, fake: FakeSlack, server: BotProcess) -> None:
    """One lead at a time, spaced beyond the per-channel pacing, as leads arrive in real life."""
    url = f"{server.url}/webhooks/mql"
    from_request, from_answer = [], []
    for n in range(args.leads):
        sent = time.monotonic()
        status, answered = post(url, n)
        assert status == 202, status
        call = fake.wait_for("chat.postMessage", count=n + 1, timeout=30)[n]
        from_request.append((call.at - sent) * 1000)
        from_answer.append(max(0.0, call.at - answered) * 1000)
        time.sleep(max(0.0, args.spacing - (time.monotonic() - sent)))
    print("| measure | n | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    for name, values in (("request sent → post received", from_request),
                         ("answer received → post received", from_answer)):
        print(f"| {name} | {len(values)} | {statistics.median(values):.1f} "
              f"| {percentile(values, 99):.1f} | {max(values):.1f} |")


def burst(args: argparse.Namespace, fake: FakeSlack, server: BotProcess) -> None:
    """Many deliveries at once from concurrent clients; Slack allows ~1 post/s per channel."""
    fake.rate_limit("chat.postMessage", per_second=1.0, burst=args.slack_burst)
    port = server.port
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {INTAKE_TOKEN}"}

    def client(first: int) -> list[int]:
        """One sender with a kept-alive connection, as an MA tool's HTTP client would."""
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        statuses = []
        for n in range(first, args.leads, args.clients):
            connection.request("POST", "/webhooks/mql", body=lead(n), headers=headers)
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        connection.close()
        return statuses

    started = time.monotonic()
    with ThreadPoolExecutor(args.clients) as pool:
        results = [s for batch in pool.map(client, range(args.clients)) for s in batch]
    answered = time.monotonic() - started
    assert results == [202] * args.leads, {s for s in results}
    print(f"answered {args.leads} deliveries in {answered:.2f} s", file=sys.stderr)
    if args.answers_only:
        print(f"| {args.leads} | {args.clients} | {args.leads / answered:.0f} answers/s |")
        return
    posts = fake.wait_for_messages(CHANNEL, args.leads, timeout=args.leads * 3 + 60)
    all_posted = max(c.at for c in fake.calls_to("chat.postMessage")) - started
    keys = [m["metadata"]["event_payload"]["key"] for m in posts]
    minimum = max(0.0, (args.leads - args.slack_burst) / 1.0)
    rejected = sum(1 for c in fake.calls_to("chat.postMessage") if c.status == 429)
    print("| leads | clients | answers/s | all posted after s | rate-limit minimum s | ratio "
          "| lost | doubled | 429s |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.leads} | {args.clients} | {args.leads / answered:.0f} | {all_posted:.1f} "
          f"| {minimum:.0f} | {all_posted / minimum if minimum else 0:.3f} "
          f"| {args.leads - len(set(keys))} | {len(keys) - len(set(keys))} | {rejected} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["speed", "burst"])
    parser.add_argument("--leads", type=int, default=None)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--spacing", type=float, default=1.05, help="speed: seconds between leads")
    parser.add_argument("--slack-burst", type=int, default=3, help="burst: Slack's bucket size")
    parser.add_argument("--database-url", default=None,
                        help="an existing, empty database (default: a temporary SQLite file)")
    parser.add_argument("--server-url", default=None,
                        help="a PostgreSQL server: the bench creates a database of its own "
                             "there and drops it afterwards")
    parser.add_argument("--answers-only", action="store_true",
                        help="burst: stop after the answers, do not wait for the posts")
    args = parser.parse_args()
    args.leads = args.leads or (500 if args.mode == "speed" else 1000)
    database_url, created = args.database_url, None
    if args.server_url:
        from bench.sweep_bench import create_database

        created = f"intake_bench_{uuid.uuid4().hex[:8]}"
        database_url = create_database(args.server_url, created)
    try:
        with tempfile.TemporaryDirectory() as workdir, FakeSlack() as fake:
            database_url = database_url or f"sqlite:///{workdir}/bench.db"
            server = serving(start_bot(fake.base_url, database_url, EXAMPLE_POLICY,
                                       migrate=True))
            try:
                (speed if args.mode == "speed" else burst)(args, fake, server)
            finally:
                server.stop()
    finally:
        if created:
            from bench.sweep_bench import drop_database

            drop_database(args.server_url, created)


if __name__ == "__main__":
    main()
