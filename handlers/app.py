"""The composition root of the Slack side: ``create_app`` builds a Bolt app, no globals."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltResponse
from slack_bolt.authorization import AuthorizeResult

from bot.services import Services
from handlers import (
    claim,
    decide,
    details,
    errors,
    feedback,
    home,
    mql_modal,
    reassign,
    snooze,
    status,
    touch,
)

LISTENER_THREADS = 16
log = logging.getLogger(__name__)
bolt_log = logging.getLogger("sla_bot.bolt")


class _KnownTokenNotice(logging.Filter):
    """Bolt reads ``SLACK_BOT_TOKEN`` itself and warns that our ``authorize`` supersedes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be ignored" not in record.getMessage() and \
            "will be unused" not in record.getMessage()


_KNOWN_NOTICE = _KnownTokenNotice()
if _KNOWN_NOTICE not in bolt_log.filters:
    bolt_log.addFilter(_KNOWN_NOTICE)


def create_app(services: Services, *, listener_executor: ThreadPoolExecutor | None = None) -> App:
    """Build the Bolt app for ``services``; every request's signature is verified.

    The listener pool is sized on purpose (Bolt's default is 5) and owned by the caller so a
    graceful stop can wait for listeners still running after their ``ack()``.
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

    def inject_services(context: BoltContext, next: Callable[[], Any]) -> Any:
        context["services"] = services
        return next()

    app.use(inject_services)
    app.use(ack_at_once)
    app.error(errors.handle_error)
    for module in (status, mql_modal, claim, touch, decide, reassign, details, feedback, home,
                   snooze):
        module.register(app)
    return app


#: request types acknowledged before their listener runs (they never answer in the ack)
EARLY_ACK_TYPES = frozenset({"block_actions", "shortcut", "message_action", "event_callback"})


def acks_at_once(body: dict[str, Any]) -> bool:
    """Clicks, shortcuts, slash commands and Events API deliveries: nothing to say in the ack."""
    return body.get("type") in EARLY_ACK_TYPES or "command" in body


def ack_at_once(body: dict[str, Any], ack: Ack, next: Callable[[], Any]) -> BoltResponse | None:
    """Acknowledge clicks, shortcuts, slash commands and events in the request thread.

    Bolt runs listeners on a thread pool and answers Slack when a listener calls ``ack()``; when
    every listener thread is busy (a slow database, a slow Slack), the answer would wait for a
    free thread and Slack would show the person an error after 3 s. None of these requests
    answers with content in its ack, so it is given here; the listener's own ``ack()`` is then
    a no-op. Modal submissions are not acked here: they may answer ``response_action``.

    The ack is also the answer when no listener matches: Bolt would say 404 after acking, and
    Slack retries an event it was refused (then disables the subscription if that goes on), for
    instance every channel message the bot sees but does not record.
    """
    if not acks_at_once(body):
        return next()
    ack()
    next()
    return ack.response
