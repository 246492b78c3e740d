"""The adapters' secrets from the environment and their sections in the policy example."""

from __future__ import annotations

import re
import tomllib

import pytest

from bot.policy import parse_policy
from bot.settings import DEFAULT_HUBSPOT_API_URL, SettingsError, load_settings
from tests.harness.policies import EXAMPLE_POLICY

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
SECRETS = {
    "MAUTIC_WEBHOOK_SECRET": "mautic-secret-value",
    "HUBSPOT_CLIENT_SECRET": "hubspot-secret-value",
    "HUBSPOT_ACCESS_TOKEN": "pat-na1-token-value",
    "MARKETO_WEBHOOK_TOKEN": "marketo-token-value",
}


def test_adapter_secrets_are_read_and_never_shown() -> None:
    settings = load_settings({**BASE, **SECRETS, "HUBSPOT_API_URL": "http://127.0.0.1:9/",
                              "PUBLIC_BASE_URL": "https://sla.example.com/"})

    assert settings.mautic_webhook_secret == "mautic-secret-value"
    assert settings.hubspot_api_url == "http://127.0.0.1:9"
    assert settings.public_base_url == "https://sla.example.com"
    shown = settings.redacted()
    assert {name: shown[name] for name in SECRETS} == dict.fromkeys(SECRETS, "set")
    assert not any(value in str(shown) for value in SECRETS.values())


def test_adapters_are_off_and_hubspot_is_hubspots_by_default() -> None:
    settings = load_settings(BASE)
    assert settings.mautic_webhook_secret is settings.hubspot_client_secret is None
    assert settings.hubspot_api_url == DEFAULT_HUBSPOT_API_URL == "https://api.hubapi.com"
    assert settings.redacted()["MARKETO_WEBHOOK_TOKEN"] == "not set"


@pytest.mark.parametrize(
    ("name", "value"), [("HUBSPOT_API_URL", "api.hubapi.com"), ("PUBLIC_BASE_URL", "sla")])
def test_urls_must_be_urls(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({**BASE, name: value})
    assert error.value.problems[0].startswith(f"{name}: expected")


def test_the_commented_adapter_example_in_sla_example_is_valid() -> None:
    text = EXAMPLE_POLICY.read_text(encoding="utf-8")
    example = text[text.index("# [adapters.hubspot]"):text.index("# [outbound_webhook]")]
    lines = [re.sub(r"^# ?", "", line) for line in example.splitlines() if line.startswith("#")]
    toml = "\n".join(line for line in lines
                     if line.startswith(("[", '"')) or re.match(r"^[a-z_]+ =", line))

    policy = parse_policy(tomllib.loads(text + "\n" + toml))

    (mapping,) = policy.adapters.mapping
    assert (mapping.name, policy.adapters.hubspot.mql_stage,
            policy.adapters.marketo.timezone) == (
        "zapier", "marketingqualifiedlead", "America/Chicago")
    assert len(mapping.fields) == 8 and len(mapping.activities) == 1
