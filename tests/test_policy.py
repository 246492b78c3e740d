"""The policy file and the environment: defaults, the example, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.policy import DEFAULT_RECYCLE_REASONS, PolicyError, load_policy, parse_policy
from bot.settings import DEFAULT_DATABASE_URL, SettingsError, load_settings
from tests.harness.policies import EXAMPLE_POLICY

MINIMAL = {
    "mql_definition": {"version": "v1"},
    "channels": {"handoff": "C0SALES", "marketing_feedback": "C0MKTG"},
}


def test_example_policy_is_a_japanese_company() -> None:
    policy = load_policy(EXAMPLE_POLICY)
    assert policy.language == "ja"
    assert policy.calendar.timezone == "Asia/Tokyo"
    assert policy.calendar.holidays == "JP"
    assert policy.calendar.annual_closures == (("12-29", "01-03"),)
    assert policy.agreement.mql_monthly_target == 100
    assert policy.agreement.first_contact_business_hours == 2
    assert policy.agreement.min_touches == 5
    assert policy.agreement.decision_days == 7
    assert policy.agreement.handoff_within_hours == 24
    assert policy.reminders.unclaimed_after_business_minutes == 15
    assert policy.reminders.first_contact_before_minutes == (30,)
    assert policy.mql_definition.version
    assert policy.business_calendar.closure_reason(
        __import__("datetime").date(2026, 12, 30)
    ) is not None


def test_defaults_are_the_agreement() -> None:
    policy = parse_policy(MINIMAL)
    assert policy.language == "en"
    assert policy.agreement.mql_monthly_target == 100
    assert policy.agreement.bant_required == ("budget", "authority", "need", "timeline")
    assert policy.recycle.reasons == DEFAULT_RECYCLE_REASONS
    assert policy.channels.digest_channel == "C0SALES"
    assert policy.reminders.decision_before_business_days == 1


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"agreement": {"min_touches": "five"}}, "agreement.min_touches: "),
        ({"agreement": {"min_touches": 0}}, "agreement.min_touches: "),
        ({"agreement": {"min_touchs": 5}}, "agreement.min_touchs: unknown key"),
        ({"language": "fr"}, "language: "),
        ({"calendar": {"timezone": "Asia/Tokio"}}, "calendar.timezone: expected an IANA"),
        ({"calendar": {"holidays": "XX"}}, "calendar.holidays: expected an ISO country code"),
        ({"calendar": {"working_hours": [["18:00", "09:00"]]}}, "calendar.working_hours: "),
        ({"calendar": {"working_hours": [["09:00", "13:00"], ["12:00", "18:00"]]}},
         "must not overlap"),
        ({"calendar": {"working_days": []}}, "calendar.working_days: at least one"),
        ({"calendar": {"annual_closures": [["12-32", "01-03"]]}}, "calendar.annual_closures"),
        ({"roles": {"reps": ["bob"]}}, "roles.reps: expected Slack user ids"),
        ({"roles": {"managers": "not-a-group"}}, "roles.managers: expected a list of user ids"),
        ({"channels": {"handoff": "sales", "marketing_feedback": "C0MKTG"}},
         "channels.handoff: expected a Slack channel id"),
        ({"mql_definition": {"version": "v1", "behaviour": {
            "min_rules_matched": 2, "rules": [{"type": "download"}]}}},
         "mql_definition.behaviour: min_rules_matched is 2"),
    ],
)
def test_each_problem_names_the_key(change: dict[str, object], expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy({**MINIMAL, **change})
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_all_problems_are_reported_at_once() -> None:
    data = {**MINIMAL, "language": "fr", "agreement": {"min_touches": -1, "x": 1}}
    data.pop("channels")
    with pytest.raises(PolicyError) as info:
        parse_policy(data)
    keys = {p.split(":")[0] for p in info.value.problems}
    assert keys == {"language", "agreement.min_touches", "agreement.x", "channels"}


def test_user_group_ids_are_accepted_instead_of_lists() -> None:
    policy = parse_policy({**MINIMAL, "roles": {"reps": "S0REPS", "managers": ["U0MGR"]}})
    assert policy.roles.reps == "S0REPS"
    assert policy.roles.managers == ("U0MGR",)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="file not found"):
        load_policy(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("language = \n", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(broken)


def test_settings_defaults_and_problems() -> None:
    settings = load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.port == 3000
    assert not settings.socket_mode
    assert settings.migrate_on_start is True
    with pytest.raises(SettingsError) as info:
        load_settings({"SLACK_BOT_TOKEN": "xoxp-user", "PORT": "http", "SLACK_APP_TOKEN": "x"})
    names = {p.split(":")[0] for p in info.value.problems}
    assert names == {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PORT", "SLACK_APP_TOKEN"}


def test_settings_normalise_urls_and_hide_secrets() -> None:
    settings = load_settings({
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "DATABASE_URL": "postgres://bot:hunter2@db:5432/sla",
        "SLACK_API_URL": "http://127.0.0.1:9/api",
        "SLACK_APP_TOKEN": "xapp-1",
    })
    assert settings.database_url == "postgresql+psycopg://bot:hunter2@db:5432/sla"
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"
    assert settings.socket_mode
    assert settings.migrate_on_start is False
    shown = settings.redacted()
    assert "hunter2" not in str(shown)
    assert "xoxb-1" not in str(shown) and "xapp-1" not in str(shown)


def test_the_outbound_webhook_secret_comes_from_the_environment_and_is_never_shown() -> None:
    base = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    assert load_settings(base).outbound_webhook_secret is None
    assert load_settings(base).redacted()["OUTBOUND_WEBHOOK_SECRET"] == "not set"
    secret = "0123456789abcdef0123"
    settings = load_settings({**base, "OUTBOUND_WEBHOOK_SECRET": f" {secret} "})
    assert settings.outbound_webhook_secret == secret
    assert settings.redacted()["OUTBOUND_WEBHOOK_SECRET"] == "set"
    assert secret not in str(settings.redacted())
    with pytest.raises(SettingsError) as info:
        load_settings({**base, "OUTBOUND_WEBHOOK_SECRET": "short"})
    (problem,) = info.value.problems
    assert problem.startswith("OUTBOUND_WEBHOOK_SECRET: too short")
    assert "short'" not in problem
