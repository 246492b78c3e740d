"""URLs as printed: credentials never shown, the rest kept for the operator to recognise."""

from __future__ import annotations

import pytest

from bot.redact import UNPARSEABLE, redact_url


@pytest.mark.parametrize(("url", "shown"), [
    ("sqlite:///sla-bot.db", "sqlite:///sla-bot.db"),
    ("postgresql+psycopg://sla:s3cret@db:5432/sla", "postgresql+psycopg://sla:***@db:5432/sla"),
    ("postgresql+psycopg://sla@db/sla?password=s3cret&sslmode=verify-full",
     "postgresql+psycopg://sla@db/sla?password=***&sslmode=verify-full"),
    ("postgresql+psycopg://sla:p@s3cret@db/sla", UNPARSEABLE),
    ("postgresql+psycopg://sla:pw@db:s3cret@x/sla", UNPARSEABLE),
    ("https://slack.com/api/", "https://slack.com/api/"),
    ("https://user:s3cret@proxy.example:8443/api/?x=1&api_key=s3cret#s3cret",
     "https://proxy.example:8443/api/?x=1&api_key=***"),
    ("https://user:p@s3cret@proxy.example/", "https://proxy.example/"),
    ("user:s3cret@proxy.example/api", UNPARSEABLE),  # no scheme: cannot tell what is what
    ("https://[::1]:notaport/", UNPARSEABLE),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cret" not in redact_url(url)
