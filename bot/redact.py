"""URLs as they may be printed or logged: credentials removed, whatever the URL's kind.

Operators paste ``check-config`` output and logs into tickets and chats, and a URL is where a
secret hides most easily: a database password (``user:pw@host`` or ``?password=``), basic-auth
user info in an API base URL, a token in a query string. Every place that shows a URL shows
``redact_url(url)``; a URL that cannot be parsed is not shown at all, since we cannot tell
which part of it is the secret.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

#: query parameter names that carry credentials (password=, sslpassword=, access_token=,
#: api_key=, client_secret=, sig=, X-Amz-Signature=, code=, …)
SENSITIVE_PARAM = re.compile(
    r"pass|pwd|secret|token|key|auth|sig|credential|session|cookie|^code$", re.IGNORECASE
)
HIDDEN = "***"
UNPARSEABLE = "(not shown: cannot be parsed)"


class BadDatabaseUrl(ValueError):
    """A database URL that SQLAlchemy would read wrongly or not at all."""


def parse_database_url(url: str) -> URL:
    """SQLAlchemy's reading of ``url``; ``BadDatabaseUrl`` (never quoting it) when unusable.

    A password with an unencoded ``@`` parses "successfully" with part of the password as the
    host name, so a host containing ``@`` counts as unparseable too.
    """
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 - a non-numeric port raises here in some versions
    except (ArgumentError, ValueError, TypeError):
        raise BadDatabaseUrl from None
    if "@" in (parsed.host or ""):
        raise BadDatabaseUrl
    return parsed


def redact_url(url: str) -> str:
    """``url`` without passwords, user info of web URLs, sensitive query values or fragment."""
    if not url:
        return url
    if "://" in url and not url.split("://", 1)[0].lower().startswith(("http", "ws")):
        return _redact_database_url(url)
    return _redact_web_url(url)


def _redact_database_url(url: str) -> str:
    try:
        parsed = parse_database_url(url)
    except BadDatabaseUrl:
        return UNPARSEABLE
    hidden = {key: HIDDEN for key in parsed.query if SENSITIVE_PARAM.search(key)}
    if hidden:
        parsed = parsed.update_query_dict(hidden)
    # SQLAlchemy percent-encodes the marker in the query; shown as written, like the password's
    return parsed.render_as_string(hide_password=True).replace("%2A%2A%2A", HIDDEN)


def _redact_web_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        return UNPARSEABLE
    netloc = parts.netloc.rpartition("@")[2]  # user info dropped, host[:port] kept as written
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(key, HIDDEN if SENSITIVE_PARAM.search(key) else value) for key, value in pairs],
            safe="*",
        )
    shown = urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    # an "@" left over means the split went wrong (no scheme, or a half-written user info):
    # the part before it may be a password
    return UNPARSEABLE if "@" in shown else shown
