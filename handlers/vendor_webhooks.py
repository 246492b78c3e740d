"""Native endpoints for marketing-automation tools: Mautic, HubSpot, Marketo and mappings.

Thin, like ``handlers.webhooks``: authenticate, read, translate with ``bot.adapters.<vendor>``,
hand each event to ``bot.adapters.receive``, render. Checks run in this order, so a stranger
learns nothing about the payload rules:

``404`` adapter not enabled (its secret unset) → ``401`` signature / token missing → ``413``
body over 1 MiB → ``401`` signature wrong → ``415`` not JSON → ``400`` not the vendor's format
→ ``202`` (every event accepted) or ``207`` (a batch with some events rejected: per-event
results) or ``400`` (every event rejected).

A signature covers the body, so the body is read before it is checked; a token is checked
before reading, as for ``/webhooks/mql``. Each event is its own transaction, so a failure half
way through a batch leaves the earlier events stored, and the vendor's retry of the whole
batch finds them as duplicates. Bodies carry personal data: nothing from them is logged but
event types, counts and lead ids.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from bot.adapters import hubspot, hubspot_deals, mapping, marketo, mautic
from bot.adapters.events import Rejected, Skipped
from bot.adapters.hubspot_fetch import queue
from bot.adapters.receive import Outcome, receive
from bot.intake import FieldError, InvalidLead, load_json
from bot.placeholders import is_placeholder_intake_token
from bot.services import Services
from handlers.webhooks import (
    JSON_MIME,
    bearer_matches,
    decode_body,
    log_internal_error,
    placeholder_token_refusal,
    read_body,
)

log = logging.getLogger("sla_bot.webhooks")

MAUTIC_PATH = "/webhooks/mautic"
MARKETO_PATH = "/webhooks/marketo"
HUBSPOT_PATH = "/webhooks/hubspot"
#: the generic field mappings of the policy, by name: ``/webhooks/map/zapier``
MAPPING_PATH = "/webhooks/map/<name>"

#: response, status, what the log line says happened
Answer = tuple[Response, int, str]


def register(web: Flask, services: Services) -> None:
    """Add the vendor endpoints to the Flask app (body limit ``MAX_CONTENT_LENGTH``)."""
    limit: int = web.config["MAX_CONTENT_LENGTH"]

    @web.post(MAUTIC_PATH)
    def mautic_webhook() -> tuple[Response, int]:
        return _serve(MAUTIC_PATH, lambda: _mautic(services, limit))

    @web.post(HUBSPOT_PATH)
    def hubspot_webhook() -> tuple[Response, int]:
        return _serve(HUBSPOT_PATH, lambda: _hubspot(services, limit))

    @web.post(MARKETO_PATH)
    def marketo_webhook() -> tuple[Response, int]:
        return _serve(MARKETO_PATH, lambda: _marketo(services, limit))

    @web.post(MAPPING_PATH)
    def mapped_webhook(name: str) -> tuple[Response, int]:
        # the path is the sender's text, logged only when it names a configured mapping
        known = services.policy.adapters.find(name) is not None
        return _serve("/webhooks/map/" + (name if known else "(unknown)"),
                      lambda: _mapped(services, limit, name))


def _serve(path: str, handle: Callable[[], Answer]) -> tuple[Response, int]:
    started = time.monotonic()
    try:
        response, status, outcome = handle()
    except HTTPException as exc:  # 413 from reading the body: rendered by handlers.web
        _log_request(path, started, exc.code or 500, exc.name)
        raise
    except Exception as exc:
        error_id = uuid.uuid4().hex[:8]
        log_internal_error(error_id, exc)
        response = jsonify({"error": "internal_error", "error_id": error_id})
        status, outcome = 500, f"error({error_id})"
    _log_request(path, started, status, outcome)
    return response, status


def _log_request(path: str, started: float, status: int, outcome: str) -> None:
    log.info("POST %s %s outcome=%s %.0fms", path, status, outcome,
             (time.monotonic() - started) * 1000)


# --------------------------------------------------------------------------- Mautic


def _mautic(services: Services, limit: int) -> Answer:
    secret = services.settings.mautic_webhook_secret
    if not secret:
        return _not_enabled("MAUTIC_WEBHOOK_SECRET")
    signature = request.headers.get(mautic.SIGNATURE_HEADER)
    if not signature:
        return _error(401, "unauthorized",
                      f"missing {mautic.SIGNATURE_HEADER}: set the webhook's secret in Mautic "
                      "to MAUTIC_WEBHOOK_SECRET")
    body = read_body(limit)
    if not mautic.verify(body, signature, secret):
        return _error(401, "unauthorized", f"{mautic.SIGNATURE_HEADER} does not match the body")
    if (refused := _not_json()) is not None:
        return refused
    try:
        events = mautic.translate(_json(body), services.policy.tz)
    except InvalidLead as exc:
        return _invalid(exc.errors)
    except mautic.NotMautic as exc:
        return _invalid([FieldError("(body)", str(exc))])
    return _batch([(kind, receive(services, event)) for kind, event in events])


# --------------------------------------------------------------------------- HubSpot


def _hubspot(services: Services, limit: int) -> Answer:
    secret = services.settings.hubspot_client_secret
    if not secret:
        return _not_enabled("HUBSPOT_CLIENT_SECRET")
    if not hubspot.has_signature(request.headers):
        return _error(401, "unauthorized",
                      f"missing {hubspot.V3_HEADER} (or {hubspot.V1_HEADER}): HubSpot signs "
                      "with the app's client secret, HUBSPOT_CLIENT_SECRET")
    body = read_body(limit)
    problem = hubspot.check_signature(secret, method=request.method, uri=_called_url(services),
                                      body=body, headers=request.headers,
                                      now=services.clock.now())
    if problem is not None:
        return _error(401, "unauthorized", problem)
    if (refused := _not_json()) is not None:
        return refused
    try:
        payload = _json(body)
    except InvalidLead as exc:
        return _invalid(exc.errors)
    config = services.policy.adapters.hubspot
    if isinstance(payload, list):
        return _hubspot_thin(services, payload)
    if not isinstance(payload, dict):
        return _invalid([FieldError("(body)", "expected a workflow's contact (a JSON object) "
                                              "or Webhooks API events (a JSON array)")])
    event = hubspot.translate_workflow(payload, mql_stage=config.mql_stage,
                                       zone=services.policy.tz, now=services.clock.now())
    return _single(receive(services, event))


def _called_url(services: Services) -> str:
    """The URL HubSpot called, which its v3 signature covers: behind a proxy that changes the
    Host, ``PUBLIC_BASE_URL`` says what HubSpot saw."""
    query = request.query_string.decode("latin-1")
    path = request.path + (f"?{query}" if query else "")
    base = services.settings.public_base_url or f"{request.scheme}://{request.host}"
    return base + path


def _hubspot_thin(services: Services, payload: list[Any]) -> Answer:
    """Store each thin event for the worker (all in one transaction) and answer at once: a
    contact's to be fetched, a deal's when its new stage may change an outcome."""
    if not services.settings.hubspot_access_token:
        return _error(503, "fetch_disabled",
                      "Webhooks API events carry no contact data and HUBSPOT_ACCESS_TOKEN is not "
                      "set, so their contacts cannot be fetched; HubSpot will retry")
    now = services.clock.now()
    outcomes: list[tuple[str, Outcome]] = []
    with services.unit_of_work() as uow:
        for kind, event in hubspot.thin_events(payload):
            if isinstance(event, Skipped):
                outcomes.append((kind, Outcome("ignored", reasons=[event.reason])))
            elif isinstance(event, Rejected):
                outcomes.append((kind, Outcome("rejected", errors=event.errors)))
            elif event.kind == hubspot.DEAL_STAGE_EVENT:
                outcomes.append((kind, hubspot_deals.queue(services.policy, uow, event, now)))
            else:
                outcomes.append((kind, Outcome("fetching" if queue(uow, event, now)
                                               else "duplicate")))
        uow.commit()
    if any(o.status == "fetching" for _, o in outcomes):
        services.outbox_ready.set()
    return _batch(outcomes)


# --------------------------------------------------------------------------- Marketo


def _marketo(services: Services, limit: int) -> Answer:
    token = services.settings.marketo_webhook_token
    if not token:
        return _not_enabled("MARKETO_WEBHOOK_TOKEN")
    if (refused := _bearer("MARKETO_WEBHOOK_TOKEN", token)) is not None:
        return refused
    body = read_body(limit)
    if (refused := _not_json()) is not None:
        return refused
    config = services.policy.adapters.marketo
    zone = ZoneInfo(config.timezone) if config.timezone else services.policy.tz
    try:
        event = marketo.translate(_json(body), zone, services.clock.now())
    except InvalidLead as exc:
        return _invalid(exc.errors)
    except marketo.NotMarketo as exc:
        return _invalid([FieldError(exc.field, str(exc))])
    return _single(receive(services, event))


# --------------------------------------------------------------------------- mappings


def _mapped(services: Services, limit: int, name: str) -> Answer:
    tokens = services.settings.intake_tokens
    if not tokens:
        return _not_enabled("INTAKE_TOKEN")
    if is_placeholder_intake_token(services.settings.intake_token):
        response, status, _, outcome = placeholder_token_refusal()
        return response, status, outcome
    if (refused := _bearer("INTAKE_TOKEN", *tokens)) is not None:
        return refused
    config = services.policy.adapters.find(name)
    if config is None:
        return _error(404, "not_found", "no [[adapters.mapping]] of this name in the policy")
    body = read_body(limit)
    if (refused := _not_json()) is not None:
        return refused
    now = services.clock.now()
    try:
        found, batch = mapping.records(_json(body), config)
    except InvalidLead as exc:
        return _invalid(exc.errors)
    except mapping.NotMapped as exc:
        return _invalid([FieldError("(body)", str(exc))])
    outcomes = [(f"{name}.record", receive(services, mapping.translate(
        record, config, services.policy.tz, now))) for record in found]
    if not batch:
        return _single(outcomes[0][1])
    return _batch(outcomes)


# --------------------------------------------------------------------------- answers


def _bearer(variable: str, *expected: str) -> Answer | None:
    if bearer_matches(request.headers.get("Authorization"), *expected):
        return None
    response, status, outcome = _error(401, "unauthorized",
                                       f"send Authorization: Bearer <{variable}>")
    response.headers["WWW-Authenticate"] = 'Bearer realm="sla-bot"'
    return response, status, outcome



def _json(body: bytes) -> Any:
    """The body as JSON (``bot.intake.load_json``: the webhook's own strict decoding);
    ``InvalidLead`` naming the body or the bad value when it is not."""
    return load_json(decode_body(body))


def _not_json() -> Answer | None:
    if request.mimetype != JSON_MIME:
        return _error(415, "unsupported_media_type", f"Content-Type must be {JSON_MIME}")
    return None


def _single(outcome: Outcome) -> Answer:
    """One event: the answer of ``/webhooks/mql`` (``202``, or ``400`` with the field errors)."""
    if outcome.rejected:
        return _invalid(outcome.errors)
    return jsonify(outcome.as_json()), 202, outcome.status


def _batch(outcomes: list[tuple[str, Outcome]]) -> Answer:
    """Per-event results in order: 202 all accepted, 207 some rejected, 400 all rejected."""
    results = [{"index": i, "event": kind, **o.as_json()} for i, (kind, o) in enumerate(outcomes)]
    rejected = sum(1 for _, o in outcomes if o.rejected)
    summary = ",".join(f"{s}={n}" for s, n in sorted(Counter(o.status for _, o in outcomes)
                                                    .items()))
    if outcomes and rejected == len(outcomes):
        return jsonify({"error": "invalid_request", "results": results}), 400, summary
    return jsonify({"results": results}), 207 if rejected else 202, summary or "empty"


def _invalid(errors: list[FieldError]) -> Answer:
    fields = ",".join(e.field for e in errors)
    body = {"error": "invalid_request",
            "errors": [{"field": e.field, "message": e.message} for e in errors]}
    return jsonify(body), 400, f"invalid({fields})"


def _not_enabled(variable: str) -> Answer:
    return _error(404, "not_enabled", f"this endpoint is off until {variable} is set on the bot")


def _error(status: int, code: str, message: str) -> Answer:
    return jsonify({"error": code, "message": message}), status, code
