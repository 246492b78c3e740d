"""The ``sla-bot`` command line as an operator uses it."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import pytest

from handlers.cli import healthz_url, main
from storage import migrate
from storage.db import make_engine
from tests.harness.policies import EXAMPLE_POLICY, configured_policy
from tests.harness.settings import ROOT


def english_policy(directory: Path) -> Path:
    """The configured example policy answering in English (``language = "en"``)."""
    path = directory / "english.toml"
    text = configured_policy(directory).read_text(encoding="utf-8")
    path.write_text(text.replace('language = "ja"', 'language = "en"', 1), encoding="utf-8")
    return path


def test_check_config_prints_the_effective_policy(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(configured_policy(operator_env)), "check-config"]) == 0
    out = capsys.readouterr().out
    assert 'language = "ja"' in out
    assert 'timezone = "Asia/Tokyo"' in out
    assert "mql_monthly_target = 100" in out
    assert "sweep_interval_seconds = 30" in out  # defaults are filled in
    assert "xoxb-secret-token-value" not in out and "signing-secret-value" not in out
    # a fresh database is not migrated yet: said in the policy's language
    assert "sla-bot migrate を実行してください" in out and "run sla-bot migrate" not in out
    assert main(["--config", str(english_policy(operator_env)), "check-config"]) == 0
    assert "run sla-bot migrate" in capsys.readouterr().out


def test_check_config_names_each_bad_key_and_fails(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = operator_env / "broken.toml"
    text = EXAMPLE_POLICY.read_text(encoding="utf-8")
    text = text.replace("min_touches = 5 ", 'min_touches = "five" ')
    text = text.replace('timezone = "Asia/Tokyo"', 'timezone = "Mars/Olympus"')
    broken.write_text(text, encoding="utf-8")
    assert main(["--config", str(broken), "check-config"]) == 2
    err = capsys.readouterr().err
    assert "agreement.min_touches" in err
    assert "calendar.timezone" in err and "Mars/Olympus" in err


def test_check_config_reports_environment_problems_too(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    assert main(["--config", str(EXAMPLE_POLICY), "check-config"]) == 2
    assert "SLACK_SIGNING_SECRET: 必須ですが設定されていません" in capsys.readouterr().err
    assert main(["--config", str(EXAMPLE_POLICY), "check-config", "--language", "en"]) == 2
    assert "SLACK_SIGNING_SECRET: required" in capsys.readouterr().err


def test_dotenv_in_the_working_directory_is_read(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    (operator_env / ".env").write_text("SLACK_SIGNING_SECRET=from-dotenv\n", encoding="utf-8")
    assert main(["--config", str(configured_policy(operator_env)), "check-config"]) == 0
    capsys.readouterr()


def test_migrate_brings_the_database_to_head_and_is_repeatable(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = migrate.head_revision()
    assert main(["--config", str(EXAMPLE_POLICY), "migrate"]) == 0
    # in the language the policy file declares (the example's Japanese); "None" never shown
    upgraded = f"データベースをリビジョン {head} に更新しました（更新前: 空）\n"
    assert capsys.readouterr().out == upgraded
    engine = make_engine(f"sqlite:///{operator_env}/cli.db")
    assert migrate.current_revision(engine) == head
    engine.dispose()
    assert main(["--config", str(EXAMPLE_POLICY), "migrate"]) == 0
    assert capsys.readouterr().out == f"データベースはリビジョン {head} です（最新）\n"
    assert main(["migrate"]) == 0  # no policy file to read a language from: English
    assert capsys.readouterr().out == f"database at revision {head} (already current)\n"


def test_check_config_surfaces_messages_slack_refused_for_good(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime

    from storage.db import make_session_factory
    from storage.models import OutboxStatus
    from storage.unit_of_work import UnitOfWork

    assert main(["migrate"]) == 0
    engine = make_engine(f"sqlite:///{operator_env}/cli.db")
    with UnitOfWork(make_session_factory(engine)) as uow:
        now = datetime(2026, 11, 24, tzinfo=UTC)
        row = uow.outbox.enqueue(key="k", kind="handoff", now=now, payload={}, channel="C0SALES")
        assert row is not None
        row.status, row.last_error = OutboxStatus.FAILED, "not_in_channel"
        uow.commit()
    engine.dispose()
    capsys.readouterr()
    assert main(["--config", str(english_policy(operator_env)), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "outbox: 0 pending, 1 failed" in out
    assert "handoff to C0SALES" in out and "not_in_channel" in out
    assert main(["--config", str(configured_policy(operator_env)), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "送信キュー: 送信待ち 0件、失敗 1件" in out and "C0SALES への handoff" in out
    assert "pending" not in out and "fix the cause" not in out


def test_sweep_runs_one_reminder_pass_for_cron(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert main(["--config", str(english_policy(operator_env)), "sweep"]) == 0
    out = capsys.readouterr().out
    assert re.fullmatch(r"swept 0 leads: 0 reminders, 0 breach notices, 0 skipped; \d+ outbox "
                        r"items? handled; 0 leads re-planned\n", out), out
    assert main(["--config", str(EXAMPLE_POLICY), "sweep"]) == 0  # the policy's language
    out = capsys.readouterr().out
    assert re.fullmatch(r"リード 0件を確認: リマインダー 0件、違反通知 0件、スキップ 0件。"
                        r"送信キュー \d+件を処理。リード 0件の予定を再計算\n", out), out


def test_check_config_refuses_a_webhook_without_its_secret(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = operator_env / "sla.toml"
    policy.write_text(configured_policy(operator_env).read_text(encoding="utf-8")
                      + '\n[outbound_webhook]\nurl = "https://ma.example.com/hooks/sla"\n',
                      encoding="utf-8")
    monkeypatch.delenv("OUTBOUND_WEBHOOK_SECRET", raising=False)
    assert main(["--config", str(policy), "check-config", "--language", "en"]) == 2
    assert "environment: OUTBOUND_WEBHOOK_SECRET: required" in capsys.readouterr().err
    monkeypatch.setenv("OUTBOUND_WEBHOOK_SECRET", "0123456789abcdef0123")
    assert main(["--config", str(policy), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "OUTBOUND_WEBHOOK_SECRET = 設定済み" in out and "0123456789abcdef0123" not in out


@pytest.mark.parametrize(
    "argv",
    [
        ["sweep"],
        ["digest", "--dry-run"],
        ["digest", "--week", "2026-W47"],
        ["report", "--month", "2026-11"],
        ["report"],
        ["import", "--dry-run", str(ROOT / "samples" / "leads.csv")],
        ["run", "--no-migrate"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_every_command_on_an_unmigrated_database_answers_one_line(
    operator_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """SPEC 8: one clean line and exit 2, never a traceback about a missing table; in the
    policy's language."""
    assert main(["--config", str(english_policy(operator_env)), *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("the database schema is not current: run sla-bot migrate first")
    assert "Traceback" not in captured.out + captured.err
    assert main(["--config", str(configured_policy(operator_env)), *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("データベースのスキーマが最新ではありません。")


def test_an_unreachable_database_is_one_line_without_the_url(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{operator_env}/no/such/dir/x.db")
    assert main(["--config", str(english_policy(operator_env)), "sweep"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the database cannot be used" in err
    assert "no/such/dir" not in err
    assert main(["--config", str(EXAMPLE_POLICY), "sweep"]) == 2  # the policy's language
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "データベースを使えません" in err and "no/such/dir" not in err


SECRETS = ("pw-SECRET-1", "SECRET-2", "SECRET-3", "SECRET-4", "SECRET-5", "SECRET-6")


def _no_secret(text: str) -> None:
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, f"{leaked} printed"


def test_check_config_hides_every_credential_inside_urls(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "DATABASE_URL",
        "postgresql://sla:pw-SECRET-1@127.0.0.1:1/nowhere?sslpassword=SECRET-2&sslmode=require",
    )
    monkeypatch.setenv("SLACK_API_URL", "https://proxy:SECRET-3@slack.example.com/api/?token=SECRET-4")
    monkeypatch.setenv("HUBSPOT_API_URL", "https://u:SECRET-5@hubspot.example.com?hapikey=SECRET-6")
    policy = operator_env / "sla.toml"
    base = configured_policy(operator_env).read_text(encoding="utf-8")
    policy.write_text(base + '\n[outbound_webhook]\n'
                      'url = "https://ma.example.com/hooks?access_token=SECRET-2"\n',
                      encoding="utf-8")
    monkeypatch.setenv("OUTBOUND_WEBHOOK_SECRET", "0123456789abcdef0123")
    assert main(["--config", str(policy), "check-config"]) == 0
    captured = capsys.readouterr()
    _no_secret(captured.out + captured.err)
    out = captured.out
    assert "DATABASE_URL = postgresql+psycopg://sla:***@127.0.0.1:1/nowhere?" in out
    assert "sslmode=require" in out and "sslpassword=***" in out
    assert "SLACK_API_URL = https://slack.example.com/api/?token=***" in out
    assert "HUBSPOT_API_URL = https://hubspot.example.com?hapikey=***" in out
    assert 'url = "https://ma.example.com/hooks?access_token=***"' in out


@pytest.mark.parametrize("url", [
    "postgresql://sla:pw-SECRET-1@SECRET-2@127.0.0.1/db",  # an unencoded @ in the password
    "postgresql://sla:pw-SECRET-1@127.0.0.1:SECRET-2@x/db",  # …and one that breaks the port
])
@pytest.mark.parametrize("command", [["check-config"], ["migrate"], ["run"]])
def test_an_unparseable_database_url_is_one_clean_line_without_the_secret(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    url: str, command: list[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["--config", str(EXAMPLE_POLICY), *command]) == 2
    captured = capsys.readouterr()
    _no_secret(captured.out + captured.err)
    assert "Traceback" not in captured.err
    lines = [line for line in captured.err.splitlines() if "DATABASE_URL" in line]
    assert len(lines) == 1 and "URLを解釈できません" in lines[0] and "%40" in lines[0]


def test_a_bad_api_url_is_named_without_its_credentials(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLACK_API_URL", "ftp://proxy:SECRET-3@slack.example.com/?token=SECRET-4")
    monkeypatch.setenv("HUBSPOT_API_URL", "proxy:SECRET-5@hubspot.example.com")
    assert main(["--config", str(EXAMPLE_POLICY), "migrate"]) == 2
    err = capsys.readouterr().err
    _no_secret(err)
    assert "SLACK_API_URL: http:// または https:// で始まるURL" in err and "HUBSPOT_API_URL" in err


def test_a_previous_intake_token_is_shown_as_set_and_needs_the_new_one(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INTAKE_TOKEN_PREVIOUS", "old-intake-SECRET-6")
    monkeypatch.delenv("INTAKE_TOKEN", raising=False)
    assert main(["--config", str(EXAMPLE_POLICY), "check-config"]) == 2
    err = capsys.readouterr().err
    assert "INTAKE_TOKEN_PREVIOUS: INTAKE_TOKEN（新しいトークン）が設定されていません" in err
    _no_secret(err)
    monkeypatch.setenv("INTAKE_TOKEN", "new-intake-SECRET-5")
    assert main(["--config", str(configured_policy(operator_env)), "check-config"]) == 0
    captured = capsys.readouterr()
    assert "INTAKE_TOKEN_PREVIOUS = 設定済み（削除するまで、こちらも受け付けます）" in captured.out
    _no_secret(captured.out + captured.err)


@pytest.mark.parametrize("socket_mode", [False, True])
def test_run_says_what_to_do_next_once_it_serves(
    operator_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    socket_mode: bool,
) -> None:
    """SPEC 8: the Request URL to paste (or Socket Mode), and sla-bot doctor."""
    import handlers.server

    def serve_once(server: handlers.server.BotServer, on_started: Any = None) -> None:
        """``run_until_signalled`` without waiting for a signal, and without dialling Slack's
        Socket Mode (no network here): the settings keep the app token for what is printed."""
        settings = server.services.settings
        server.services.settings = dataclasses.replace(settings, slack_app_token=None)
        server.start()
        server.services.settings = settings
        try:
            on_started(server)
        finally:
            server.stop()

    monkeypatch.setattr(handlers.server, "run_until_signalled", serve_once)
    monkeypatch.setenv("PORT", "0")
    monkeypatch.setenv("HOST", "127.0.0.1")
    if socket_mode:
        monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-test")
    assert main(["--config", str(configured_policy(operator_env)), "run"]) == 0
    japanese = capsys.readouterr().out  # the policy's language
    assert "/healthz が応答します" in japanese and "sla-bot doctor" in japanese
    assert ("ソケットモード" if socket_mode else "このサーバーの公開アドレス") in japanese
    assert "answers" not in japanese and "Next:" not in japanese
    assert main(["--config", str(english_policy(operator_env)), "run"]) == 0
    out = capsys.readouterr().out
    assert "/healthz answers" in out
    assert ".venv/bin/sla-bot doctor" in out
    if socket_mode:
        assert "Socket Mode" in out and "/slack/events" not in out
    else:
        assert "https://<the public address of this server>/slack/events" in out
        assert "Retry" in out


def test_the_printed_healthz_address_opens_on_this_machine() -> None:
    assert healthz_url("0.0.0.0", 3000) == "http://localhost:3000/healthz"
    assert healthz_url("::", 3000) == "http://localhost:3000/healthz"
    assert healthz_url("127.0.0.1", 8080) == "http://127.0.0.1:8080/healthz"
    assert healthz_url("::1", 3000) == "http://[::1]:3000/healthz"


def test_output_piped_into_a_reader_that_stops_early_ends_quietly(operator_env: Path) -> None:
    """``sla-bot preview | head -3``: no BrokenPipeError traceback once ``head`` has exited
    (here the reader is gone before the command writes at all)."""
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "handlers.cli", "preview", "--policy", str(EXAMPLE_POLICY),
             "--at", "2027-01-08T17:30"],
            cwd=operator_env, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
