"""The HTTP surface: Slack's events endpoint, health, and the intake webhook."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, jsonify, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier

from bot.outbox.worker import outbox_health
from bot.services import Services
from handlers import outcome_webhook, slack_gate, vendor_webhooks, webhooks
from storage.db import ping

MAX_BODY_BYTES = 1024 * 1024
#: a declared body up to this is read off the socket and answered 413; a larger one is cut off
DRAIN_LIMIT_BYTES = 16 * MAX_BODY_BYTES
TOO_LARGE = {"error": "body_too_large", "limit_bytes": MAX_BODY_BYTES}


class BodyLimit:
    """Answer 413 to a body declared over the limit, as JSON, before any route sees it.

    The server has already read the whole body off the socket (keeping only its first
    ``MAX_BODY_BYTES`` + 1 bytes, ``handlers.http_server``), so the sender sees the answer
    instead of a reset, and the connection stays usable. A chunked body declares no length:
    routes read it with a limit (``handlers.webhooks.read_body``).
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length <= self.limit:
            return self.app(environ, start_response)
        body = json.dumps(TOO_LARGE).encode()
        start_response(
            "413 Request Entity Too Large",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]


def create_web_app(bolt_app: App, services: Services) -> Flask:
    web = Flask("sla_bot")
    web.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    slack = SlackRequestHandler(bolt_app)
    verifier = SignatureVerifier(services.settings.slack_signing_secret)

    @web.post("/slack/events")
    def slack_events() -> Response | tuple[Response, int]:
        """Bolt sees only what Slack signed (``handlers.slack_gate``)."""
        refusal = slack_gate.check(verifier, request.headers, request.get_data())
        if refusal is not None:
            return jsonify(refusal.as_json()), 401
        return slack.handle(request)

    @web.get("/healthz")
    def healthz() -> tuple[Response, int]:
        if not ping(services.engine):
            return jsonify({"status": "unavailable", "database": "unreachable"}), 503
        outbox = outbox_health(services.uow)
        body = {
            "status": "degraded" if outbox.failed else "ok",
            "database": "ok",
            "outbox": outbox.as_json(),
        }
        return jsonify(body), 200

    webhooks.register(web, services)
    outcome_webhook.register(web, services)
    vendor_webhooks.register(web, services)

    @web.errorhandler(404)
    def not_found(_error: Exception) -> tuple[Response, int]:
        return jsonify({"error": "not_found"}), 404

    @web.errorhandler(405)
    def method_not_allowed(_error: Exception) -> tuple[Response, int]:
        return jsonify({"error": "method_not_allowed"}), 405

    @web.errorhandler(413)
    def too_large(_error: Exception) -> tuple[Response, int]:
        return jsonify(TOO_LARGE), 413

    web.wsgi_app = BodyLimit(web.wsgi_app)  # type: ignore[method-assign]
    return web
