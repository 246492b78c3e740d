"""SPEC 8: the example values of ``.env.example`` and ``sla.example.toml`` are refused."""

from __future__ import annotations

import json
import logging
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.clock import ManualClock
from bot.placeholders import CHANNEL_PLACEHOLDERS, ENV_PLACEHOLDERS, MEMBER_PLACEHOLDERS
from bot.policy import Policy
from bot.services import build_services
from handlers.cli import main
from handlers.server import BotServer
from tests.harness import FakeSlack, http_post
from tests.harness.bot_env import start_bot
from tests.harness.databases import Database
from tests.harness.leads import EXAMPLE, counts
from tests.harness.policies import EXAMPLE_POLICY, configured_policy
from tests.harness.settings import BOT_TOKEN, ROOT, make_settings

ENV_EXAMPLE = ROOT / ".env.example"


def example_env() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            values[name] = value
    return values


def test_the_sets_cover_every_example_value_shipped() -> None:
    """If the example files change, the recognised placeholders must change with them."""
    shipped = {name: value for name, value in example_env().items() if name in ENV_PLACEHOLDERS}
    assert shipped == ENV_PLACEHOLDERS
    text = EXAMPLE_POLICY.read_text(encoding="utf-8")
    assert set(re.findall(r'"(C[0-9A-Z]+)"', text)) == CHANNEL_PLACEHOLDERS
    policy = tomllib.loads(text)
    roles = policy["roles"]
    assert {u for key in ("reps", "managers", "marketers") for u in roles[key]} == (
        MEMBER_PLACEHOLDERS
    )


@pytest.fixture
def example_env_vars(operator_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in example_env().items():
        if value and name not in ("DATABASE_URL", "SLA_CONFIG"):
            monkeypatch.setenv(name, value)
    return operator_env


def test_check_config_refuses_each_placeholder_one_line_each(
    example_env_vars: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(EXAMPLE_POLICY), "check-config", "--language", "en"]) == 2
    err = capsys.readouterr().err
    lines = [line.strip() for line in err.splitlines()]
    for name in ENV_PLACEHOLDERS:
        assert sum(line.startswith(f"✗ {name}: still the example value") for line in lines) == 1
    for value in CHANNEL_PLACEHOLDERS | MEMBER_PLACEHOLDERS:
        assert any(value in line for line in lines), value
    assert "[roles] reps: U0000REP1, U0000REP2 is the example's member id" in err
    assert "Copy member ID" in err
    # the secrets themselves are not repeated back
    assert "change-me-to-a-long-random-string" not in err


def test_check_config_passes_once_real_values_are_set(
    operator_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = configured_policy(tmp_path)
    assert main(["--config", str(own), "check-config"]) == 0, capsys.readouterr().err


@pytest.fixture
def placeholder_bot(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> Iterator[BotServer]:
    settings = make_settings(fake_slack, db.url, intake_token=ENV_PLACEHOLDERS["INTAKE_TOKEN"])
    slack = WebClient(token=BOT_TOKEN, base_url=fake_slack.base_url, timeout=5)
    server = start_bot(build_services(settings, policy, clock, engine=db.engine, slack=slack))
    yield server
    server.stop()


@pytest.mark.parametrize("path", ["/webhooks/mql", "/webhooks/map/anything"])
def test_the_placeholder_intake_token_is_refused_even_when_sent(
    placeholder_bot: BotServer, db: Database, path: str
) -> None:
    answer = http_post(
        f"{placeholder_bot.url}{path}",
        json.dumps(EXAMPLE),
        {"Authorization": f"Bearer {ENV_PLACEHOLDERS['INTAKE_TOKEN']}",
         "Content-Type": "application/json"},
    )
    assert answer.status == 401
    body = json.loads(answer.body)
    assert body["error"] == "intake_token_placeholder"
    assert "set INTAKE_TOKEN" in body["message"]
    assert counts(db.engine) == {"leads": 0, "activities": 0, "lead_events": 0, "outbox": 0}


def test_run_starts_with_placeholders_and_names_them(
    example_env_vars: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``run`` still starts (so /healthz can be tried) but logs each placeholder."""
    started: list[BotServer] = []
    monkeypatch.setattr("handlers.server.run_until_signalled",
                        lambda server, on_started=None: started.append(server))
    with caplog.at_level(logging.WARNING, logger="sla_bot"):
        assert main(["--config", str(EXAMPLE_POLICY), "run"]) == 0
    assert len(started) == 1
    started[0].services.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # in the policy's language (the example's is Japanese), like check-config
    assert any("INTAKE_TOKEN: .env.example の例の値のままです" in w for w in warnings)
    assert any("[channels] handoff: C0000SALES" in w for w in warnings)


def test_check_config_names_placeholders_in_the_policys_language(
    example_env_vars: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One language per output: the header and every placeholder line in Japanese."""
    assert main(["--config", str(EXAMPLE_POLICY), "check-config"]) == 2
    err = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN: .env.example の例の値のままです" in err
    assert "[channels] handoff: C0000SALES は例のチャンネル ID です" in err
    assert "[roles] reps: U0000REP1, U0000REP2 は例のメンバー ID です" in err
    assert "still the example value" not in err and "example's" not in err
