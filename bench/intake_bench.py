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
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import FakeSlack, http_get, http_post  # noqa: E402

TOKEN = "bench-intake-token"
CHANNEL = "C0000SALES"


def lead(n: int) -> bytes:
    return json.dumps({
        "external_id": f"bench-{n}",
        "source": "bench",
        "qualified_at": "2026-11-24T09:12:00+09:00",
        "contact": {"name": f"Lead {n}", "title": "営業部長"},
        "company": {"name": "Example KK", "industry": "manufacturing", "employees": 250},
        "score": 72,
        "activities": [
            {"type": "page_view", "at": "2026-11-20T10:01:00+09:00", "detail": "/pricing"},
            {"type": "webinar", "at": "2026-11-22T14:00:00+09:00", "detail": "Alignment"},
        ],
    }).encode()


class Bot:
    """``sla-bot run`` in a child process, pointed at the fake Slack."""

    def __init__(self, fake: FakeSlack, database_url: str | None, workdir: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": "bench",
            "INTAKE_TOKEN": TOKEN,
            "DATABASE_URL": database_url or f"sqlite:///{workdir}/bench.db",
            "SLACK_API_URL": fake.base_url,
            "SLA_CONFIG": str(ROOT / "sla.example.toml"),
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_LEVEL": "WARNING",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", "run", "--migrate"], cwd=ROOT, env=env
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if http_get(f"{self.url}/healthz", timeout=1).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit("the bot did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


def post(url: str, n: int) -> tuple[int, float]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    answer = http_post(url, lead(n), headers, timeout=30)
    return answer.status, time.monotonic()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def speed(args: argparse.Namespace, fake: FakeSlack, server: Bot) -> None:
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


def burst(args: argparse.Namespace, fake: FakeSlack, server: Bot) -> None:
    """Many deliveries at once from concurrent clients; Slack allows ~1 post/s per channel."""
    fake.rate_limit("chat.postMessage", per_second=1.0, burst=args.slack_burst)
    port = int(server.url.rsplit(":", 1)[1])
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}

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
            server = Bot(fake, database_url, Path(workdir))
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
