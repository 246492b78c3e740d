"""The composition root of the Slack side: ``create_app`` builds a Bolt app, no globals."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltContext

from bot.services import Services
from handlers import claim, errors, mql_modal, status, touch

LISTENER_THREADS = 16
log = logging.getLogger(__name__)


def create_app(services: Services, *, listener_executor: ThreadPoolExecutor | None = None) -> App:
    """Build the Bolt app for ``services``; every request's signature is verified.

    The listener pool is sized on purpose (Bolt's default is 5) and owned by the caller so a
    graceful stop can wait for listeners still running after their ``ack()``.
    """
    settings = services.settings
    app = App(
        signing_secret=settings.slack_signing_secret,
        client=services.slack,
        token_verification_enabled=False,
        request_verification_enabled=True,
        listener_executor=listener_executor or ThreadPoolExecutor(LISTENER_THREADS),
        logger=logging.getLogger("sla_bot.bolt"),
    )

    def inject_services(context: BoltContext, next: Callable[[], Any]) -> Any:
        context["services"] = services
        return next()

    app.use(inject_services)
    app.error(errors.handle_error)
    for module in (status, mql_modal, claim, touch):
        module.register(app)
    return app
