"""Button press → HTTP 200 (the ack) under 20 concurrent presses (SPEC section 7).

    python bench/button_bench.py                         # 2,000 Claim presses from 20 clients
    python bench/button_bench.py --burst-every 200       # 20 presses at once, every 200 ms
    python bench/button_bench.py --database-url postgresql+psycopg://...   # in a schema of its own

Every server runs as its own process, so the load generator shares an interpreter with none:
the real bot (`sla-bot run`: HTTP server, outbox worker, scheduler) on a database prepared with
posted leads; a bare Bolt app whose only listener acks Claim, served the same way (waitress
with the bot's thread count, client limits and GC settings, Flask and Bolt's Flask adapter);
and the fake Slack Web API both talk to. Both get the same correctly signed `block_actions`
Claim payloads from the same client, 20 threads with kept-alive connections, one server after
the other in the same run. Each lead is pressed by two reps at about the same moment, so half
the presses claim (a write, outbox rows the worker then posts) and half are told who has it (an
ephemeral through the response URL). Results are printed as a Markdown table, with the CPU time
each server process used per measured press (all its threads: the acks, and for the bot the
listeners and the outbox worker too), which varies far less than latency on a shared machine.
The bot's process id is printed when it starts, to attach a sampling profiler.

On PostgreSQL the bench works in a schema of its own in the given database, dropped at the end,
so runs start equal and leave nothing behind.

By default each client presses again as soon as it is answered: a closed loop, far faster than
people press, whose listener backlog grows for the whole run (the stress figure). With
``--burst-every`` the 20 clients press together at fixed ticks instead: SPEC 7's "20 concurrent
presses", repeated.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    BOT_TOKEN,
    SIGNING_SECRET,
    bench_services,
    percentile,
    qualified_lead,
    rewritten_policy,
    serving,
    start_bot,
)
from bot.ids import Action  # noqa: E402
from tests.harness import FakeSlack, SlackRequests, slack_signature_headers  # noqa: E402
from tests.harness.bot_process import PROXY_VARIABLES, stop_process  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402

FORM = "application/x-www-form-urlencoded"
EVENTS_PATH = "/slack/events"


def bench_policy(workdir: Path, reps: list[str]) -> Path:
    """The example policy with one rep per client thread (and no open-lead cap)."""
    listed = ", ".join(f'"{rep}"' for rep in reps)
    return rewritten_policy(workdir, {r"^reps = .*$": f"reps = [{listed}]"})


def prepare(database_url: str, policy_path: Path, fake: FakeSlackProcess, leads: int) -> list[
        tuple[int, str]]:
    """Hand off ``leads`` leads with the project's own intake and outbox: (lead id, message ts)."""
    from sqlalchemy import select

    from bot.clock import SystemClock
    from bot.intake import accept, parse_data
    from bot.lifecycle import Surface
    from bot.outbox.worker import OutboxWorker
    from bot.policy import load_policy
    from storage import migrate
    from storage.db import make_engine
    from storage.models import Lead, LeadStatus

    engine = make_engine(database_url)
    migrate.upgrade(engine)
    services = bench_services(database_url, engine, load_policy(policy_path), SystemClock(),
                              fake.base_url)
    run = uuid.uuid4().hex[:8]
    ids = []
    for n in range(leads):
        mql = parse_data(qualified_lead(f"button-bench-{run}-{n}", n), now=services.clock.now())
        result = accept(services, mql, surface=Surface.WEBHOOK)
        assert result.status == "queued", result
        ids.append(result.lead_id)
    worker = OutboxWorker(services, channel_interval=timedelta(0))
    while worker.run_once(limit=200):
        pass
    with services.unit_of_work() as uow:
        rows = uow.session.execute(
            select(Lead.id, Lead.message_ts)
            .where(Lead.id.in_(ids), Lead.status == LeadStatus.POSTED).order_by(Lead.id)
        ).all()
    services.close()
    if len(rows) != leads:
        raise SystemExit(f"only {len(rows)} of {leads} leads were posted")
    return [(lead_id, str(ts)) for lead_id, ts in rows]


class FakeSlackProcess:
    """The fake Slack Web API in a child process: the bot's calls to it (ephemerals, posts)
    must not compete with the load generator for this interpreter."""

    def __init__(self) -> None:
        args = [sys.executable, str(Path(__file__).resolve()), "--serve-fake"]
        self.process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url:
            raise SystemExit("the fake Slack did not start")
        self.url = self.base_url.removesuffix("/api/")

    def stop(self) -> None:
        stop_process(self.process, 30)


def serve_fake() -> None:
    fake = FakeSlack().start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    print(fake.base_url, flush=True)
    stop.wait()
    fake.stop()


class Server:
    """A child process serving ``/slack/events`` on a port of its own (the bare app)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], port: int) -> None:
        self.name = name
        self.port = port
        self.process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{name} exited with {self.process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"{name} did not start")

    def stop(self) -> None:
        stop_process(self.process, 30)


def start_bare(fake: FakeSlackProcess) -> Server:
    port = free_port()
    args = [str(Path(__file__).resolve()), "--serve-bare", str(port), "--slack-url", fake.base_url]
    return Server("bare Bolt app", args, dict(os.environ), port)


def serve_bare(port: int, slack_url: str) -> None:
    """The baseline: Bolt with one no-op listener, on the bot's HTTP server settings."""
    import logging

    from flask import Flask, Response, request
    from slack_bolt import Ack, App
    from slack_bolt.adapter.flask import SlackRequestHandler
    from slack_sdk import WebClient

    from handlers.http_server import HttpServer
    from handlers.server import ACCEPT_BACKLOG, HTTP_THREADS, SHUTDOWN_TIMEOUT_S, tune_gc

    logging.basicConfig(level=logging.WARNING)
    bolt = App(signing_secret=SIGNING_SECRET, client=WebClient(token=BOT_TOKEN, base_url=slack_url))

    @bolt.action(Action.CLAIM.value)
    def claim(ack: Ack) -> None:
        ack()

    web = Flask("bare")
    adapter = SlackRequestHandler(bolt)

    @web.post(EVENTS_PATH)
    def events() -> Response:
        return adapter.handle(request)

    http = HttpServer(web, "127.0.0.1", port, threads=HTTP_THREADS, backlog=ACCEPT_BACKLOG)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    tune_gc()
    http.start()
    stop.wait()
    http.stop(SHUTDOWN_TIMEOUT_S)


@dataclass
class Result:
    name: str
    latencies_ms: list[float]
    statuses: list[int]
    seconds: float
    cpu_s: float | None = None  # the server process's CPU time during the presses


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (every thread) so far; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(pid: int, port: int, bodies: list[list[str]], name: str,
            every_s: float | None) -> Result:
    """``press`` with the CPU time of the server (process ``pid``) over the presses."""
    before = cpu_seconds(pid)
    result = press(port, bodies, name, every_s)
    after = cpu_seconds(pid)
    if before is not None and after is not None:
        result.cpu_s = after - before
    return result


def press(port: int, bodies: list[list[str]], name: str, every_s: float | None = None) -> Result:
    """Each client sends its bodies in order on one kept-alive connection, signed when sent.

    Without ``every_s`` each client presses again as soon as it is answered (a closed loop).
    With it, all clients press together at every tick of ``every_s`` seconds: bursts of
    ``len(bodies)`` simultaneous presses; a client answered after the next tick presses at once.
    """
    barrier = threading.Barrier(len(bodies))
    start: list[float] = []

    def client(mine: list[str]) -> tuple[list[float], list[int]]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies, statuses = [], []
        if barrier.wait() == 0:
            start.append(time.perf_counter() + 0.05)
        barrier.wait()
        for n, body in enumerate(mine):
            if every_s is not None:
                time.sleep(max(0.0, start[0] + n * every_s - time.perf_counter()))
            headers = slack_signature_headers(body, SIGNING_SECRET, content_type=FORM)
            sent = time.perf_counter()
            connection.request("POST", EVENTS_PATH, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            latencies.append((time.perf_counter() - sent) * 1000)
            statuses.append(response.status)
        connection.close()
        return latencies, statuses

    started = time.perf_counter()
    with ThreadPoolExecutor(len(bodies)) as pool:
        results = list(pool.map(client, bodies))
    seconds = time.perf_counter() - started
    return Result(name, [x for r in results for x in r[0]], [x for r in results for x in r[1]],
                  seconds)


def claim_bodies(slack: SlackRequests, fake: FakeSlackProcess, channel: str,
                 leads: list[tuple[int, str]], presses: int, per_lead: int, reps: list[str]
                 ) -> list[list[str]]:
    """Press ``i`` goes to client ``i % clients`` and names lead ``i // per_lead``: the reps
    pressing one lead are different clients pressing at about the same moment."""
    clients = len(reps)
    response_url = f"{fake.url}/response_url/bench"  # answered ok, kept as an ephemeral
    bodies: list[list[str]] = [[] for _ in range(clients)]
    for i in range(presses):
        lead_id, ts = leads[i // per_lead]
        body, _ = slack.build_block_action(
            Action.CLAIM.value, str(lead_id), user_id=reps[i % clients], channel_id=channel,
            message_ts=ts, response_url=response_url, trigger_id=f"bench-{i}",
        )
        bodies[i % clients].append(body)
    return bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presses", type=int, default=2000, help="measured, per server")
    parser.add_argument("--warmup", type=int, default=200, help="per server, not measured")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--per-lead", type=int, default=2, help="reps pressing Claim per lead")
    parser.add_argument("--burst-every", type=float, default=None, metavar="MS",
                        help="bursts: all clients press together every MS milliseconds "
                        "(default: a closed loop, each client presses again when answered)")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--serve-bare", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--slack-url", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare is not None:
        serve_bare(args.serve_bare, args.slack_url)
        return
    if args.serve_fake:
        serve_fake()
        return

    for name in PROXY_VARIABLES:
        os.environ.pop(name, None)  # every request here goes to 127.0.0.1
    reps = [f"U0BENCH{n:04d}" for n in range(args.clients)]
    fake = FakeSlackProcess()
    try:
        with tempfile.TemporaryDirectory() as workdir, own_schema(args.database_url) as url:
            args.database_url = url
            results = run(args, fake, Path(workdir), reps)
    finally:
        fake.stop()
    report(results, args)


@contextmanager
def own_schema(database_url: str | None) -> Iterator[str | None]:
    """On PostgreSQL, the URL of a new schema in that database, dropped afterwards.

    Each run then starts from empty tables (earlier runs' leads would otherwise stay, claimed,
    in the tables and indexes the bot reads) and another user of the database is not disturbed.
    """
    if database_url is None or not database_url.startswith("postgresql"):
        yield database_url
        return
    from sqlalchemy import make_url, text

    from storage.db import make_engine

    schema = f"button_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(database_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run(args: argparse.Namespace, fake: FakeSlackProcess, workdir: Path,
        reps: list[str]) -> list[Result]:
    """Prepare the leads, start both servers, press: the bare app first, then the bot."""
    from bot.policy import load_policy

    total = args.warmup + args.presses
    database_url = args.database_url or f"sqlite:///{workdir}/bench.db"
    policy_path = bench_policy(workdir, reps)
    started = time.monotonic()
    leads = prepare(database_url, policy_path, fake, -(-total // args.per_lead))
    print(f"prepared {len(leads)} posted leads in {time.monotonic() - started:.1f} s",
          file=sys.stderr)
    channel = load_policy(policy_path).channels.handoff
    bodies = claim_bodies(SlackRequests("unused", SIGNING_SECRET), fake, channel, leads, total,
                          args.per_lead, reps)
    warm = [b[: args.warmup // args.clients] for b in bodies]
    measured = [b[args.warmup // args.clients:] for b in bodies]
    every = args.burst_every / 1000 if args.burst_every else None
    results = []
    bare = start_bare(fake)
    try:
        press(bare.port, warm, "warm-up", every)
        results.append(measure(bare.process.pid, bare.port, measured,
                               "bare Bolt app, no-op listener", every))
    finally:
        bare.stop()
    bot = serving(start_bot(fake.base_url, database_url, policy_path))
    print(f"sla-bot runs as process {bot.process.pid}", file=sys.stderr)
    try:
        press(bot.port, warm, "warm-up", every)
        results.append(measure(bot.process.pid, bot.port, measured,
                               "sla-bot, real Claim listener", every))
        owned = claimed(database_url, [lead_id for lead_id, _ in leads])
        print(f"when the last press was answered, {owned} of {len(leads)} leads had an owner "
              "(the rest were still queued for a listener thread)", file=sys.stderr)
    finally:
        bot.stop()
    return results


def claimed(database_url: str, ids: list[int]) -> int:
    """How many of the bench's leads the bot's listeners have claimed so far."""
    from sqlalchemy import func, select

    from storage.db import make_engine
    from storage.models import Lead

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(
                select(func.count()).select_from(Lead)
                .where(Lead.id.in_(ids), Lead.owner_id.is_not(None))
            ) or 0)
    finally:
        engine.dispose()


def report(results: list[Result], args: argparse.Namespace) -> None:
    load = (f"bursts of {args.clients} presses every {args.burst_every:g} ms"
            if args.burst_every else f"{args.clients} clients in a closed loop")
    print(f"{os.cpu_count()} cores, Python {platform.python_version()}, {load}, "
          f"{args.per_lead} presses per lead", file=sys.stderr)
    print("| server | presses | p50 ms | p99 ms | max ms | presses/s | not 200 "
          "| server CPU ms/press |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        cpu = f"{r.cpu_s * 1000 / len(r.latencies_ms):.2f}" if r.cpu_s is not None else "–"
        print(f"| {r.name} | {len(r.latencies_ms)} | {statistics.median(r.latencies_ms):.1f} "
              f"| {percentile(r.latencies_ms, 99):.1f} | {max(r.latencies_ms):.1f} "
              f"| {len(r.latencies_ms) / r.seconds:.0f} "
              f"| {sum(1 for s in r.statuses if s != 200)} | {cpu} |")
    bare, bot = results
    p50 = statistics.median(bot.latencies_ms) / statistics.median(bare.latencies_ms)
    p99 = percentile(bot.latencies_ms, 99) / percentile(bare.latencies_ms, 99)
    cpu = (f"{bot.cpu_s / bare.cpu_s:.2f}×" if bot.cpu_s is not None and bare.cpu_s
           else "")
    print(f"| ratio sla-bot / bare | | {p50:.2f}× | {p99:.2f}× | | | | {cpu} |")


if __name__ == "__main__":
    main()
