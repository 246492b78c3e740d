"""A local stand-in for HubSpot's CRM API: contacts, companies and deals by id, scriptable
failures.

Just what the HubSpot adapter reads (``GET /crm/v3/objects/{contacts,companies,deals}/{id}``,
a deal with its associated contacts), served
on 127.0.0.1 (a free port) so the bot's fetches cross a real socket. ``fail_next`` queues
answers (e.g. a 429 with ``Retry-After``) to give before the real one.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.sandbox.loopback import HOST, LoopbackServer

__all__ = ["Failure", "FakeHubSpot"]


@dataclass
class Failure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


class FakeHubSpot(LoopbackServer):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        #: contact id → {"properties": {...}, "companies": [company id, ...]}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.companies: dict[str, dict[str, Any]] = {}
        #: deal id → {"properties": {...}, "contacts": [contact id, ...]}
        self.deals: dict[str, dict[str, Any]] = {}
        self.fail_next: list[Failure] = []
        self.requests: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def add_contact(self, contact_id: str, properties: dict[str, Any],
                    company: tuple[str, dict[str, Any]] | None = None) -> None:
        companies = []
        if company is not None:
            self.companies[company[0]] = {"properties": company[1]}
            companies.append(company[0])
        self.contacts[contact_id] = {"properties": properties, "companies": companies}

    def add_deal(self, deal_id: str, properties: dict[str, Any],
                 contacts: list[str] | None = None) -> None:
        self.deals[deal_id] = {"properties": properties, "contacts": list(contacts or [])}

    def _bind(self) -> ThreadingHTTPServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                try:
                    status, headers, body = fake._answer(self.path, dict(self.headers))
                except Exception as exc:  # the fake itself broke: fail the test, answer 500
                    fake.errors.append(repr(exc))
                    status, headers, body = 500, {}, {"message": "fake crashed"}
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return ThreadingHTTPServer((HOST, 0), Handler)

    @property
    def url(self) -> str:
        return self._origin()

    def _answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        with self._lock:
            self.requests.append({"path": parts.path, "query": query,
                                  "authorization": headers.get("Authorization"),
                                  "user_agent": headers.get("User-Agent")})
            if headers.get("Authorization") != f"Bearer {self.token}":
                return 401, {}, {"status": "error", "category": "INVALID_AUTHENTICATION"}
            if self.fail_next:
                failure = self.fail_next.pop(0)
                return failure.status, failure.headers, {"status": "error",
                                                         "category": "RATE_LIMITS"}
        segments = parts.path.strip("/").split("/")
        if segments[:3] != ["crm", "v3", "objects"] or len(segments) != 5:
            return 404, {}, {"status": "error", "message": "no such endpoint"}
        kind, object_id = segments[3], segments[4]
        wanted = (query.get("properties") or [""])[0].split(",")
        if kind == "contacts" and object_id in self.contacts:
            stored = self.contacts[object_id]
            body: dict[str, Any] = {"id": object_id, "properties": _only(stored["properties"],
                                                                           wanted)}
            if "companies" in (query.get("associations") or [""])[0].split(","):
                body["associations"] = {"companies": {"results": [
                    {"id": c, "type": "contact_to_company"} for c in stored["companies"]]}}
            return 200, {}, body
        if kind == "deals" and object_id in self.deals:
            deal = self.deals[object_id]
            body = {"id": object_id, "properties": _only(deal["properties"], wanted)}
            if "contacts" in (query.get("associations") or [""])[0].split(",") and deal["contacts"]:
                # HubSpot leaves "associations" out when there are none
                body["associations"] = {"contacts": {"results": [
                    {"id": c, "type": "deal_to_contact"} for c in deal["contacts"]]}}
            return 200, {}, body
        if kind == "companies" and object_id in self.companies:
            return 200, {}, {"id": object_id, "properties": _only(
                self.companies[object_id]["properties"], wanted)}
        return 404, {}, {"status": "error", "category": "OBJECT_NOT_FOUND"}


def _only(properties: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    """HubSpot answers the properties asked for (null when unset), never others."""
    return {name: properties.get(name) for name in wanted if name}
