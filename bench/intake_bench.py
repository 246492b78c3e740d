"""Intake and handoff benchmarks (SPEC section 7), against a fake Slack on loopback.

    python bench/intake_bench.py speed --leads 500     # webhook → chat.postMessage latency
    python bench/intake_bench.py burst --leads 1000    # answers/s and time until all posted

The real bot runs in-process (HTTP server, outbox worker, SQLite file or $DATABASE_URL);
the fake Slack records when each post arrives. Results are printed as a Markdown table row.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.clock import SystemClock  # noqa: E402
from bot.policy import load_policy  # noqa: E402
from bot.services import build_services  # noqa: E402
from bot.settings import Settings  # noqa: E402
from handlers.server import BotServer  # noqa: E402
from storage import migrate  # noqa: E402
from tests.harness import FakeSlack, http_post  # noqa: E402

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


def start(fake: FakeSlack, database_url: str | None, workdir: Path) -> BotServer:
    settings = Settings(
        slack_bot_token="xoxb-bench",
        slack_signing_secret="bench",
        intake_token=TOKEN,
        database_url=database_url or f"sqlite:///{workdir}/bench.db",
        slack_api_url=fake.base_url,
        host="127.0.0.1",
        port=0,
    )
    services = build_services(settings, load_policy(ROOT / "sla.example.toml"), SystemClock())
    migrate.upgrade(services.engine)
    return BotServer(services, start_scheduler=False).start()


def post(url: str, n: int) -> tuple[int, float]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    answer = http_post(url, lead(n), headers, timeout=30)
    return answer.status, time.monotonic()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def speed(args: argparse.Namespace, fake: FakeSlack, server: BotServer) -> None:
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


def burst(args: argparse.Namespace, fake: FakeSlack, server: BotServer) -> None:
    """Many deliveries at once from concurrent clients; Slack allows ~1 post/s per channel."""
    fake.rate_limit("chat.postMessage", per_second=1.0, burst=args.slack_burst)
    url = f"{server.url}/webhooks/mql"
    started = time.monotonic()
    with ThreadPoolExecutor(args.clients) as pool:
        results = list(pool.map(lambda n: post(url, n), range(args.leads)))
    answered = time.monotonic() - started
    assert all(status == 202 for status, _ in results), {s for s, _ in results}
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
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    args.leads = args.leads or (500 if args.mode == "speed" else 1000)
    with tempfile.TemporaryDirectory() as workdir, FakeSlack() as fake:
        server = start(fake, args.database_url, Path(workdir))
        try:
            (speed if args.mode == "speed" else burst)(args, fake, server)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
