"""Slack's signature and timestamp, checked before Bolt reads or acts on anything.

Bolt parses the body *before* its own verification, and its check raises on a timestamp that
is not an integer; its error path then runs our error handler with the unverified body (which
answered "something went wrong" to whatever ``response_url`` the stranger put there). So every
request to ``/slack/events`` passes here first: a missing, malformed or stale timestamp, a
missing or wrong signature, or a body that is not UTF-8 is a 401 and goes no further. Bolt's
own verification stays on behind this. Slack signs every request over HTTP, ``url_verification``
and ``ssl_check`` included; Socket Mode does not come through here.

Freshness is measured on the real clock, like Bolt's check and Slack's signing, not on the
business clock: a signature is about when the request was sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from slack_sdk.signature import SignatureVerifier

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
#: Unix seconds in ASCII digits: ``int()`` would also take " 12", "+12", "1_2" or "١٢"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class Refusal:
    """Why a request is not Slack's, said without anything from the request."""

    message: str

    def as_json(self) -> dict[str, str]:
        return {"error": "unauthorized", "message": self.message}


def check(
    verifier: SignatureVerifier, headers: Mapping[str, str], body: bytes
) -> Refusal | None:
    """None when Slack signed ``body`` within the last five minutes, else why not."""
    timestamp = headers.get(TIMESTAMP_HEADER) or ""
    if not _TIMESTAMP.fullmatch(timestamp):
        return Refusal(f"{TIMESTAMP_HEADER} must be the request's Unix time in seconds")
    signature = headers.get(SIGNATURE_HEADER)
    if not signature:
        return Refusal(f"{SIGNATURE_HEADER} is missing")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:  # Slack signs UTF-8; a lenient decode would verify other bytes
        return Refusal(f"{SIGNATURE_HEADER} does not match the body")
    if not verifier.is_valid(text, timestamp, signature):  # freshness (5 min), then the HMAC
        return Refusal(f"{SIGNATURE_HEADER} does not match the body, or {TIMESTAMP_HEADER} "
                       "is more than five minutes away")
    return None
