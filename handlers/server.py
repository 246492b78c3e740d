"""``sla-bot run``: the HTTP server, Socket Mode (optional) and the scheduler in one process.

cheroot is the production WSGI server: threaded (Bolt's sync app needs threads, not an
event loop) and its ``stop()`` stops accepting, then lets in-flight requests finish.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from types import FrameType

from cheroot.wsgi import Server as WSGIServer

from bot.outbox import OutboxWorker
from bot.scheduler import SweepStep, build_scheduler
from bot.services import Services
from handlers.app import LISTENER_THREADS, create_app
from handlers.web import create_web_app

HTTP_THREADS = 16
#: listen() backlog: cheroot's default of 5 resets connections when an MA tool sends a burst
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
        poll_interval: float = 0.5,
    ) -> None:
        self.services = services
        self.listeners = ThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="listener")
        self.bolt = create_app(services, listener_executor=self.listeners)
        self.web = create_web_app(self.bolt, services)
        settings = services.settings
        self.http = WSGIServer(
            (host or settings.host, settings.port if port is None else port),
            self.web,
            numthreads=HTTP_THREADS,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
            server_name="sla-bot",
            request_queue_size=ACCEPT_BACKLOG,
        )
        # How often the accept loop checks for a stop; tests shorten it to stop quickly.
        self.http.expiration_interval = poll_interval
        self.scheduler = build_scheduler(services, sweep_steps or []) if start_scheduler else None
        self.worker = OutboxWorker(services) if start_worker else None
        self._worker_stop = threading.Event()
        self._worker_thread: threading.Thread | None = None
        self._socket_mode = None
        self._http_thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        return int(self.http.bind_addr[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BotServer:
        self.http.prepare()  # binds, so ``port`` is known (port 0 picks a free one)
        self._http_thread = threading.Thread(target=self.http.serve, name="http", daemon=True)
        self._http_thread.start()
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
        log.info("listening on %s:%s", self.http.bind_addr[0], self.port)
        return self

    def stop(self) -> None:
        """Stop taking work, finish what is in flight, then close the database."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        log.info("stopping: finishing in-flight requests")
        if self._socket_mode is not None:
            self._socket_mode.close()
        self.http.stop()
        if self._http_thread is not None:
            self._http_thread.join(SHUTDOWN_TIMEOUT_S)
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


def run_until_signalled(server: BotServer) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
