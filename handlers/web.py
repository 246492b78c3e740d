"""The HTTP surface: Slack's events endpoint, health, and (later) intake webhooks."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler

from bot.services import Services
from storage.db import ping

MAX_BODY_BYTES = 1024 * 1024


def create_web_app(bolt_app: App, services: Services) -> Flask:
    web = Flask("sla_bot")
    web.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    slack = SlackRequestHandler(bolt_app)

    @web.post("/slack/events")
    def slack_events() -> Response:
        return slack.handle(request)

    @web.get("/healthz")
    def healthz() -> tuple[Response, int]:
        database_ok = ping(services.engine)
        body = {"status": "ok" if database_ok else "unavailable",
                "database": "ok" if database_ok else "unreachable"}
        return jsonify(body), 200 if database_ok else 503

    @web.errorhandler(404)
    def not_found(_error: Exception) -> tuple[Response, int]:
        return jsonify({"error": "not_found"}), 404

    @web.errorhandler(405)
    def method_not_allowed(_error: Exception) -> tuple[Response, int]:
        return jsonify({"error": "method_not_allowed"}), 405

    @web.errorhandler(413)
    def too_large(_error: Exception) -> tuple[Response, int]:
        return jsonify({"error": "body_too_large", "limit_bytes": MAX_BODY_BYTES}), 413

    return web
