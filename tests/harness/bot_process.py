"""``sla-bot run`` as a child process: the real entry point, for the tests that need the whole
process (start-up, migrations, signals, several replicas) and for the benchmarks, whose load
generator must not share the bot's interpreter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from bot.sandbox.loopback import HOST
from tests.harness import http_get
from tests.harness.ports import free_port

#: the child talks only to loopback and the given database; slack_sdk would send even
#: 127.0.0.1 through these (it ignores NO_PROXY)
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


def bot_environment(slack_api_url: str, database_url: str, policy: Path, *,
                    bot_token: str, signing_secret: str, **variables: str) -> dict[str, str]:
    """This process's environment without its Slack, database and proxy settings, plus the
    bot's: a token, a signing secret, the fake Slack, the database, the policy file and
    ``variables`` (``LOG_LEVEL``, ``INTAKE_TOKEN``, …). ``BotProcess`` adds host and port."""
    inherited = {name: value for name, value in os.environ.items()
                 if not name.startswith(("SLACK_", "DATABASE_")) and name not in PROXY_VARIABLES}
    return {
        **inherited,
        "SLACK_BOT_TOKEN": bot_token,
        "SLACK_SIGNING_SECRET": signing_secret,
        "SLACK_API_URL": slack_api_url,
        "DATABASE_URL": database_url,
        "SLA_CONFIG": str(policy),
        **variables,
    }


class BotProcess:
    """``sla-bot run`` (``--migrate`` if asked) on a free port of 127.0.0.1, started at once.

    Its output goes where ``output`` says (inherited by default; a file, or
    ``subprocess.PIPE`` to read it from ``stop()``), its error stream with it.
    """

    def __init__(self, env: Mapping[str, str], *, cwd: Path, migrate: bool = False,
                 output: IO[str] | int | None = None) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        command = [sys.executable, "-m", "handlers.cli", "run", *(["--migrate"] if migrate else [])]
        self.process = subprocess.Popen(
            command, cwd=cwd, env={**env, "HOST": HOST, "PORT": str(self.port)},
            stdout=output, stderr=None if output is None else subprocess.STDOUT, text=True,
        )

    def serving(self) -> bool:
        """Whether it is running and ``/healthz`` answers 200 now."""
        if self.process.poll() is not None:
            return False
        try:
            return http_get(f"{self.url}/healthz", timeout=1).status == 200
        except OSError:
            return False

    def wait_serving(self, timeout: float) -> bool:
        """Whether it came to serve within ``timeout`` seconds (False at once if it exited)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.serving():
                return True
            time.sleep(0.1)
        return False

    def stop(self, timeout: float = 30) -> str:
        """SIGTERM, then a kill after ``timeout`` seconds (``stop_process``)."""
        return stop_process(self.process, timeout)


#: one pass of the real outbox worker, built as ``sla-bot`` builds it, on the policy file named
#: by its first argument: for the tests that kill a worker mid-send
ONE_WORKER_PASS = """
import sys
from bot.clock import SystemClock
from bot.outbox.worker import OutboxWorker
from bot.policy import load_policy
from bot.services import build_services
from bot.settings import load_settings

services = build_services(load_settings(dotenv=False), load_policy(sys.argv[1]), SystemClock())
OutboxWorker(services).run_once()
"""


def worker_process(env: Mapping[str, str], policy: Path, *, cwd: Path) -> subprocess.Popen[str]:
    """One outbox worker pass (``ONE_WORKER_PASS``) in a child process, started at once, so
    that a test can kill it (SIGKILL) between its send and its commit."""
    return subprocess.Popen([sys.executable, "-c", ONE_WORKER_PASS, str(policy)],
                            cwd=cwd, env=env, text=True)


def stop_process(process: subprocess.Popen[str], timeout: float) -> str:
    """SIGTERM, and a kill if it has not exited within ``timeout`` seconds: what it wrote,
    when its output is piped ('' otherwise)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        written, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        written, _ = process.communicate()
    return written or ""
