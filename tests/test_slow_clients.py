"""Slow clients: sockets that trickle a request cannot starve the bot.

Dozens of unauthenticated sockets sending a header line (or a body byte) every 2 s held every
server thread of a server that reads requests in its worker threads: ``/healthz`` timed out
and signed clicks took 6–10 s, beyond the 3 s Slack waits. The real bot over real sockets.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.ids import Action
from bot.services import Services
from handlers.http_server import ClientLimits, HttpServer
from handlers.server import BotServer
from handlers.web import DRAIN_LIMIT_BYTES
from tests.harness import http_get, http_post, slack_signature_headers
from tests.harness.bot_env import Env
from tests.harness.people import CHANNEL, REP1
from tests.harness.settings import SIGNING_SECRET
from tests.harness.slow_clients import (
    BODY_START,
    HEADER_START,
    SlowClients,
    open_stalled,
    server_closed,
)
from tests.harness.waiting import eventually

SLOW_SOCKETS = 70
ATTACK_S = 20.0
PROBE_EVERY_S = 2.5
HEALTH_WITHIN_S = 2.0
ACK_WITHIN_S = 3.0


def timed_health(env: Env) -> tuple[float, int | None]:
    started = time.monotonic()
    try:
        status: int | None = http_get(f"{env.bot.url}/healthz", timeout=6).status
    except OSError:
        status = None
    return time.monotonic() - started, status


def timed_claim(env: Env, lead_id: int, ts: str) -> tuple[float, int | None]:
    """A signed Claim press, timed from sending to the ack."""
    body, content_type = env.slack.build_block_action(
        Action.CLAIM.value, str(lead_id), user_id=REP1, channel_id=CHANNEL, message_ts=ts,
        response_url=env.fake.response_url(f"claim-{lead_id}", channel=CHANNEL, message_ts=ts,
                                           user=REP1),
    )
    headers = slack_signature_headers(body, SIGNING_SECRET, content_type=content_type)
    started = time.monotonic()
    try:
        status: int | None = http_post(env.slack.events_url, body, headers, timeout=6).status
    except OSError:
        status = None
    return time.monotonic() - started, status


def test_seventy_slow_sockets_leave_health_and_slack_answered_in_time(env: Env) -> None:
    probes = int(ATTACK_S / PROBE_EVERY_S)
    leads = [env.posted(f"slow-{n}") for n in range(probes)]
    health: list[tuple[float, int | None]] = []
    claims: list[tuple[float, int | None]] = []

    with SlowClients(env.bot.port, SLOW_SOCKETS) as attack:
        assert attack.ready.wait(10), "the slow sockets could not all connect"
        began = time.monotonic()
        for n, (lead_id, ts) in enumerate(leads):
            # Probes at a steady pace through the whole attack (pacing, not waiting for effects).
            time.sleep(max(0.0, began + n * PROBE_EVERY_S - time.monotonic()))
            health.append(timed_health(env))
            claims.append(timed_claim(env, lead_id, ts))
        time.sleep(max(0.0, began + ATTACK_S - time.monotonic()))
        live_at_end = attack.stats.live_samples[-1]

    shown = (f"health {[(round(s, 2), c) for s, c in health]}, "
             f"claims {[(round(s, 2), c) for s, c in claims]}, attack {attack.stats}")
    assert all(status == 200 and s <= HEALTH_WITHIN_S for s, status in health), shown
    assert all(status == 200 and s <= ACK_WITHIN_S for s, status in claims), shown
    # The attack was real: its sockets stayed up (reconnected when dropped) the whole time.
    assert attack.stats.connects >= SLOW_SOCKETS and live_at_end == SLOW_SOCKETS, shown
    assert min(attack.stats.live_samples[-int(ATTACK_S * 10):]) >= SLOW_SOCKETS - 10, shown
    # And the presses did their work behind the acks.
    first_lead = leads[0][0]
    eventually(lambda: env.lead(first_lead).owner_id == REP1)


# ------------------------------------------------------------- the bounds, one by one

#: short enough to keep these tests quick, long enough to tell "dropped" from "never dropped"
SHORT = ClientLimits(request_deadline_s=1.0, idle_timeout_s=1.5, check_every_s=0.05)
#: a small cap, and times long enough that only the cap closes anything during the test
CAPPED = ClientLimits(peer_connections=8, check_every_s=0.05)


def bot_with(services: Services, limits: ClientLimits) -> Iterator[BotServer]:
    server = BotServer(services, host="127.0.0.1", port=0, start_scheduler=False,
                       start_worker=False, limits=limits).start()
    yield server
    server.stop()


@pytest.fixture
def short_bot(services: Services) -> Iterator[BotServer]:
    yield from bot_with(services, SHORT)


@pytest.fixture
def capped_bot(services: Services) -> Iterator[BotServer]:
    yield from bot_with(services, CAPPED)


def seconds_until_closed(sock: socket.socket, trickle: bytes, limit_s: float) -> float | None:
    """Keep sending ``trickle`` every 0.2 s until the server closes ``sock``; None if it never
    does within ``limit_s``."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if server_closed(sock):
            return time.monotonic() - started
        if trickle:
            try:
                sock.sendall(trickle)
            except OSError:
                return time.monotonic() - started
        time.sleep(0.2)
    return None


@pytest.mark.parametrize(
    ("start_bytes", "trickle"),
    [(HEADER_START, b"X-Slow: 1\r\n"), (BODY_START, b"a"), (b"", b"")],
    ids=["header lines", "body bytes", "nothing after connecting"],
)
def test_a_request_not_complete_within_the_deadline_is_dropped(
    short_bot: BotServer, start_bytes: bytes, trickle: bytes
) -> None:
    sock = open_stalled(short_bot.port, start_bytes)
    try:
        closed_after = seconds_until_closed(sock, trickle, limit_s=5)
    finally:
        sock.close()
    assert closed_after is not None, "the server kept a trickling request open"
    assert SHORT.request_deadline_s - 0.3 <= closed_after <= SHORT.request_deadline_s + 1.5


def test_a_kept_alive_connection_stays_while_used_and_is_closed_when_idle(
    short_bot: BotServer,
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", short_bot.port, timeout=5)
    try:
        # Requests spread over more than the request deadline keep the same connection.
        for _ in range(4):
            connection.request("GET", "/healthz")
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200
            time.sleep(0.4)
        sock = connection.sock
        assert sock is not None
        idle_for = seconds_until_closed(sock, b"", limit_s=5)
    finally:
        connection.close()
    assert idle_for is not None, "an idle kept-alive connection was never closed"
    assert SHORT.idle_timeout_s - 0.4 - 0.3 <= idle_for <= SHORT.idle_timeout_s + 1.0


def test_blank_lines_do_not_keep_an_idle_connection_open(short_bot: BotServer) -> None:
    sock = open_stalled(short_bot.port, b"\r\n")
    try:
        closed_after = seconds_until_closed(sock, b"\r\n", limit_s=5)
    finally:
        sock.close()
    assert closed_after is not None


def test_a_peer_over_its_cap_loses_its_longest_stalled_connection_not_the_new_one(
    capped_bot: BotServer,
) -> None:
    stalled = []
    try:
        for _ in range(CAPPED.peer_connections):
            stalled.append(open_stalled(capped_bot.port))
            time.sleep(0.02)  # so "the longest stalled" is well defined
        answer = http_get(f"{capped_bot.url}/healthz", timeout=2)
        assert answer.status == 200
        eventually(lambda: server_closed(stalled[0]), timeout=2)
        assert not any(server_closed(sock) for sock in stalled[1:])

        # However many more the peer opens, it never holds more than its cap.
        stalled += [open_stalled(capped_bot.port) for _ in range(2 * CAPPED.peer_connections)]
        eventually(lambda: sum(not server_closed(s) for s in stalled) <= CAPPED.peer_connections,
                   timeout=2)
        assert all(not server_closed(sock) for sock in stalled[-CAPPED.peer_connections:])
    finally:
        for sock in stalled:
            sock.close()


def raw_answer(port: int, request: bytes) -> tuple[bytes, object]:
    """Send ``request`` as is; the server's answer: its head and its JSON body."""
    sock = open_stalled(port, request)
    try:
        reply = sock.makefile("rb").read()
    finally:
        sock.close()
    head, _, body = reply.partition(b"\r\n\r\n")
    return head, json.loads(body)


def test_the_servers_own_refusals_are_json(short_bot: BotServer) -> None:
    head, body = raw_answer(short_bot.port, HEADER_START + b"Content-Length: 1x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"Content-Type: application/json" in head
    assert body == {"error": "bad_request", "message": "Content-Length is invalid"}
    assert b"Server: sla-bot" in head.split(b"\r\n"), "the product only, no version"

    huge = (b"POST /webhooks/mql HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (DRAIN_LIMIT_BYTES + 1))
    head, body = raw_answer(short_bot.port, huge)
    assert head.startswith(b"HTTP/1.1 413 ")
    assert body == {"error": "body_too_large", "limit_bytes": 1024 * 1024}


def test_a_refused_body_leaves_the_connection_usable(short_bot: BotServer) -> None:
    """The body over the limit is read off the socket, so the same connection goes on."""
    connection = http.client.HTTPConnection("127.0.0.1", short_bot.port, timeout=5)
    try:
        connection.request("POST", "/webhooks/mql", body=b"x" * (2 * 1024 * 1024),
                           headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        assert answer.status == 413
        assert json.loads(answer.read())["error"] == "body_too_large"
        connection.request("GET", "/healthz")
        answer = connection.getresponse()
        assert answer.status == 200
        answer.read()
    finally:
        connection.close()


def test_stop_lets_a_request_in_flight_finish_and_refuses_new_ones() -> None:
    started, release = threading.Event(), threading.Event()

    def slow_app(_environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        started.set()
        release.wait(5)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [b"done"]

    server = HttpServer(slow_app, "127.0.0.1", 0, threads=2, backlog=8)
    server.start()
    port = server.port
    answers: list[int] = []
    client = threading.Thread(
        target=lambda: answers.append(http_get(f"http://127.0.0.1:{port}/", timeout=5).status))
    client.start()
    assert started.wait(5)
    stopping = threading.Thread(target=server.stop, args=(5,))
    stopping.start()
    eventually(lambda: not port_open(port), timeout=2)  # no new connections meanwhile
    assert stopping.is_alive(), "stop() returned with a request still in flight"
    release.set()
    stopping.join(5)
    client.join(5)
    assert answers == [200]
    assert not stopping.is_alive()


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True
