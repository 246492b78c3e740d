"""Serve a WSGI app (e.g. Bolt's ``SlackRequestHandler``) on 127.0.0.1 for real-HTTP tests.

Why: requests must cross a real socket so the app's HTTP adapter, header handling and body
reading are exercised exactly as in production; stdlib only, ephemeral port, daemon threads.
"""

from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import WSGIApplication

__all__ = ["WsgiServer"]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """Threaded so a listener blocked on the fake Slack cannot stall other requests."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep pytest output clean."""


class WsgiServer:
    """Runs ``app`` on 127.0.0.1:<free port> in a daemon thread; also a context manager."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self._server: _ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> WsgiServer:
        if self._server is None:
            server = make_server(
                "127.0.0.1",
                0,
                self.app,
                server_class=_ThreadingWSGIServer,
                handler_class=_QuietHandler,
            )
            assert isinstance(server, _ThreadingWSGIServer)
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name="WsgiServer",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def url(self, path: str = "/") -> str:
        if self._server is None:
            raise RuntimeError("WsgiServer is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def __enter__(self) -> WsgiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
