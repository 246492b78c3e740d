"""``manifest.yml`` creates exactly the app the code needs."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from bot.ids import Command
from tests.harness.settings import ROOT

#: Slack's published manifest schema, kept in the repository (MIT; see the LICENSE beside it)
SCHEMA = ROOT / "tests" / "fixtures" / "slack" / "manifest.schema.1.0.0.json"


def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))


def test_manifest_matches_slacks_schema() -> None:
    schema = json.loads(Path(SCHEMA).read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_class(schema).iter_errors(manifest()), key=str)
    assert not errors, [e.message for e in errors]


def test_manifest_declares_exactly_the_commands_the_bot_handles() -> None:
    declared = {c["command"] for c in manifest()["features"].get("slash_commands", [])}
    assert declared == {c.value for c in Command}


def test_manifest_urls_point_at_the_events_endpoint() -> None:
    data = manifest()
    urls = [c["url"] for c in data["features"].get("slash_commands", [])]
    interactivity = data["settings"].get("interactivity", {})
    if interactivity.get("is_enabled"):
        urls.append(interactivity["request_url"])
    if "event_subscriptions" in data["settings"]:
        urls.append(data["settings"]["event_subscriptions"]["request_url"])
    assert urls and all(url.endswith("/slack/events") for url in urls)
