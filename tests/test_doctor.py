"""``sla-bot doctor``: the installation checked against (a stand-in for) Slack over real HTTP.

Each test runs the real command (``handlers.cli.main(["doctor"])``) with the environment
pointing at the fake Slack, which is strict here: undeclared users and channels do not exist.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.manifest import bot_scopes
from handlers.cli import main
from tests.harness import FakeSlack
from tests.harness.policies import EXAMPLE_POLICY

BOT_TOKEN = "xoxb-secret-token-value"  # operator_env's
APP_TOKEN = "xapp-1-secret-app-token"
SALES, MARKETING = "C0SALES01", "C0MKTG01"
REPS, MANAGER, MARKETER = ("U0REP0001", "U0REP0002"), "U0MGR0001", "U0MKT0001"
MANAGERS_GROUP = "S0MGRS001"
ALL_SCOPES = len(bot_scopes())


def write_policy(path: Path, *, managers_group: str = MANAGERS_GROUP) -> Path:
    """The shipped example with ids the fake knows, managers as a user group, and weights."""
    text = EXAMPLE_POLICY.read_text(encoding="utf-8")
    for old, new in (("C0000SALES", SALES), ("C0000MKTG", MARKETING),
                     ("U0000REP1", REPS[0]), ("U0000REP2", REPS[1]),
                     ("U0000MKT1", MARKETER),
                     ('managers = ["U0000MGR1"]', f'managers = "{managers_group}"'),
                     ("# weights = {", "weights = {"),
                     ('language = "ja"', 'language = "en"')):
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def workspace(operator_env: Path, monkeypatch: pytest.MonkeyPatch,
              fake_slack: FakeSlack) -> FakeSlack:
    """A healthy installation: everything the policy names exists, the bot is in its channels,
    every manifest scope is granted (the fake's default), Socket Mode configured."""
    fake_slack.known_users_only = True
    fake_slack.known_channels_only = True
    fake_slack.set_channel(SALES, name="sales")
    fake_slack.set_channel(MARKETING, name="marketing")
    for user_id, name in ((REPS[0], "sato"), (REPS[1], "suzuki"), (MANAGER, "tanaka"),
                          (MARKETER, "kato")):
        fake_slack.set_user(user_id, name=name)
    fake_slack.set_usergroup(MANAGERS_GROUP, [MANAGER])
    monkeypatch.setenv("SLACK_API_URL", fake_slack.base_url)
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    monkeypatch.setenv("SLA_CONFIG", str(write_policy(operator_env / "sla.toml")))
    return fake_slack


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["doctor", *args])
    captured = capsys.readouterr()
    for secret in (BOT_TOKEN, APP_TOKEN, "signing-secret-value"):
        assert secret not in captured.out + captured.err
    return code, captured.out.splitlines()


HEALTHY_EN = [
    "sla-bot doctor: checking the installation against Slack",
    "✓ The bot token works: @sla-bot in Fake Team",
    f"✓ The app has all {ALL_SCOPES} scopes of manifest.yml",
    "✓ Channel #sales (handoff, digest): the bot is a member",
    "✓ Channel #marketing (marketing_feedback): the bot is a member",
    f"✓ User group {MANAGERS_GROUP} (managers): 1 member",
    "✓ @sato (reps, auto_assign.weights) is a person in this workspace",
    "✓ @suzuki (reps, auto_assign.weights) is a person in this workspace",
    "✓ @kato (marketers) is a person in this workspace",
    "✓ Socket Mode: the app-level token opens a connection",
    "All 9 checks passed.",
]


def test_a_healthy_installation_passes_every_check(
    workspace: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = doctor(capsys)
    assert (code, lines) == (0, HEALTHY_EN)
    # the app-level token opened Socket Mode; the bot token did everything else
    (opened,) = workspace.calls_to("apps.connections.open")
    assert opened.headers["authorization"] == f"Bearer {APP_TOKEN}"
    assert opened.response is not None and opened.response["url"].startswith("wss://")


def test_the_language_is_the_policys_unless_overridden(
    workspace: FakeSlack, operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = operator_env / "sla.toml"
    policy.write_text(policy.read_text(encoding="utf-8").replace(
        'language = "en"', 'language = "ja"'), encoding="utf-8")
    code, lines = doctor(capsys)
    assert code == 0
    assert lines[1] == "✓ ボットトークンは有効です（Fake Team の @sla-bot）"
    assert lines[-1] == "9項目すべて問題ありません。"
    assert doctor(capsys, "--language", "en") == (0, HEALTHY_EN)


Scenario = Callable[[FakeSlack, Path], None]


def _revoked_token(fake: FakeSlack, _: Path) -> None:
    fake.revoke_token(BOT_TOKEN)


def _missing_scope(fake: FakeSlack, _: Path) -> None:
    fake.set_scopes([scope for scope in bot_scopes() if scope != "users:read"])


def _not_in_channel(fake: FakeSlack, _: Path) -> None:
    fake.set_channel(MARKETING, name="marketing", is_member=False)


def _wrong_channel_id(_: FakeSlack, policy: Path) -> None:
    policy.write_text(policy.read_text(encoding="utf-8").replace(MARKETING, "C0TYPO001"),
                      encoding="utf-8")


def _deleted_user(fake: FakeSlack, _: Path) -> None:
    fake.set_user(MARKETER, name="kato", deleted=True)


def _bot_user(fake: FakeSlack, _: Path) -> None:
    fake.set_user(MARKETER, name="kato", is_bot=True)


def _unknown_user(_: FakeSlack, policy: Path) -> None:
    policy.write_text(policy.read_text(encoding="utf-8").replace(MARKETER, "U0NOBODY1"),
                      encoding="utf-8")


def _unknown_group(_: FakeSlack, policy: Path) -> None:
    write_policy(policy, managers_group="S0GONE001")


def _empty_group(fake: FakeSlack, _: Path) -> None:
    fake.set_usergroup(MANAGERS_GROUP, [])


def _revoked_app_token(fake: FakeSlack, _: Path) -> None:
    fake.revoke_token(APP_TOKEN)


#: each failure alone: (the ✗ line, the fix under it) in English and in Japanese
FAILURES: dict[str, tuple[Scenario, dict[str, tuple[str, str]]]] = {
    "revoked token": (_revoked_token, {
        "en": ("✗ Slack refuses the bot token (token_revoked)",
               "    reinstall the app to the workspace and copy the new Bot User OAuth Token "
               "into SLACK_BOT_TOKEN"),
        "ja": ("✗ Slack がボットトークンを受け付けません（token_revoked）",
               "    アプリをワークスペースに再インストールし、新しい Bot User OAuth Token を "
               "SLACK_BOT_TOKEN に設定してください"),
    }),
    "missing scope": (_missing_scope, {
        "en": ("✗ The app lacks 1 scope of manifest.yml: users:read",
               "    add them under OAuth & Permissions (or re-create the app from manifest.yml) "
               "and reinstall the app to the workspace"),
        "ja": ("✗ manifest.yml のスコープのうち 1個が付与されていません: users:read",
               "    OAuth & Permissions で不足しているスコープを追加し（または manifest.yml から"
               "アプリを作り直し）、アプリをワークスペースに再インストールしてください"),
    }),
    "bot not in channel": (_not_in_channel, {
        "en": ("✗ Channel #marketing (marketing_feedback): the bot is not a member",
               "    /invite @sla-bot in #marketing"),
        "ja": ("✗ チャンネル #marketing（marketing_feedback）にボットが参加していません",
               "    #marketing で /invite @sla-bot を実行してください"),
    }),
    "wrong channel id": (_wrong_channel_id, {
        "en": ("✗ Channel C0TYPO001 (marketing_feedback) was not found",
               "    the id is wrong, or the channel is private and the bot is not in it: copy "
               "the id from the channel's details (bottom of the About tab) into [channels] of "
               "sla.toml; for a private channel, /invite @sla-bot there"),
        "ja": ("✗ チャンネル C0TYPO001（marketing_feedback）が見つかりません",
               "    ID が間違っているか、ボットが参加していないプライベートチャンネルです。"
               "チャンネル詳細の「概要」タブ下部にある ID を sla.toml の [channels] に設定して"
               "ください。プライベートチャンネルなら、そこで /invite @sla-bot を実行してください"),
    }),
    "deleted user": (_deleted_user, {
        "en": ("✗ User @kato (U0MKT0001, marketers) has been deactivated",
               "    remove the id from sla.toml, or replace it with the id of whoever took over"),
        "ja": ("✗ ユーザー @kato（U0MKT0001、marketers）のアカウントは無効化されています",
               "    sla.toml からこの ID を削除するか、後任の人の ID に置き換えてください"),
    }),
    "bot user": (_bot_user, {
        "en": ("✗ User @kato (U0MKT0001, marketers) is a bot, not a person",
               "    roles are held by people: replace the id in sla.toml with a person's "
               "member id"),
        "ja": ("✗ ユーザー @kato（U0MKT0001、marketers）は人ではなくボットです",
               "    役割は人が担うものです。sla.toml のこの ID を担当者のメンバー ID に置き換えて"
               "ください"),
    }),
    "unknown user": (_unknown_user, {
        "en": ("✗ User U0NOBODY1 (marketers) was not found in this workspace",
               "    copy the member id from the person's Slack profile (⋮ → Copy member ID) "
               "into sla.toml"),
        "ja": ("✗ ユーザー U0NOBODY1（marketers）はこのワークスペースに見つかりません",
               "    その人の Slack プロフィールの「⋮」→「メンバー ID をコピー」で ID をコピーし、"
               "sla.toml に設定してください"),
    }),
    "user group not found": (_unknown_group, {
        "en": ("✗ User group S0GONE001 (managers) was not found",
               "    copy the user group's id (S…) into [roles] of sla.toml, or list the "
               "members' ids instead"),
        "ja": ("✗ ユーザーグループ S0GONE001（managers）が見つかりません",
               "    ユーザーグループの ID（S…）を sla.toml の [roles] に設定するか、代わりに"
               "メンバーの ID を並べてください"),
    }),
    "empty user group": (_empty_group, {
        "en": (f"✗ User group {MANAGERS_GROUP} (managers) has no members",
               "    add people to the group in Slack (until then nobody holds the role), or "
               "list their ids in [roles] of sla.toml"),
        "ja": (f"✗ ユーザーグループ {MANAGERS_GROUP}（managers）にメンバーがいません",
               "    Slack でグループにメンバーを追加するか（それまではこの役割の人がいません）、"
               "sla.toml の [roles] にメンバーの ID を並べてください"),
    }),
    "app token cannot open Socket Mode": (_revoked_app_token, {
        "en": ("✗ Socket Mode: Slack refuses the app-level token (token_revoked)",
               "    create an app-level token with connections:write under Basic Information → "
               "App-Level Tokens, put it into SLACK_APP_TOKEN, and enable Socket Mode"),
        "ja": ("✗ ソケットモード: Slack がアプリレベルトークンを受け付けません（token_revoked）",
               "    Basic Information → App-Level Tokens で connections:write を付けたアプリ"
               "レベルトークンを作成して SLACK_APP_TOKEN に設定し、ソケットモードを有効にして"
               "ください"),
    }),
}


@pytest.mark.parametrize("language", ["en", "ja"])
@pytest.mark.parametrize("failure", list(FAILURES))
def test_each_failure_is_one_cross_with_its_fix(
    failure: str, language: str, workspace: FakeSlack, operator_env: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario, expected = FAILURES[failure]
    scenario(workspace, operator_env / "sla.toml")
    code, lines = doctor(capsys, "--language", language)
    assert code == 2
    crosses = [i for i, line in enumerate(lines) if line.startswith("✗")]
    assert len(crosses) == 1, lines
    assert tuple(lines[crosses[0]:crosses[0] + 2]) == expected[language]
    if failure == "revoked token":  # nothing else can be checked with a token Slack refuses
        assert lines[1:3] == list(expected[language])
        assert len(lines) == 4
    else:  # every other check still ran, each a ✓
        assert len(lines) == len(HEALTHY_EN) + 1
        assert sum(line.startswith("✓") for line in lines) == 8


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("language", ["en", "ja"])
def test_an_unreachable_slack_is_one_clear_cross(
    workspace: FakeSlack, monkeypatch: pytest.MonkeyPatch, language: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api/"
    monkeypatch.setenv("SLACK_API_URL", url)
    code, lines = doctor(capsys, "--language", language)
    assert code == 2
    crosses = [line for line in lines if line.startswith("✗")]
    assert len(crosses) == 1 and url in crosses[0]
    assert crosses[0].startswith({"en": "✗ Slack cannot be reached at ",
                                  "ja": "✗ Slack（"}[language])
    assert "Traceback" not in "\n".join(lines)


def test_a_dropped_connection_is_not_retried(
    workspace: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    """Retries off: slack_sdk's default client would retry the dropped request (and pass)."""
    workspace.fail("auth.test", drop=True)
    code, lines = doctor(capsys)
    assert code == 2
    assert lines[1].startswith("✗ Slack cannot be reached at ")
    (dropped,) = workspace.calls_to("auth.test")
    assert dropped.response is None


def test_the_example_token_is_named_without_asking_slack(
    workspace: FakeSlack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """A .env copied from .env.example: one cross saying so and where the real token is."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-your-bot-token")
    calls = len(workspace.calls)
    code, lines = doctor(capsys, "--language", "ja")
    assert code == 2 and len(workspace.calls) == calls
    assert lines[1] == ("✗ SLACK_BOT_TOKEN が .env.example の例の値のままです"
                        "（Slack には問い合わせていません）")
    assert "OAuth & Permissions" in lines[2] and lines[-1] == "1項目中 1項目に問題があります。"
    code, lines = doctor(capsys, "--language", "en")
    assert lines[1].startswith("✗ SLACK_BOT_TOKEN is still the example value of .env.example")


def test_slack_answering_503_is_reported_as_slack_not_the_token(
    workspace: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.fail("auth.test", status=503)
    code, lines = doctor(capsys)
    assert code == 2
    assert lines[1] == f"✗ Slack cannot be reached at {workspace.base_url} (HTTP 503)"


def test_the_installed_command_finds_the_manifest_from_any_directory(
    workspace: FakeSlack, operator_env: Path
) -> None:
    """The console script of the installed checkout, started outside the repository."""
    command = Path(sys.executable).parent / "sla-bot"
    if not command.exists():
        pytest.skip("the sla-bot console script is not installed beside this Python")
    done = subprocess.run([str(command), "doctor"], cwd=operator_env, env=dict(os.environ),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"✓ The app has all {ALL_SCOPES} scopes of manifest.yml" in done.stdout.splitlines()
