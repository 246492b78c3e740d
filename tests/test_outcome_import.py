"""``sla-bot import-outcomes FILE.csv``: deal outcomes from a CRM export, row by row (SPEC 10)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.clock import ManualClock
from bot.csv_import import CsvFileError
from bot.outcome_import import RowOutcome, import_outcomes
from bot.policy import Policy
from bot.services import Services
from handlers import cli
from handlers.cli import main
from storage.db import make_engine, make_session_factory
from storage.models import Lead, LeadStatus
from tests.harness import FakeSlack
from tests.harness.bot_env import make_services
from tests.harness.databases import Database
from tests.harness.leads import lead_row, make_lead, row_counts
from tests.harness.policies import EXAMPLE_POLICY

HEADER = "external_id,outcome,amount,currency,closed_at,reason,note,deal_id"
FILE = "\n".join([
    HEADER,
    'crm-1,won,"1,200,000",JPY,2026-11-20,,,deal-1',         # line 2: recorded
    "crm-2,lost,,,2026-11-21T10:00:00+09:00,Price,too dear,",  # line 3: recorded
    "crm-1,won,1200000,JPY,,,,deal-1",                         # line 4: duplicate
    "nobody,won,,,,,,",                                        # line 5: unknown lead
    "crm-posted,lost,,,,,,",                                   # line 6: not an SQL
    "crm-3,won,12.5,JPY,,,,",                                  # line 7: rejected (yen)
    "crm-3,won,lots,JPY,2026-13-45,,,",                        # line 8: rejected (two)
    "crm-3,closed,,,,,,",                                      # line 9: rejected
]) + "\n"


@pytest.fixture
def services(fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock) -> Services:
    return make_services(fake_slack, db, policy, clock)


def sqls(services: Services) -> dict[str, int]:
    ids = {key: make_lead(services, key) for key in ("crm-1", "crm-2", "crm-3")}
    ids["crm-posted"] = make_lead(services, "crm-posted", converted=False,
                                  status=LeadStatus.POSTED)
    return ids


def test_each_row_is_recorded_or_answered_and_bad_rows_are_skipped(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    services = make_services(fake_slack, db, policy.model_copy(update={"language": "en"}), clock)
    ids = sqls(services)
    calls: list[tuple[int, int]] = []
    report = import_outcomes(services, io.StringIO(FILE),
                             progress=lambda done, total: calls.append((done, total)))
    assert [(r.line, r.outcome) for r in report.rows] == [
        (2, RowOutcome.RECORDED), (3, RowOutcome.RECORDED), (4, RowOutcome.DUPLICATE),
        (5, RowOutcome.UNKNOWN_LEAD), (6, RowOutcome.NOT_CONVERTED), (7, RowOutcome.REJECTED),
        (8, RowOutcome.REJECTED), (9, RowOutcome.REJECTED)]
    assert calls == [(n, 8) for n in range(9)]
    assert report.exit_code == 1
    assert report.language == services.policy.language == "en"
    assert report.lines() == [
        "line 4 (crm-1): duplicate: already recorded, nothing changed",
        "line 5 (nobody): no such lead, nothing recorded",
        "line 6 (crm-posted): the lead was never converted to SQL, nothing recorded",
        "line 7 (crm-3): rejected: amount: must be a whole number in JPY",
        "line 8 (crm-3): rejected: amount: must be a number, e.g. 1200000; "
        "closed_at: must be a real date, e.g. 2026-11-20",
        "line 9 (crm-3): rejected: outcome: Input should be 'won', 'lost' or 'open'",
        "8 rows: 2 recorded, 1 duplicate, 1 unknown lead, 1 not an SQL, 3 rejected",
    ]
    won = lead_row(services, ids["crm-1"])
    assert (won.status, won.deal_amount, won.deal_currency, won.outcome_source) == (
        LeadStatus.WON, Decimal(1200000), "JPY", "csv")
    # a date alone: the start of that day in the policy's time zone (Asia/Tokyo)
    assert won.closed_at == datetime(2026, 11, 19, 15, 0, tzinfo=UTC)
    lost = lead_row(services, ids["crm-2"])
    assert (lost.status, lost.loss_reason, lost.loss_note) == (
        LeadStatus.LOST, "price", "too dear")
    assert lead_row(services, ids["crm-3"]).status == LeadStatus.CONVERTED

    before = row_counts(services)
    again = import_outcomes(services, io.StringIO(FILE))
    assert again.count(RowOutcome.DUPLICATE) == 3 and again.count(RowOutcome.RECORDED) == 0
    assert row_counts(services) == before, "a file imported twice records nothing new"


def test_the_summary_speaks_the_policy_language(services: Services) -> None:
    sqls(services)
    report = import_outcomes(services, io.StringIO(FILE))
    assert report.lines()[-1] == (
        "8行: 記録 2件、重複 1件、該当リードなし 1件、SQL 化されていない 1件、却下 3件")
    assert report.lines()[0] == "4行目（crm-1）: 重複（記録済みのため、何も変更していません）"
    # a rejected row's problems too, field names as in the file
    assert report.lines()[3:6] == [
        "7行目（crm-3）: 却下: amount: JPYの金額は整数で指定してください",
        "8行目（crm-3）: 却下: amount: 1200000 のような数値で指定してください。"
        "closed_at: 2026-11-20 のような実在する日付で指定してください",
        "9行目（crm-3）: 却下: outcome: 次のいずれかで指定してください: 'won', 'lost', 'open'",
    ]


@pytest.mark.parametrize(("header", "problem"), [
    ("external_id,outcome,ammount", "unknown columns: ammount"),
    ("external_id,amount", "missing required column: outcome"),
    ("outcome,amount", "missing required column: external_id (or lead_id)"),
    ("external_id,outcome,Outcome", "repeated column: outcome"),
])
def test_a_file_with_a_bad_header_is_refused_whole(
    services: Services, header: str, problem: str
) -> None:
    sqls(services)
    before = row_counts(services)
    with pytest.raises(CsvFileError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        import_outcomes(services, io.StringIO(f"{header}\ncrm-1,won,5\n"))
    assert row_counts(services) == before


# --------------------------------------------------------------------------- command line


@pytest.fixture
def cli_env(operator_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(
        cli, "SystemClock", lambda: ManualClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC)))
    return operator_env


def converted_in(database: Path, *external_ids: str) -> None:
    """SQLs in the CLI's database, as the bot would have left them."""
    engine = make_engine(f"sqlite:///{database}")
    now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    try:
        with make_session_factory(engine)() as session:
            for external_id in external_ids:
                session.add(Lead(
                    external_id=external_id, source="webinar", status=LeadStatus.CONVERTED,
                    qualified_at=now - timedelta(days=3), received_at=now - timedelta(days=3),
                    contact_name="Sato Hanako", updated_at=now, decided_at=now))
            session.commit()
    finally:
        engine.dispose()


def test_cli_records_outcomes_with_per_row_results_and_exit_codes(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0
    converted_in(cli_env / "cli.db", "crm-1", "crm-2")
    good = cli_env / "good.csv"
    good.write_text("\ufeff" + HEADER + "\ncrm-1,won,1200000,JPY,,,,deal-1\n"
                    "crm-2,lost,,,,competitor,secret note,\n", encoding="utf-8")
    config = ["--config", str(EXAMPLE_POLICY), "import-outcomes", "--language", "en"]
    assert main([*config, str(good)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == (
        "2 rows: 2 recorded, 0 duplicate, 0 unknown lead, 0 not an SQL, 0 rejected")
    assert "secret note" not in out
    engine = make_engine(f"sqlite:///{cli_env / 'cli.db'}")
    try:
        with engine.connect() as connection:
            statuses = dict(connection.execute(select(Lead.external_id, Lead.status)).all())
    finally:
        engine.dispose()
    assert statuses == {"crm-1": "won", "crm-2": "lost"}

    assert main([*config, "--quiet", str(good)]) == 0  # duplicates are not failures
    assert "2 duplicate" in capsys.readouterr().out
    bad = cli_env / "bad.csv"
    bad.write_text(HEADER + "\ncrm-1,won,-5,JPY,,,,\n", encoding="utf-8")
    assert main([*config, str(bad)]) == 1
    assert "line 2 (crm-1): rejected: amount: must not be negative" in capsys.readouterr().out
    headless = cli_env / "headless.csv"
    headless.write_text("external_id,amount\ncrm-1,5\n", encoding="utf-8")
    assert main([*config, str(headless)]) == 2
    assert "missing required column: outcome" in capsys.readouterr().err
    assert main([*config, str(cli_env / "nowhere.csv")]) == 2
    assert "cannot read it" in capsys.readouterr().err
