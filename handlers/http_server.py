"""The HTTP server: waitress, with bounds on what slow or greedy clients can hold.

waitress reads every request in one I/O thread and hands a worker thread only a complete
request, headers and body, so a socket trickling its request a byte at a time costs a buffer,
never a thread (a server that reads requests in its worker threads, like cheroot, gave each
one a thread until the last byte). What one socket or one peer can still hold is bounded here:

- a request must arrive whole within ``request_deadline_s`` of its first byte (for a new
  connection: of connecting), or the connection is closed;
- a kept-alive connection idle for ``idle_timeout_s`` is closed;
- one peer address may hold ``peer_connections`` connections, all peers ``max_connections``;
  a new connection beyond either evicts the one stalled the longest (a request still
  arriving, or idle) instead of being refused, so an attacker cannot lock out the sockets
  Slack opens from the same address (or through the same reverse proxy);
- headers are limited to ``header_bytes``; of a body only the first ``MAX_BODY_BYTES`` + 1
  bytes are kept (the app answers 413 to more), and one over ``DRAIN_LIMIT_BYTES`` is cut off;
- the server's own error answers (400, 413, 431, 501) are JSON like every other answer.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.buffers import OverflowableBuffer
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher
from waitress.utilities import Error

from handlers.web import DRAIN_LIMIT_BYTES, MAX_BODY_BYTES, TOO_LARGE

#: the ``Server`` header: the product, never a version
IDENT = "sla-bot"
log = logging.getLogger("sla_bot.http")


@dataclass(frozen=True)
class ClientLimits:
    """What one client may hold; tests shorten the times."""

    #: a request's headers and body must all arrive within this of its first byte
    request_deadline_s: float = 10.0
    #: a kept-alive connection with nothing to do is closed after this (above a reverse proxy's
    #: upstream keep-alive, nginx's 60 s, so the proxy closes first)
    idle_timeout_s: float = 75.0
    #: connections one peer address may hold. Not the thread count: a request read whole waits
    #: for a thread without holding one, and an MA tool's burst of held deliveries, Slack and a
    #: reverse proxy all share one address; beyond it, the longest stalled one is evicted
    peer_connections: int = 256
    #: connections all peers together may hold (each is a file descriptor)
    max_connections: int = 1024
    #: request line and headers together (Slack's are under 2 KiB)
    header_bytes: int = 32 * 1024
    #: how often deadlines and idle times are checked
    check_every_s: float = 0.25


class HttpServer:
    """A WSGI app served by waitress under ``ClientLimits``; startable and stoppable in-process."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        host: str,
        port: int,
        *,
        threads: int,
        backlog: int,
        limits: ClientLimits | None = None,
    ) -> None:
        self.app = app
        self.limits = limits or ClientLimits()
        self.host = host
        self._port = port
        self.threads = threads
        self.backlog = backlog
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port once started (port 0 picks a free one), the configured one before."""
        return int(self._server.effective_port) if self._server is not None else self._port

    def start(self) -> None:
        limits = self.limits
        adjustments = Adjustments(
            host=self.host,
            port=self._port,
            threads=self.threads,
            backlog=self.backlog,
            ident=IDENT,
            # waitress's own overflow stops accepting; ours evicts first (``_Server``)
            connection_limit=limits.max_connections + 16,
            max_request_header_size=limits.header_bytes,
            max_request_body_size=DRAIN_LIMIT_BYTES + 1,
            asyncore_use_poll=True,  # select() cannot watch descriptors past 1024
        )
        # Sub-second values; Adjustments would round them to whole seconds.
        adjustments.cleanup_interval = limits.check_every_s
        adjustments.asyncore_loop_timeout = limits.check_every_s
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(self.threads)
        self._server = _Server(
            self.app, map={}, dispatcher=dispatcher, adj=adjustments,
            sockinfo=adjustments.listen[0], limits=limits,
        )
        self._thread = threading.Thread(target=self._server.serve, name="http", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop accepting, let requests already received finish and be sent, then close all.

        Connections still sending a request are closed without an answer: nothing of theirs
        reached the app.
        """
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        deadline = time.monotonic() + timeout
        server.in_loop(server.stop_accepting, timeout)
        while time.monotonic() < deadline and server.busy():
            time.sleep(0.01)
        server.in_loop(server.close_all, max(0.1, deadline - time.monotonic()))
        thread.join(max(0.1, deadline - time.monotonic()))
        server.task_dispatcher.shutdown(timeout=max(0.1, deadline - time.monotonic()))


def _in_flight(channel: HTTPChannel) -> bool:
    return bool(channel.requests or channel.total_outbufs_len or channel.close_when_flushed)


def _waiting_since(channel: _Channel) -> float:
    """When the connection's request began arriving, or else since when it has been idle."""
    return channel.request_started if channel.request_started is not None else channel.idle_since


def _overdue(channel: _Channel, now: float, limits: ClientLimits) -> bool:
    if channel.request_started is not None:
        return now - channel.request_started > limits.request_deadline_s
    return now - channel.idle_since > limits.idle_timeout_s


class _CappedBuffer(OverflowableBuffer):
    """Keeps the first ``keep`` bytes of a body and drops the rest as it arrives."""

    def __init__(self, overflow: int, keep: int) -> None:
        super().__init__(overflow)
        self.keep = keep

    def append(self, s: bytes) -> None:
        room = self.keep - self.__len__()
        if room > 0:
            super().append(s[:room])


class _Parser(HTTPRequestParser):
    """Bodies over the app's limit are read off the socket (so the sender sees the 413) but
    only ``MAX_BODY_BYTES`` + 1 of them is kept: enough for the app to tell "over"."""

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        if self.body_rcv is not None:
            self.body_rcv.buf = _CappedBuffer(self.adj.inbuf_overflow, MAX_BODY_BYTES + 1)

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if self.completed and self.chunked and self.body_rcv.__len__() > MAX_BODY_BYTES:
            # A chunked body declared no length: the app reads it to its end and refuses it
            # after checking who sent it, as it would without the cap.
            self.headers.pop("CONTENT_LENGTH", None)
        return int(consumed)


class _JsonErrorTask(ErrorTask):
    """waitress's own error answers, as JSON with the limit named."""

    def execute(self) -> None:
        error: Error = self.request.error
        body = json.dumps(_error_json(error, self.channel.adj)).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


def _error_json(error: Error, adj: Adjustments) -> dict[str, object]:
    if error.code == 413:
        return dict(TOO_LARGE)
    if error.code == 431:
        return {"error": "headers_too_large", "limit_bytes": adj.max_request_header_size}
    if error.code == 500:
        return {"error": "internal_error"}
    if error.code == 501:
        return {"error": "not_implemented", "message": error.body}
    return {"error": "bad_request", "message": error.body}


class _Channel(HTTPChannel):
    """A connection that remembers since when it has been idle or receiving a request."""

    parser_class = _Parser
    error_task_class = _JsonErrorTask

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle_since: float = self.creation_time
        #: a new connection must send its first request within the deadline too
        self.request_started: float | None = self.creation_time

    def received(self, data: bytes) -> bool:
        """Runs in the I/O thread while no request of this connection is in flight."""
        result = super().received(data)
        if self.requests:  # one or more complete: the next one's time starts with its byte
            self.request_started = time.time() if self.request is not None else None
        elif self.request is not None and self.request_started is None:
            self.request_started = time.time()
        return bool(result)

    def service(self) -> None:
        super().service()
        self.idle_since = time.time()


class _Server(TcpWSGIServer):
    """waitress's server with deadlines, per-peer caps and eviction."""

    channel_class = _Channel

    def __init__(self, *args: Any, limits: ClientLimits, **kwargs: Any) -> None:
        self.limits = limits
        super().__init__(*args, **kwargs)

    def serve(self) -> None:
        wasyncore.loop(timeout=self.limits.check_every_s, use_poll=True, map=self._map)

    def in_loop(self, thunk: Callable[[], None], timeout: float) -> None:
        """Run ``thunk`` in the I/O thread (the only one that may touch sockets) and wait."""
        done = threading.Event()

        def run() -> None:
            try:
                thunk()
            finally:
                done.set()

        self.trigger.pull_trigger(run)
        done.wait(timeout)

    def stop_accepting(self) -> None:
        wasyncore.dispatcher.close(self)  # the listening socket only; the trigger stays

    def close_all(self) -> None:
        wasyncore.close_all(self._map)  # the loop ends once its map is empty

    def busy(self) -> bool:
        """Whether a received request is still waiting, running, or being sent."""
        return any(_in_flight(c) for c in list(self.active_channels.values()))

    def maintenance(self, now: float) -> None:
        """Close connections whose request is overdue or that have been idle too long.

        Replaces waitress's idle check, which counts any byte as activity: a client sending a
        blank line now and then would be idle forever.
        """
        for channel in list(self.active_channels.values()):
            if not _in_flight(channel) and _overdue(channel, now, self.limits):
                channel.will_close = True

    def handle_accept(self) -> None:
        try:
            accepted = self.accept()
            if accepted is None:
                return
            conn, addr = accepted
            self.set_socket_options(conn)
        except OSError:
            log.warning("accept failed", exc_info=True)
            return
        peer = addr[0]
        if not (self._make_room(peer) and self._make_room(None)):
            conn.close()  # every connection of this peer (or all) has a request in flight
            return
        self.channel_class(self, conn, addr, self.adj, map=self._map)

    def _make_room(self, peer: str | None) -> bool:
        """Below the cap for ``peer`` (all peers if None), evicting the longest stalled if not."""
        limit = self.limits.max_connections if peer is None else self.limits.peer_connections
        held = [c for c in list(self.active_channels.values())
                if not c.will_close and (peer is None or c.addr[0] == peer)]
        if len(held) < limit:
            return True
        stalled = [c for c in held if not _in_flight(c)]
        if not stalled:
            return False
        # Closed by the I/O loop's next pass; it no longer counts from now on.
        min(stalled, key=_waiting_since).will_close = True
        return True
