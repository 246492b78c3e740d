"""``sla-bot run``: the HTTP server, Socket Mode (optional) and the scheduler in one process.

The HTTP server is waitress (``handlers.http_server``): one I/O thread reads requests whole,
so slow clients hold no worker thread, and worker threads run Bolt's sync app. ``stop()``
stops accepting, then lets requests already received finish.

Its threads are shared by Slack and every other route, and a webhook or a health check holds
one for as long as the database takes. So routes other than Slack's may hold at most
``OTHER_ROUTES_LIMIT`` of them and are told to retry beyond that: with a slow or locked
database, a burst of deliveries cannot leave Slack's requests unanswered (Slack gives up after
3 s; clicks and events are answered at once by ``handlers.app.ack_at_once``).
"""

from __future__ import annotations

import gc
import json
import logging
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from bot.outbox.worker import OutboxWorker
from bot.scheduler import SweepStep, build_scheduler
from bot.services import Services
from handlers.app import LISTENER_THREADS, AckFirst, AckFirstExecutor, create_app
from handlers.http_server import ClientLimits, HttpServer
from handlers.web import create_web_app

SLACK_PATH = "/slack/events"
#: webhooks and /healthz: more than the burst bench's 20 concurrent senders
OTHER_ROUTES_LIMIT = 32
#: Slack keeps at least HTTP_THREADS - OTHER_ROUTES_LIMIT threads, more than the listener pool
HTTP_THREADS = 64
RETRY_AFTER_S = 1
#: young collections every 10,000 net allocations instead of 700 (see ``tune_gc``)
GC_THRESHOLDS = (10_000, 10, 10)
#: listen() backlog: a small one (cheroot's 5) resets connections when an MA tool sends a burst
ACCEPT_BACKLOG = 128
SHUTDOWN_TIMEOUT_S = 10
log = logging.getLogger("sla_bot.server")


class BotServer:
    """Everything ``run`` starts, startable and stoppable in-process (tests use it too)."""

    def __init__(
        self,
        services: Services,
        *,
        host: str | None = None,
        port: int | None = None,
        sweep_steps: list[SweepStep] | None = None,
        start_scheduler: bool = True,
        start_worker: bool = True,
        limits: ClientLimits | None = None,
    ) -> None:
        """``limits`` bound slow and greedy clients (tests shorten them)."""
        self.services = services
        self.ack_first = AckFirst()
        self.listeners = AckFirstExecutor(
            self.ack_first, LISTENER_THREADS, thread_name_prefix="listener"
        )
        self.bolt = create_app(services, listener_executor=self.listeners, ack_first=self.ack_first)
        self.web = create_web_app(self.bolt, services)
        settings = services.settings
        self.http = HttpServer(
            SlackFirst(self.web, OTHER_ROUTES_LIMIT, self.ack_first),
            host or settings.host,
            settings.port if port is None else port,
            threads=HTTP_THREADS,
            backlog=ACCEPT_BACKLOG,
            limits=limits,
        )
        self.scheduler = build_scheduler(services, sweep_steps or []) if start_scheduler else None
        self.worker = AckFirstWorker(services, self.ack_first) if start_worker else None
        self._worker_stop = threading.Event()
        self._worker_thread: threading.Thread | None = None
        self._socket_mode = None
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        return self.http.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BotServer:
        self.http.start()  # binds, so ``port`` is known (port 0 picks a free one)
        if self.scheduler is not None:
            self.scheduler.start()
        if self.worker is not None:
            self._worker_thread = threading.Thread(
                target=self.worker.run_forever, args=(self._worker_stop,), name="outbox"
            )
            self._worker_thread.start()
        if self.services.settings.socket_mode:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            self._socket_mode = SocketModeHandler(self.bolt, self.services.settings.slack_app_token)
            self._socket_mode.connect()
        log.info("listening on %s:%s", self.http.host, self.port)
        return self

    def stop(self) -> None:
        """Stop taking work, finish what is in flight, then close the database."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.services.stopping.set()  # long sweeps stop between batches
        log.info("stopping: finishing in-flight requests")
        if self._socket_mode is not None:
            self._socket_mode.close()
        self.http.stop(SHUTDOWN_TIMEOUT_S)
        self.listeners.shutdown(wait=True)
        self._worker_stop.set()
        self.services.outbox_ready.set()  # wake the worker so it sees the stop at once
        if self._worker_thread is not None:
            self._worker_thread.join(SHUTDOWN_TIMEOUT_S)
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.services.close()
        log.info("stopped")

    def __enter__(self) -> BotServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class AckFirstWorker(OutboxWorker):
    """The outbox worker, whose every pass first waits for the clicks in flight and their work.

    A pass renders Homes and calls Slack for what the listeners before it queued, and acks wait
    for the interpreter lock like everything else. A manager's Home, re-rendered on every pass
    that has a refresh for it, is the costliest: a burst of claims committing one by one made
    a pass, and so a render, per claim or two. So a pass starts once no answer has been in
    flight for a moment and no listener is waiting or running (``AckFirst.wait_turn``), or
    after ``ACK_FIRST_MAX_WAIT_S`` at most, and sends what the whole burst queued at once.
    """

    def __init__(self, services: Services, gate: AckFirst) -> None:
        super().__init__(services)
        self.gate = gate

    def run_once(self, limit: int = 20) -> int:
        self.gate.wait_turn(after_listeners=True)
        return super().run_once(limit)


class SlackFirst:
    """Let routes other than Slack's hold at most ``limit`` server threads at once.

    Beyond that they are answered ``503`` with ``Retry-After`` at once instead of waiting for a
    thread (MA tools retry; nothing was written), so Slack's requests always find one.
    """

    def __init__(
        self, app: Callable[..., Iterable[bytes]], limit: int, ack_first: AckFirst
    ) -> None:
        self.app = app
        self._slots = threading.BoundedSemaphore(limit)
        self._ack_first = ack_first

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == SLACK_PATH:
            with self._ack_first.answering():  # listeners behind early acks wait for this
                return self.app(environ, start_response)
        if not self._slots.acquire(blocking=False):
            return _busy(environ, start_response)
        try:
            return self.app(environ, start_response)
        finally:
            self._slots.release()


def _busy(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """``503``: nothing was read into the app or written, so the sender may simply retry.

    The server has already read the whole request, so the connection stays usable.
    """
    body = json.dumps({"error": "busy", "retry_after_s": RETRY_AFTER_S}).encode()
    start_response(
        "503 Service Unavailable",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Retry-After", str(RETRY_AFTER_S)),
        ],
    )
    return [body]


def tune_gc() -> None:
    """Keep the collector's pauses short: every thread, acks included, waits them out.

    A full collection scans every tracked object; after start-up most of them are modules,
    the policy, models and Bolt, which live as long as the process. Freezing them takes them
    out of every later collection (a full pass under load took 90-130 ms before, 20-65 ms
    after). Fewer young collections let request garbage die before it is promoted.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_until_signalled(
    server: BotServer, on_started: Callable[[BotServer], None] | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully; ``on_started`` once it serves."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    tune_gc()
    server.start()
    if on_started is not None:
        on_started(server)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
