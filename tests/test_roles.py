"""Who holds which role: listed user ids, or a Slack user group resolved through the fake Slack."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from slack_sdk import WebClient

from bot.clock import ManualClock
from bot.policy import Policy
from bot.roles import CACHE_FOR, RETRY_AFTER_ERROR, Directory
from bot.services import Services
from tests.harness import FakeSlack
from tests.harness.policies import with_roles
from tests.harness.settings import BOT_TOKEN

GROUP = "S0000MKTG"
LOOKUP = "usergroups.users.list"


@pytest.fixture
def group_policy(policy: Policy) -> Policy:
    return with_roles(policy, marketers=GROUP)


@pytest.fixture
def directory(group_policy: Policy, fake_slack: FakeSlack, clock: ManualClock) -> Directory:
    # no SDK retries, so each lookup is exactly one call the test can count
    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.base_url, timeout=5, retry_handlers=[])
    return Directory(group_policy, client, clock)


def test_listed_roles_need_no_slack_call(services: Services, fake_slack: FakeSlack) -> None:
    directory = services.directory
    assert directory is services.directory, "one directory per process, so the cache is shared"
    assert directory.members("reps") == frozenset({"U0000REP1", "U0000REP2"})
    assert directory.members("managers") == frozenset({"U0000MGR1"})
    assert directory.has_role("U0000MKT1", "marketers")
    assert directory.has_role("U0000MGR1", "marketers", "managers")
    assert not directory.has_role("U0000REP1", "marketers", "managers")
    assert not directory.has_role("U0000MKT1")
    assert fake_slack.calls_to(LOOKUP) == []


def test_an_unknown_role_is_a_programming_error(directory: Directory) -> None:
    with pytest.raises(ValueError, match="unknown role"):
        directory.members("admins")  # type: ignore[arg-type]


def test_a_group_role_is_resolved_and_cached_for_five_minutes(
    directory: Directory, fake_slack: FakeSlack, clock: ManualClock
) -> None:
    fake_slack.set_usergroup(GROUP, ["U0000MKT1", "U0000MKT2"])
    assert directory.members("marketers") == frozenset({"U0000MKT1", "U0000MKT2"})
    assert directory.has_role("U0000MKT2", "marketers")
    assert not directory.has_role("U0000REP1", "marketers")
    (call,) = fake_slack.calls_to(LOOKUP)
    assert call.args["usergroup"] == GROUP

    fake_slack.set_usergroup(GROUP, ["U0000MKT3"])  # Slack changed; the cache has not expired
    clock.advance(CACHE_FOR - timedelta(seconds=1))
    assert directory.has_role("U0000MKT1", "marketers")
    assert len(fake_slack.calls_to(LOOKUP)) == 1

    clock.advance(timedelta(seconds=1))
    assert directory.members("marketers") == frozenset({"U0000MKT3"})
    assert not directory.has_role("U0000MKT1", "marketers")
    assert len(fake_slack.calls_to(LOOKUP)) == 2


def test_listed_roles_are_checked_before_a_group(
    directory: Directory, fake_slack: FakeSlack
) -> None:
    fake_slack.set_usergroup(GROUP, ["U0000MKT1"])
    assert directory.has_role("U0000MGR1", "marketers", "managers")
    assert fake_slack.calls_to(LOOKUP) == [], "the manager list answered without asking Slack"


@pytest.mark.parametrize(
    "failure",
    [{"status": 500}, {"error": "missing_scope"}, {"retry_after": 3}, {"drop": True}],
    ids=["http 500", "missing_scope", "rate limited", "connection dropped"],
)
def test_slack_errors_fall_back_to_the_last_known_members(
    directory: Directory,
    fake_slack: FakeSlack,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    failure: dict[str, object],
) -> None:
    fake_slack.set_usergroup(GROUP, ["U0000MKT1"])
    assert directory.has_role("U0000MKT1", "marketers")

    clock.advance(CACHE_FOR)
    fake_slack.fail(LOOKUP, **failure)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="bot.roles"):
        assert directory.members("marketers") == frozenset({"U0000MKT1"})
    assert "last known 1 members" in caplog.text
    assert GROUP in caplog.text

    # While Slack is failing it is not asked on every request...
    assert len(fake_slack.calls_to(LOOKUP)) == 2
    clock.advance(RETRY_AFTER_ERROR - timedelta(seconds=1))
    assert directory.has_role("U0000MKT1", "marketers")
    assert len(fake_slack.calls_to(LOOKUP)) == 2
    # ... but again soon after, and a fresh answer replaces the old one.
    fake_slack.set_usergroup(GROUP, ["U0000MKT2"])
    clock.advance(timedelta(seconds=1))
    assert directory.members("marketers") == frozenset({"U0000MKT2"})
    assert len(fake_slack.calls_to(LOOKUP)) == 3


def test_a_group_never_resolved_counts_as_empty(
    directory: Directory, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    # no set_usergroup: the fake answers no_such_subteam
    with caplog.at_level(logging.WARNING, logger="bot.roles"):
        assert directory.members("marketers") == frozenset()
        assert not directory.has_role("U0000MKT1", "marketers")
    assert "no_such_subteam" in caplog.text
    assert "no members" in caplog.text
