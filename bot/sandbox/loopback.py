"""An HTTP server on 127.0.0.1, on a free port, served by a daemon thread.

Why one base: the sandbox's stand-ins (the fake Slack here, the test suite's fake HubSpot, WSGI
server and webhook receiver) all need the same life cycle — bind an ephemeral port so parallel
runs never collide, serve in the background, stop promptly — and each states only what it
serves (``_bind``) and how its address reads (``url``).
"""

from __future__ import annotations

import threading
from socketserver import TCPServer
from typing import Self

__all__ = ["HOST", "LoopbackServer"]

HOST = "127.0.0.1"
#: how often the serving thread checks for ``stop()``: a stop returns within this
POLL_INTERVAL_S = 0.02
#: how long ``stop()`` waits for the serving thread
JOIN_TIMEOUT_S = 5


class LoopbackServer:
    """``start()`` binds and serves until ``stop()``; both may be called again. Also a context
    manager. Subclasses build their server in ``_bind`` (on ``(HOST, 0)``)."""

    def __init__(self) -> None:
        self._server: TCPServer | None = None
        self._thread: threading.Thread | None = None

    def _bind(self) -> TCPServer:
        """A new server bound to ``(HOST, 0)``, not yet serving."""
        raise NotImplementedError

    def start(self) -> Self:
        if self._server is None:
            self._server = self._bind()
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": POLL_INTERVAL_S},
                name=type(self).__name__,
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=JOIN_TIMEOUT_S)
        self._server = None
        self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return int(self._server.server_address[1])

    def _origin(self) -> str:
        """``http://127.0.0.1:<port>``, for the subclass's ``url``."""
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
