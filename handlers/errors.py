"""One error handler for every listener.

Known domain errors become a friendly ephemeral message; anything else is logged with an id
the user can quote to an admin. Payloads and the errors' messages are not logged: they carry
personal data.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slack_bolt import BoltResponse

from bot.errors import DomainError
from bot.i18n import t
from bot.services import Services
from handlers.logging_setup import without_text

log = logging.getLogger("sla_bot.errors")


def handle_error(
    error: Exception, body: dict[str, Any], context: dict[str, Any], logger: logging.Logger
) -> BoltResponse | None:
    """Log ``error`` with an id and tell the person, unless the request was never verified.

    ``services`` is put in the context by the middleware that runs after Bolt's signature
    check (``handlers.app``): without it the error came from that check or before, the body
    is a stranger's, and its ``response_url`` or user id must not be acted on.
    """
    services: Services | None = context.get("services")
    if services is None:
        log.warning("refused a request that failed before it was verified (%s)",
                    type(error).__name__)
        return BoltResponse(status=401, body={"error": "unauthorized"})
    language = services.policy.language if services else "en"
    respond = context.get("respond")
    if isinstance(error, DomainError):
        text = t(language, error.message_key, **error.params)
        log.info("domain error %s: %s", type(error).__name__, error)
    else:
        error_id = uuid.uuid4().hex[:8]
        log.error("unhandled error %s (type=%s): %s", error_id,
                  body.get("type") or body.get("command"), without_text(error))
        text = t(language, "error.generic", error_id=error_id)
    try:
        if respond is not None and body.get("response_url"):
            respond(text=text, response_type="ephemeral", replace_original=False)
        elif services is not None and _user_id(body):
            _tell_by_dm(services, body, text)
    except Exception:  # the error message itself must never raise
        log.warning("could not tell the user about an error", exc_info=True)
    return None


def _user_id(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    if isinstance(user, dict):
        return str(user.get("id") or "") or None
    return str(body.get("user_id") or "") or None


def _tell_by_dm(services: Services, body: dict[str, Any], text: str) -> None:
    """A click on the App Home (or in a modal) has no ``response_url``: answer by DM instead,
    through the outbox, keyed by the click so a retried request is answered once."""
    from bot.lead_messages import send_dm

    user_id = _user_id(body)
    assert user_id is not None
    click = str(body.get("trigger_id") or (body.get("container") or {}).get("view_id") or "")
    key = f"refusal:{user_id}:{click or uuid.uuid4().hex}"
    with services.unit_of_work() as uow:
        send_dm(services, uow, None, key, user_id, text)
        uow.commit()
    services.outbox_ready.set()


@contextmanager
def reported(body: dict[str, Any], context: dict[str, Any]) -> Iterator[None]:
    """Hand an error raised *after* ``ack()`` to ``handle_error`` inside the listener.

    Letting it escape to Bolt instead races Bolt's own bookkeeping: an asynchronous listener
    that fails within a few milliseconds of acking can have its ack forgotten, so the HTTP
    request waits out the 3 s ack timeout and is answered 404 (slack_bolt 1.x
    ``listener/thread_runner.py`` resets ``ack.response`` to None after a failure).
    """
    try:
        yield
    except Exception as error:
        handle_error(error, body, context, log)
