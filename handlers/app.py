"""The composition root of the Slack side: ``create_app`` builds a Bolt app, no globals."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from slack_bolt import Ack, App, BoltContext, BoltResponse, Respond
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.respond.internals import _build_message
from slack_sdk.webhook import WebhookResponse

from bot.services import Services
from bot.submissions import already_handled
from bot.user_agent import webhook_client
from handlers import (
    agreement,
    claim,
    decide,
    details,
    errors,
    feedback,
    home,
    mql_modal,
    proposals,
    reassign,
    snooze,
    status,
    touch,
)
from handlers.payloads import submission_key

#: enough to overlap listeners' waits on Slack and the database; each more one that runs
#: competes for the interpreter lock with the answers to Slack and with the others' open
#: transactions (on PostgreSQL, 16 gave a p99 ack of 88-430 ms under 20 concurrent presses,
#: 8 gave 65-117 ms, with no fewer claims carried out)
LISTENER_THREADS = 8
#: how long a listener whose request was acknowledged at once waits for the answers in flight
ACK_FIRST_MAX_WAIT_S = 0.1
#: and how long no answer must have been in flight: requests of one burst reach the server's
#: threads a little apart, and the work should not start in the gaps between them
ACK_FIRST_QUIET_S = 0.01
log = logging.getLogger(__name__)
_P = ParamSpec("_P")
_T = TypeVar("_T")
bolt_log = logging.getLogger("sla_bot.bolt")


class _KnownTokenNotice(logging.Filter):
    """Bolt reads ``SLACK_BOT_TOKEN`` itself and warns that our ``authorize`` supersedes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be ignored" not in record.getMessage() and \
            "will be unused" not in record.getMessage()


_KNOWN_NOTICE = _KnownTokenNotice()
if _KNOWN_NOTICE not in bolt_log.filters:
    bolt_log.addFilter(_KNOWN_NOTICE)


def create_app(
    services: Services,
    *,
    listener_executor: ThreadPoolExecutor | None = None,
    ack_first: AckFirst | None = None,
) -> App:
    """Build the Bolt app for ``services``; every request's signature is verified.

    The listener pool is sized on purpose (Bolt's default is 5) and owned by the caller so a
    graceful stop can wait for listeners still running after their ``ack()``. With
    ``ack_first`` (the pool's gate, see ``AckFirstExecutor``) early acks mark their listeners.
    """
    settings = services.settings

    def authorize(enterprise_id: str | None, team_id: str | None, **_: Any) -> AuthorizeResult:
        """One workspace, one bot token: no ``auth.test`` round trip on a request's path.

        Bolt's default asks Slack on the first request, so a slow or failing Slack API would
        delay or fail acknowledging a click. Our own messages are recognised by ``bot_id``
        where it matters (thread feedback), not by Bolt's self-event filter.
        """
        return AuthorizeResult(
            enterprise_id=enterprise_id, team_id=team_id, bot_token=settings.slack_bot_token
        )

    app = App(
        signing_secret=settings.slack_signing_secret,
        client=services.slack,
        authorize=authorize,
        request_verification_enabled=True,
        listener_executor=listener_executor or ThreadPoolExecutor(LISTENER_THREADS),
        logger=bolt_log,
    )

    def inject_services_and_ack(
        context: BoltContext, body: dict[str, Any], ack: Ack, next: Callable[[], Any]
    ) -> BoltResponse | None:
        """One middleware, not two: Bolt builds each one's arguments on every request.

        A modal submission's key is put in the context for the services it submits to; a
        submission acted on before (a replayed request) is answered as the first one was, an
        empty 200 that closes the modal, and goes no further (``bot.submissions``).
        """
        context["services"] = services
        context["respond"] = ProductRespond(
            response_url=context.response_url, proxy=context.client.proxy, ssl=context.client.ssl
        )
        if body.get("type") == "view_submission":
            key = context["submission_key"] = submission_key(body.get("view") or {})
            if key is not None and already_handled(services.uow, key):
                log.warning("a modal submission already acted on came again (a replay?): "
                            "answered, nothing done")
                ack()
                return ack.response
        return ack_at_once(body, ack, next, ack_first)

    app.use(inject_services_and_ack)
    app.error(errors.handle_error)
    # Bolt tries listeners in registration order, building each tried matcher's arguments: the
    # clicks that come in bursts (Claim) first. No two listeners match the same request.
    for module in (claim, touch, decide, reassign, details, snooze, status, mql_modal, feedback,
                   home, proposals, agreement):
        module.register(app)
    return app


class ProductRespond(Respond):
    """Bolt's ``respond()``, its response-URL client sending the product's ``User-Agent``.

    Bolt builds a plain ``WebhookClient`` per call, whose header names Python and the OS.
    """

    def __call__(self, text: str | dict[str, Any] = "", **fields: Any) -> WebhookResponse:
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        if isinstance(text, dict):
            message = _build_message(**text)
        else:
            message = _build_message(text=text, **fields)
        client = webhook_client(url=self.response_url, proxy=self.proxy, ssl=self.ssl)
        return client.send_dict(message)


class AckFirst:
    """Start the work behind an early ack once no Slack request is being answered.

    The process has one interpreter lock: a listener doing a claim's work while people press
    makes every answer to Slack wait its turn for it, and those answers have a deadline (3 s)
    the work does not. So a listener whose request was acknowledged at once (``ack_at_once``)
    starts when no answer has been in flight for ``quiet_s``, or after ``max_wait_s`` at most,
    so that a steady stream of requests delays the work without starving it. Listeners that
    answer in their ``ack()`` (modal submissions, options) never wait: their own request is one
    of those in flight. The outbox worker's passes wait here too, for the listeners as well
    (``AckFirstWorker``). These are real elapsed times, like the server's timeouts, not the
    business clock.
    """

    def __init__(
        self, max_wait_s: float = ACK_FIRST_MAX_WAIT_S, quiet_s: float = ACK_FIRST_QUIET_S
    ) -> None:
        self.max_wait_s = max_wait_s
        self.quiet_s = quiet_s
        self._answering = 0
        self._answered_at = 0.0
        self._waiting = 0
        self._passes_waiting = 0
        self._listening = 0
        self._changed = threading.Condition()
        self._acked_here = threading.local()

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Around answering one Slack request (the HTTP server's part)."""
        with self._changed:
            self._answering += 1
        try:
            yield
        finally:
            with self._changed:
                self._answering -= 1
                self._answered_at = time.monotonic()
                if not self._answering:  # waiters can go on only now: waking them sooner
                    self._changed.notify_all()  # would take the interpreter from the answers

    def mark(self, acked_early: bool) -> None:
        """Say whether the request this thread is dispatching was acknowledged at once.

        Bolt runs its global middleware, then submits the listener from the same thread.
        """
        self._acked_here.on = acked_early

    def defers(self) -> bool:
        """True when the listener being submitted from this thread should wait its turn."""
        return bool(getattr(self._acked_here, "on", False))

    @property
    def in_flight(self) -> int:
        """Slack requests being answered right now."""
        with self._changed:
            return self._answering

    @property
    def waiting(self) -> int:
        """Listeners holding back right now."""
        with self._changed:
            return self._waiting

    def submitted(self) -> None:
        """A listener was handed to the pool (the pool's part; ``finished`` when it ends)."""
        with self._changed:
            self._listening += 1

    def finished(self) -> None:
        """A listener ended (or was never run)."""
        with self._changed:
            self._listening -= 1
            if not self._listening:
                self._changed.notify_all()

    @property
    def listeners(self) -> int:
        """Listeners submitted and not finished, waiting or running."""
        with self._changed:
            return self._listening

    @property
    def passes_waiting(self) -> int:
        """Outbox passes holding back right now (``wait_turn(after_listeners=True)``)."""
        with self._changed:
            return self._passes_waiting

    def wait_turn(self, *, after_listeners: bool = False) -> None:
        """Return once no answer has been in flight for ``quiet_s``, or after ``max_wait_s``.

        ``after_listeners``: and no listener is waiting or running either (the outbox worker,
        so that one pass sends what a whole burst of clicks queued, see ``AckFirstWorker``).
        """
        deadline = time.monotonic() + self.max_wait_s
        with self._changed:
            if after_listeners:
                self._passes_waiting += 1
            else:
                self._waiting += 1
            try:
                while (now := time.monotonic()) < deadline:
                    if self._answering or (after_listeners and self._listening):
                        self._changed.wait(deadline - now)
                        continue
                    quiet_for = now - self._answered_at
                    if quiet_for >= self.quiet_s:
                        return
                    self._changed.wait(min(self.quiet_s - quiet_for, deadline - now))
            finally:
                if after_listeners:
                    self._passes_waiting -= 1
                else:
                    self._waiting -= 1


class AckFirstExecutor(ThreadPoolExecutor):
    """The listener pool: work behind an early ack waits its turn (``AckFirst``) in its thread."""

    def __init__(self, gate: AckFirst, max_workers: int, thread_name_prefix: str = "") -> None:
        super().__init__(max_workers, thread_name_prefix=thread_name_prefix)
        self.gate = gate

    def submit(  # type: ignore[override]
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> Future[_T]:
        gate = self.gate
        defers = gate.defers()

        def listener() -> _T:
            try:
                if defers:
                    gate.wait_turn()
                return fn(*args, **kwargs)
            finally:
                gate.finished()

        gate.submitted()  # counted from now: the outbox worker waits for queued work too
        try:
            return super().submit(listener)
        except BaseException:
            gate.finished()
            raise


#: request types acknowledged before their listener runs (they never answer in the ack)
EARLY_ACK_TYPES = frozenset({"block_actions", "shortcut", "message_action", "event_callback"})


def acks_at_once(body: dict[str, Any]) -> bool:
    """Clicks, shortcuts, slash commands and Events API deliveries: nothing to say in the ack."""
    return body.get("type") in EARLY_ACK_TYPES or "command" in body


def ack_at_once(
    body: dict[str, Any], ack: Ack, next: Callable[[], Any], gate: AckFirst | None = None
) -> BoltResponse | None:
    """Acknowledge clicks, shortcuts, slash commands and events in the request thread.

    Bolt runs listeners on a thread pool and answers Slack when a listener calls ``ack()``; when
    every listener thread is busy (a slow database, a slow Slack), the answer would wait for a
    free thread and Slack would show the person an error after 3 s. None of these requests
    answers with content in its ack, so it is given here; the listener's own ``ack()`` is then
    a no-op. Modal submissions are not acked here: they may answer ``response_action``.

    The ack is also the answer when no listener matches: Bolt would say 404 after acking, and
    Slack retries an event it was refused (then disables the subscription if that goes on), for
    instance every channel message the bot sees but does not record.

    With ``gate`` the listener of an early-acked request waits for the answers in flight
    (``AckFirst``); any other listener must not, since its own request waits for its ``ack()``.
    """
    early = acks_at_once(body)
    if gate is not None:
        gate.mark(early)  # its listener, submitted next from this thread, waits its turn
    if not early:
        return next()
    ack()
    next()
    return ack.response
