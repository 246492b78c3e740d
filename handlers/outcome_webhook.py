"""``POST /webhooks/outcome``: the CRM says how an SQL's deal ended (SPEC 10).

Thin, like ``POST /webhooks/mql`` (``handlers.webhooks``), with the same checks in the same
order and the same bearer tokens (``INTAKE_TOKEN``, and ``INTAKE_TOKEN_PREVIOUS`` during a
rotation): ``503`` intake disabled → ``401`` → ``413`` → ``415`` → ``400`` naming each bad
field → ``202`` with ``{"lead_id", "status"}`` once the outcome is committed
(``bot.outcomes.record_outcome``). Nothing is written on an error. Notes are the CRM's words
about a customer, so neither the body nor any value from it is logged.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request

from bot import outcomes
from bot.intake import InvalidLead, load_json
from bot.lifecycle import Surface
from bot.placeholders import is_placeholder_intake_token
from bot.services import Services
from handlers.webhooks import (
    JSON_MIME,
    Answer,
    answered,
    bearer_matches,
    decode_body,
    placeholder_token_refusal,
    read_body,
)

log = logging.getLogger("sla_bot.webhooks")

OUTCOME_PATH = "/webhooks/outcome"


def register(web: Flask, services: Services) -> None:
    """Add the outcome webhook to the Flask app (its body limit is ``MAX_CONTENT_LENGTH``)."""
    limit: int = web.config["MAX_CONTENT_LENGTH"]

    @web.post(OUTCOME_PATH)
    def outcome_webhook() -> tuple[Response, int]:
        return answered(OUTCOME_PATH, lambda: _handle(services, limit))


def _handle(services: Services, limit: int) -> Answer:
    expected = services.settings.intake_tokens
    if not expected:
        return _error(503, "intake_disabled",
                      "INTAKE_TOKEN is not set on the bot: the outcome webhook is disabled "
                      "until it is")
    if is_placeholder_intake_token(services.settings.intake_token):
        return placeholder_token_refusal()
    if not bearer_matches(request.headers.get("Authorization"), *expected):
        response, status, _, code = _error(401, "unauthorized",
                                           "send Authorization: Bearer <INTAKE_TOKEN>")
        response.headers["WWW-Authenticate"] = 'Bearer realm="sla-bot"'
        return response, status, None, code
    body = read_body(limit)
    if request.mimetype != JSON_MIME:
        return _error(415, "unsupported_media_type", f"Content-Type must be {JSON_MIME}")
    try:
        data = outcomes.parse_data(load_json(decode_body(body)), now=services.clock.now())
    except InvalidLead as exc:
        fields = ",".join(e.field for e in exc.errors)
        errors = [{"field": e.field, "message": e.message} for e in exc.errors]
        return jsonify({"error": "invalid_request", "errors": errors}), 400, None, \
            f"invalid({fields})"
    result = outcomes.record_outcome(services, data, source="api", surface=Surface.WEBHOOK)
    return jsonify(result.as_json()), 202, result.lead_id, result.status


def _error(status: int, code: str, message: str) -> Answer:
    return jsonify({"error": code, "message": message}), status, None, code
