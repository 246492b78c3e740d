"""``POST /webhooks/mql``: the intake webhook of SPEC section 3.

Thin on purpose: authorize, read, parse, hand the lead to ``bot.intake.accept``, render. The
answer is given after the lead is committed and never waits for Slack (the outbox posts it).

Checks run in this order, so a stranger learns nothing about the payload rules:
``503`` intake disabled → ``401`` bearer token → ``413`` body over the limit → ``415`` not JSON →
``400`` invalid body → ``202``. (A body that *declares* a length over the limit is refused
with 413 earlier still, by ``handlers.web.BodyLimit``, before any route runs.)

Request bodies carry personal data (names, emails, phones), so neither the body nor any value
from it is logged, and an unexpected error is logged without its message (SQL errors quote
their parameters); the client gets an id to quote instead.
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import Callable

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from bot import intake
from bot.intake import FieldError, InvalidLead
from bot.lifecycle import Surface
from bot.placeholders import is_placeholder_intake_token
from bot.services import Services
from handlers.logging_setup import without_text

log = logging.getLogger("sla_bot.webhooks")

MQL_PATH = "/webhooks/mql"
JSON_MIME = "application/json"


def register(web: Flask, services: Services) -> None:
    """Add the intake webhook to the Flask app (its body limit is ``MAX_CONTENT_LENGTH``)."""
    limit: int = web.config["MAX_CONTENT_LENGTH"]

    @web.post(MQL_PATH)
    def mql_webhook() -> tuple[Response, int]:
        return answered(MQL_PATH, lambda: _handle(services, limit))


def answered(path: str, handle: Callable[[], Answer]) -> tuple[Response, int]:
    """Run an intake endpoint's ``handle``: an unexpected error becomes a 500 with an error
    id (the 413 of an oversized body is left to ``handlers.web``), and every request is one
    log line with nothing from the body but the lead id it was about."""
    started = time.monotonic()
    try:
        response, status, lead_id, outcome = handle()
    except HTTPException as exc:  # 413 from reading the body: rendered by handlers.web
        _log_request(path, started, exc.code or 500, None, exc.name)
        raise
    except Exception as exc:
        error_id = uuid.uuid4().hex[:8]
        log_internal_error(error_id, exc)
        response = jsonify({"error": "internal_error", "error_id": error_id})
        status, lead_id, outcome = 500, None, f"error({error_id})"
    _log_request(path, started, status, lead_id, outcome)
    return response, status


def _log_request(path: str, started: float, status: int, lead_id: int | None,
                 outcome: str) -> None:
    log.info("POST %s %s lead=%s outcome=%s %.0fms", path, status,
             lead_id if lead_id is not None else "-", outcome,
             (time.monotonic() - started) * 1000)


Answer = tuple[Response, int, int | None, str]


def _handle(services: Services, limit: int) -> Answer:
    expected = services.settings.intake_tokens
    if not expected:
        return _error(
            503,
            "intake_disabled",
            "INTAKE_TOKEN is not set on the bot: the intake webhook is disabled until it is",
        )
    if is_placeholder_intake_token(services.settings.intake_token):
        return placeholder_token_refusal()
    if not bearer_matches(request.headers.get("Authorization"), *expected):
        response, status, _, outcome = _error(
            401, "unauthorized", "send Authorization: Bearer <INTAKE_TOKEN>"
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="sla-bot"'
        return response, status, None, outcome

    body = read_body(limit)

    if request.mimetype != JSON_MIME:
        return _error(415, "unsupported_media_type", f"Content-Type must be {JSON_MIME}")

    try:
        mql = intake.parse_json(decode_body(body), now=services.clock.now())
    except InvalidLead as exc:
        fields = ",".join(e.field for e in exc.errors)
        response = jsonify({"error": "invalid_request", "errors": _errors_json(exc.errors)})
        return response, 400, None, f"invalid({fields})"

    result = intake.accept(services, mql, surface=Surface.WEBHOOK)
    return jsonify(result.as_json()), 202, result.lead_id, result.status


def placeholder_token_refusal() -> Answer:
    """``401`` whatever was sent: the example token is public, so it proves nothing."""
    response, status, _, outcome = _error(
        401,
        "intake_token_placeholder",
        "INTAKE_TOKEN is still the example value of .env.example: set INTAKE_TOKEN to a long "
        "random string on the bot (e.g. openssl rand -hex 32), restart it, and send that token",
    )
    response.headers["WWW-Authenticate"] = 'Bearer realm="sla-bot"'
    return response, status, None, outcome


def bearer_matches(header: str | None, *expected: str) -> bool:
    """Whether ``header`` is ``Bearer <one of expected>`` (several during a rotation)."""
    if not header:
        return False
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return False
    # Header values arrive latin-1 decoded (WSGI); compare the raw bytes in constant time,
    # with every accepted token, so the answer's timing does not say which one matched.
    sent = token.encode("latin-1", "replace")
    matches = [hmac.compare_digest(sent, each.encode("utf-8")) for each in expected]
    return any(matches)


def read_body(limit: int) -> bytes:
    """The body, or ``RequestEntityTooLarge`` (413, rendered by handlers.web) if over ``limit``.

    A declared Content-Length over the limit never gets here (``BodyLimit``). A chunked body
    declares none, and werkzeug stops reading it *at* ``max_content_length`` without an
    error, so it is read up to one byte past the limit to tell "over" from "exactly".
    """
    request.max_content_length = limit + 1
    body = request.get_data(cache=False)
    if len(body) > limit:
        raise RequestEntityTooLarge()
    return body


def decode_body(body: bytes) -> str:
    """The body as text: JSON is UTF-8 (RFC 8259); a leading byte-order mark is tolerated."""
    if not body.strip():
        raise InvalidLead([FieldError("(body)", "required: the body is empty")])
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidLead([FieldError("(body)", "not valid UTF-8")]) from None


def _errors_json(errors: list[FieldError]) -> list[dict[str, str]]:
    return [{"field": e.field, "message": e.message} for e in errors]


def _error(status: int, code: str, message: str) -> Answer:
    return jsonify({"error": code, "message": message}), status, None, code


def log_internal_error(error_id: str, exc: Exception) -> None:
    """Log where it failed without the exception's text, which may quote the lead's data."""
    log.error("internal error %s: %s", error_id, without_text(exc))
