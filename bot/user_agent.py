"""What the bot calls itself on every outbound HTTP request: the product and its version.

slack_sdk's default ``User-Agent`` names the Python version, the operating system and its
kernel release (``Python/3.11.7 slackclient/3.48.0 Linux/6.1.0-18-amd64``), and urllib's names
Python: details an attacker reading a receiver's logs could match against known flaws. Every
client the bot builds (Slack's Web API, response URLs, file uploads, the outbound webhook, the
HubSpot fetch) takes its header from here.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

PRODUCT = "sla-bot"
DISTRIBUTION = "sla-handoff-bot"


def _version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0"


USER_AGENT = f"{PRODUCT}/{_version()}"


class ProductHeaders(dict[str, str]):
    """Request headers whose ``User-Agent`` stays the product's, whoever sets it.

    slack_sdk's clients set their default header by item assignment in ``__init__``, on the
    dict they were given; and Bolt builds a ``WebClient`` per request (the listeners'
    ``client``) from the app's client's very ``headers`` dict. Replacing the header once would
    last only until Bolt's first request; pinned in the dict, it holds for every client that
    shares it.
    """

    def __init__(self) -> None:
        super().__init__({"User-Agent": USER_AGENT})

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key, USER_AGENT if key.lower() == "user-agent" else value)


def slack_client(**kwargs: Any) -> WebClient:
    """A Slack Web API client (``WebClient``'s arguments) sending ``USER_AGENT``, as do the
    clients Bolt derives from it."""
    return WebClient(headers=ProductHeaders(), **kwargs)


def webhook_client(**kwargs: Any) -> WebhookClient:
    """A response-URL client (``WebhookClient``'s arguments) sending ``USER_AGENT``."""
    return WebhookClient(default_headers=ProductHeaders(), **kwargs)
