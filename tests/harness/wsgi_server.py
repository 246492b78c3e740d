"""Serve a WSGI app (e.g. Bolt's ``SlackRequestHandler``) on 127.0.0.1 for real-HTTP tests.

Why: requests must cross a real socket so the app's HTTP adapter, header handling and body
reading are exercised exactly as in production; stdlib only, ephemeral port, daemon threads.
"""

from __future__ import annotations

from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import WSGIApplication

from bot.sandbox.loopback import HOST, LoopbackServer

__all__ = ["WsgiServer"]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """Threaded so a listener blocked on the fake Slack cannot stall other requests."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep pytest output clean."""


class WsgiServer(LoopbackServer):
    """Runs ``app`` on 127.0.0.1:<free port> in a daemon thread; also a context manager."""

    def __init__(self, app: WSGIApplication) -> None:
        super().__init__()
        self.app = app

    def _bind(self) -> _ThreadingWSGIServer:
        server = make_server(
            HOST, 0, self.app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        assert isinstance(server, _ThreadingWSGIServer)
        return server

    def url(self, path: str = "/") -> str:
        return self._origin() + path
