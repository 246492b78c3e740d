"""The ``sla-bot`` command line as an operator uses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.cli import main
from storage import migrate
from storage.db import make_engine
from tests.conftest import EXAMPLE_POLICY, ROOT


def test_check_config_prints_the_effective_policy(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(EXAMPLE_POLICY), "check-config"]) == 0
    out = capsys.readouterr().out
    assert 'language = "ja"' in out
    assert 'timezone = "Asia/Tokyo"' in out
    assert "mql_monthly_target = 100" in out
    assert "sweep_interval_seconds = 30" in out  # defaults are filled in
    assert "xoxb-secret-token-value" not in out and "signing-secret-value" not in out
    assert "run sla-bot migrate" in out  # a fresh database is not migrated yet


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
    assert "SLACK_SIGNING_SECRET: required" in capsys.readouterr().err


def test_dotenv_in_the_working_directory_is_read(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    (operator_env / ".env").write_text("SLACK_SIGNING_SECRET=from-dotenv\n", encoding="utf-8")
    assert main(["--config", str(EXAMPLE_POLICY), "check-config"]) == 0
    capsys.readouterr()


def test_migrate_brings_the_database_to_head_and_is_repeatable(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0
    assert "(was None)" in capsys.readouterr().out
    engine = make_engine(f"sqlite:///{operator_env}/cli.db")
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()
    assert main(["migrate"]) == 0
    assert "was" not in capsys.readouterr().out


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
    assert main(["--config", str(EXAMPLE_POLICY), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "outbox: 0 pending, 1 failed" in out
    assert "handoff to C0SALES" in out and "not_in_channel" in out


def test_sweep_runs_one_reminder_pass_for_cron(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert main(["--config", str(EXAMPLE_POLICY), "sweep"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("swept 0 lead(s): 0 reminder(s), 0 breach notice(s), 0 skipped")


def test_check_config_refuses_a_webhook_without_its_secret(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = operator_env / "sla.toml"
    policy.write_text(EXAMPLE_POLICY.read_text(encoding="utf-8")
                      + '\n[outbound_webhook]\nurl = "https://ma.example.com/hooks/sla"\n',
                      encoding="utf-8")
    monkeypatch.delenv("OUTBOUND_WEBHOOK_SECRET", raising=False)
    assert main(["--config", str(policy), "check-config"]) == 2
    assert "environment: OUTBOUND_WEBHOOK_SECRET: required" in capsys.readouterr().err
    monkeypatch.setenv("OUTBOUND_WEBHOOK_SECRET", "0123456789abcdef0123")
    assert main(["--config", str(policy), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "OUTBOUND_WEBHOOK_SECRET = set" in out and "0123456789abcdef0123" not in out


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
    """SPEC 8: one clean line and exit 2, never a traceback about a missing table."""
    assert main(["--config", str(EXAMPLE_POLICY), *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("the database schema is not current: run sla-bot migrate first")
    assert "Traceback" not in captured.out + captured.err


def test_an_unreachable_database_is_one_line_without_the_url(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{operator_env}/no/such/dir/x.db")
    assert main(["--config", str(EXAMPLE_POLICY), "sweep"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the database cannot be used" in err
    assert "no/such/dir" not in err
