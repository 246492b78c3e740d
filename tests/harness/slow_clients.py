"""Slow-client attack on a running server: sockets that send a request a line or a byte at a time.

Why: a server that reads requests in worker threads gives each such socket a thread for as long
as it keeps trickling, so a few dozen of them starve every route. The attack runs in one
thread that mostly sleeps (it shares the interpreter with the bot under test), sends each
socket its next piece every ``every_s`` seconds, and reconnects a socket as soon as the
server drops or answers it, as an attacker would.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

__all__ = ["SlowClients", "SlowStats", "open_stalled", "server_closed"]

#: half the sockets trickle header lines, half a declared body (to Slack's route: the worst)
HEADER_START = b"GET /healthz HTTP/1.1\r\nHost: bot\r\n"
BODY_START = (
    b"POST /slack/events HTTP/1.1\r\nHost: bot\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
)


@dataclass
class SlowStats:
    connects: int = 0
    connect_failures: int = 0
    dropped: int = 0  # closed or reset by the server while still trickling
    answered: int = 0  # the server wrote something back (an error answer) before closing
    sends: int = 0
    live_samples: list[int] = field(default_factory=list, repr=False)


@dataclass
class _Slow:
    sock: socket.socket
    trickles_body: bool
    next_at: float
    sent: int = 0


class SlowClients:
    """``count`` slow sockets to ``port``, kept up until ``stop()``; a context manager."""

    def __init__(self, port: int, count: int, every_s: float = 2.0, host: str = "127.0.0.1"):
        self.address = (host, port)
        self.count = count
        self.every_s = every_s
        self.stats = SlowStats()
        self.ready = threading.Event()  # every socket connected and has sent its first piece
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)
        self._sockets: list[_Slow | None] = [None] * count

    def __enter__(self) -> SlowClients:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for slow in self._sockets:
            if slow is not None:
                slow.sock.close()

    def _connect(self, index: int, now: float) -> _Slow | None:
        try:
            sock = socket.create_connection(self.address, timeout=1)
        except OSError:
            self.stats.connect_failures += 1
            return None
        sock.setblocking(False)
        self.stats.connects += 1
        trickles_body = index % 2 == 1
        start = BODY_START if trickles_body else HEADER_START
        slow = _Slow(sock, trickles_body, now + self.every_s * (index / self.count))
        if not self._send(slow, start):
            return None
        return slow

    def _send(self, slow: _Slow, data: bytes) -> bool:
        try:
            slow.sock.send(data)
        except OSError:  # reset or closed by the server
            self.stats.dropped += 1
            slow.sock.close()
            return False
        self.stats.sends += 1
        slow.sent += 1
        return True

    def _still_open(self, slow: _Slow) -> bool:
        try:
            data = slow.sock.recv(4096)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if data:
            self.stats.answered += 1
        else:
            self.stats.dropped += 1
        slow.sock.close()
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for index, slow in enumerate(self._sockets):
                if slow is not None and not self._still_open(slow):
                    slow = None
                if slow is None:
                    slow = self._connect(index, now)
                elif now >= slow.next_at:
                    piece = b"a" if slow.trickles_body else b"X-Slow-%d: 1\r\n" % slow.sent
                    slow.next_at = now + self.every_s
                    if not self._send(slow, piece):
                        slow = None
                self._sockets[index] = slow
            live = sum(1 for slow in self._sockets if slow is not None)
            self.stats.live_samples.append(live)
            if live == self.count:
                self.ready.set()
            self._stop.wait(0.05)


def open_stalled(port: int, start: bytes = HEADER_START) -> socket.socket:
    """A socket that sent the start of a request and then nothing more."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(start)
    return sock


def server_closed(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (reads without waiting)."""
    sock.setblocking(False)
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)
