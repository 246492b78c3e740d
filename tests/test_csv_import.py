"""``sla-bot import leads.csv``: rows take the webhook's intake path, each reported by line."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, inspect, select, table, text

from bot.clock import ManualClock
from bot.csv_import import CsvFileError, ImportReport, Outcome, import_csv, read_csv
from bot.i18n import Translator
from bot.policy import Policy
from bot.services import Services
from handlers import cli
from handlers.cli import main
from storage.models import Lead, LeadEvent, LeadStatus, OutboxMessage
from storage.repositories import History
from tests.harness import FakeSlack
from tests.harness.bot_env import make_services
from tests.harness.databases import Database
from tests.harness.policies import EXAMPLE_POLICY
from tests.harness.settings import ROOT

SAMPLE = ROOT / "samples" / "leads.csv"
#: Each data line of samples/leads.csv and what importing it into an empty database does.
SAMPLE_OUTCOMES = {
    2: ("csv-1001", Outcome.ACCEPTED),  # Japanese lead, JSON activities column
    3: ("csv-1002", Outcome.ACCEPTED),  # activity_N_* groups, empty source → "csv"
    4: ("csv-1003", Outcome.ACCEPTED),  # a quoted detail spanning lines 4-5
    6: ("csv-1004", Outcome.NOT_QUALIFIED),
    7: ("csv-1001", Outcome.DUPLICATE),
    8: ("csv-1005", Outcome.REJECTED),  # qualified_at without a UTC offset
    9: ("csv-1006", Outcome.REJECTED),  # no contact_name, employees "about 300"
    10: ("csv-1007", Outcome.ACCEPTED),
}
SAMPLE_SUMMARY = "8 rows: 4 accepted, 1 duplicate, 1 not qualified, 2 rejected"
#: the same, as the example policy (Japanese) has the importer say it
SAMPLE_SUMMARY_JA = "8行: 受け付け 4件、重複 1件、対象外 1件、却下 2件"
HEADER = (
    "external_id,source,qualified_at,contact_name,contact_email,contact_title,contact_phone,"
    "company_name,company_industry,company_employees,company_domain,score"
)
#: A qualifying row under sla.example.toml, for HEADER plus an ``activities`` column.
GOOD_CELLS = (
    "2026-11-24T09:12:00+09:00,Sato Hanako,hanako@example.co.jp,営業部長,+81-3-0000-0000,"
    "Example KK,manufacturing,250,example.co.jp,72"
)
ACTIVITIES_JSON = (
    '"[{""type"": ""page_view"", ""at"": ""2026-11-20T10:01:00+09:00"", ""detail"": ""/pricing""}'
    ', {""type"": ""webinar"", ""at"": ""2026-11-22T14:00:00+09:00"", ""detail"": ""SLA 101""}]"'
)
ACTIVITY_GROUPS = (
    "page_view,2026-11-20T10:01:00+09:00,/pricing,webinar,2026-11-22T14:00:00+09:00,SLA 101"
)
GROUP_HEADER = (
    "activity_1_type,activity_1_at,activity_1_detail,activity_2_type,activity_2_at,"
    "activity_2_detail"
)


@pytest.fixture
def import_services(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> Services:
    """Services on each database kind (PostgreSQL skipped without TEST_DATABASE_URL)."""
    return make_services(fake_slack, db, policy, clock)


def english(services: Services) -> Services:
    """The same services under the policy answering in English (the example's is Japanese)."""
    return dataclasses.replace(services, policy=services.policy.model_copy(
        update={"language": "en"}))


def outcomes(report: ImportReport) -> dict[int, tuple[str | None, Outcome]]:
    return {row.line: (row.external_id, row.outcome) for row in report.rows}


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows in every table of the schema, to prove an operation wrote nothing."""
    names = inspect(engine).get_table_names()
    with engine.connect() as connection:
        return {
            name: connection.execute(select(func.count()).select_from(table(name))).scalar_one()
            for name in names
        }


def write(path: Path, lines: list[str], *, bom: bool = False, newline: str = "\n") -> Path:
    data = newline.join(lines) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data.encode("utf-8"))
    return path


def stored(services: Services, external_id: str) -> Lead:
    with services.unit_of_work() as uow:
        lead = uow.leads.by_external_id(external_id, history=History.ALL)
        assert lead is not None
        uow.session.expunge(lead)
        return lead


def activity_rows(lead: Lead) -> list[tuple[str, datetime, str | None, dict]]:
    return sorted((a.type, a.at, a.detail, a.extra) for a in lead.activities)


# --- the sample file, end to end ---------------------------------------------------------------


def test_the_sample_shows_every_outcome_and_stores_only_what_it_accepts(
    import_services: Services, db: Database
) -> None:
    report = import_csv(import_services, SAMPLE)

    assert outcomes(report) == SAMPLE_OUTCOMES
    assert report.summary() == SAMPLE_SUMMARY_JA
    assert report.exit_code == 1
    detail = {row.line: row.detail for row in report.rows}  # the policy's language: Japanese
    assert detail[8] == (
        "qualified_at: UTC オフセット付きの ISO 8601 形式の日時で指定してください"
        "（例: 2026-11-24T09:12:00+09:00）"
    )
    assert detail[9] == (
        "contact_name: 必須です。company_employees: 250 のような整数で指定してください"
    )
    assert "スコア 10 は基準の30に届きません" in detail[6]
    assert "従業員数 20名は下限の50名に届きません" in detail[6] and "score" not in detail[6]
    assert "として登録済みです" in detail[7]

    with import_services.unit_of_work() as uow:
        leads = {lead.external_id: lead for lead in uow.session.scalars(select(Lead))}
        statuses = {key: lead.status for key, lead in leads.items()}
        outbox = {row.lead_id for row in uow.session.scalars(select(OutboxMessage))}
        surfaces = set(uow.session.scalars(select(LeadEvent.surface)))
        ids = {key: lead.id for key, lead in leads.items()}
    accepted = {"csv-1001", "csv-1002", "csv-1003", "csv-1007"}
    # accept() keeps a not-qualified lead (for the monthly review) but queues no handoff for it
    assert set(statuses) == accepted | {"csv-1004"}
    assert statuses["csv-1004"] == LeadStatus.NOT_QUALIFIED
    assert all(statuses[key] != LeadStatus.NOT_QUALIFIED for key in accepted)
    assert outbox == {ids[key] for key in accepted}
    assert surfaces == {"csv"}

    first = stored(import_services, "csv-1001")
    assert first.contact_title == "営業部長" and first.company_employees == 250
    assert first.score == 72  # the duplicate on line 7 (score 75) changed nothing
    assert first.extra == {"campaign": "2026-autumn-webinar"}
    assert [a.type for a in first.activities] == ["webinar", "download", "page_view"]
    second = stored(import_services, "csv-1002")
    assert second.source == "csv" and second.extra == {} and second.tier == "hot"
    third = stored(import_services, "csv-1003")
    assert third.activities[0].detail == "SLA入門ウェビナー\n第2回（質疑応答あり）"

    before = row_counts(db.engine)
    again = import_csv(import_services, SAMPLE)
    assert {line: outcome for line, (_, outcome) in outcomes(again).items()} == {
        line: (Outcome.REJECTED if outcome == Outcome.REJECTED else Outcome.DUPLICATE)
        for line, (_, outcome) in SAMPLE_OUTCOMES.items()
    }
    assert again.summary() == "8行: 受け付け 0件、重複 6件、対象外 0件、却下 2件"
    assert row_counts(db.engine) == before


def test_a_dry_run_writes_nothing_and_reports_what_the_import_then_does(
    import_services: Services, db: Database
) -> None:
    before = row_counts(db.engine)
    assert before["leads"] == 0

    dry = import_csv(import_services, SAMPLE, dry_run=True)

    assert row_counts(db.engine) == before
    assert outcomes(dry) == SAMPLE_OUTCOMES
    assert dry.summary() == SAMPLE_SUMMARY_JA + "（ドライラン: 何も書き込んでいません）"
    real = import_csv(import_services, SAMPLE)
    assert outcomes(real) == outcomes(dry)
    reasons = {row.line: row.detail for row in real.rows if row.outcome != Outcome.DUPLICATE}
    assert reasons == {row.line: row.detail for row in dry.rows if row.outcome != "duplicate"}

    # Against a database that already holds them, a dry run sees the duplicates too.
    after = row_counts(db.engine)
    redo = import_csv(import_services, SAMPLE, dry_run=True)
    assert row_counts(db.engine) == after
    assert outcomes(redo) == outcomes(import_csv(import_services, SAMPLE))
    assert redo.summary().startswith("8行: 受け付け 0件、重複 6件、対象外 0件")


# --- activities --------------------------------------------------------------------------------


def test_both_activity_styles_store_the_same_activities(
    import_services: Services, tmp_path: Path
) -> None:
    json_file = write(tmp_path / "json.csv", [
        HEADER + ",activities",
        f"json-1,hubspot,{GOOD_CELLS},{ACTIVITIES_JSON}",
    ])
    groups_file = write(tmp_path / "groups.csv", [
        HEADER + "," + GROUP_HEADER + ",activity_3_type,activity_3_at,activity_3_detail",
        f"groups-1,hubspot,{GOOD_CELLS},{ACTIVITY_GROUPS},,,",  # group 3 empty: ignored
    ])

    assert [r.outcome for r in import_csv(import_services, json_file).rows] == ["accepted"]
    assert [r.outcome for r in import_csv(import_services, groups_file).rows] == ["accepted"]

    from_json = activity_rows(stored(import_services, "json-1"))
    from_groups = activity_rows(stored(import_services, "groups-1"))
    assert from_json == from_groups
    assert [(kind, detail) for kind, _, detail, _ in from_json] == [
        ("page_view", "/pricing"), ("webinar", "SLA 101")
    ]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ('"[{""type"": ""page_view"",}]"', "activities: not valid JSON"),
        ('"{""type"": ""page_view""}"', "activities: must be a JSON array"),
        (
            '"[{""type"": ""page_view"", ""at"": ""2026-11-20T10:01:00""}]"',
            "activities (item 1, at): must be an ISO 8601 timestamp with a UTC offset",
        ),
    ],
)
def test_a_bad_activities_column_rejects_the_row_naming_it(
    services: Services, tmp_path: Path, cell: str, message: str
) -> None:
    path = write(tmp_path / "bad.csv", [HEADER + ",activities", f"x-1,hubspot,{GOOD_CELLS},{cell}"])

    (row,) = import_csv(english(services), path).rows

    assert (row.line, row.outcome) == (2, Outcome.REJECTED)
    assert row.detail.startswith(message)


def test_a_partial_activity_group_names_its_columns_and_both_styles_at_once_is_refused(
    services: Services, tmp_path: Path
) -> None:
    path = write(tmp_path / "groups.csv", [
        HEADER + ",activities," + GROUP_HEADER,
        f"x-1,hubspot,{GOOD_CELLS},,,,,webinar,,SLA 101",
        f"x-2,hubspot,{GOOD_CELLS},{ACTIVITIES_JSON},{ACTIVITY_GROUPS}",
    ])

    first, second = import_csv(english(services), path).rows

    assert first.detail == "activity_2_at: required"
    assert second.detail == (
        "activities: give activities either in this column or in activity_N_* columns, not both"
    )


# --- cells and columns -------------------------------------------------------------------------


def test_integers_are_converted_and_a_non_integer_names_its_column(
    services: Services, tmp_path: Path
) -> None:
    base = "2026-11-24T09:12:00+09:00,Sato,,営業部長,,Example KK,manufacturing"
    path = write(tmp_path / "numbers.csv", [
        HEADER + ",activities",
        f"n-1,hubspot,{base}, 250 ,example.co.jp,７２,{ACTIVITIES_JSON}",
        f"n-2,hubspot,{base},many,example.co.jp,7.5,{ACTIVITIES_JSON}",
        f"n-3,hubspot,{base},-3,example.co.jp,,{ACTIVITIES_JSON}",
    ])

    ok, bad, negative = import_csv(english(services), path).rows

    assert ok.outcome == Outcome.ACCEPTED
    lead = stored(services, "n-1")
    assert (lead.company_employees, lead.score) == (250, 72)
    assert bad.outcome == Outcome.REJECTED
    assert bad.detail == (
        "company_employees: must be a whole number, e.g. 250; "
        "score: must be a whole number, e.g. 250"
    )
    assert negative.outcome == Outcome.REJECTED
    assert negative.detail.startswith("company_employees: Input should be greater than")


def test_empty_cells_are_not_given_extra_columns_are_kept_and_source_defaults_to_csv(
    services: Services, tmp_path: Path
) -> None:
    path = write(tmp_path / "extras.csv", [
        "External_ID , qualified_at,contact_name,utm_campaign,activities,,",
        f"e-1,2026-11-24T09:00:00+09:00,Sato,,{ACTIVITIES_JSON},,",
        "e-2,2026-11-24T09:00:00+09:00,Sato,spring,,,",
    ])

    first, second = import_csv(services, path).rows

    assert first.outcome == second.outcome == Outcome.NOT_QUALIFIED  # no title, size, score
    one, two = stored(services, "e-1"), stored(services, "e-2")
    assert one.source == two.source == "csv"
    assert one.extra == {} and two.extra == {"utm_campaign": "spring"}
    assert one.contact_email is None and one.company_name is None and one.score is None
    assert len(one.activities) == 2 and two.activities == []


def test_a_row_longer_than_the_header_is_rejected_and_blank_lines_are_skipped(
    services: Services, tmp_path: Path
) -> None:
    path = write(tmp_path / "ragged.csv", [
        "external_id,qualified_at,contact_name",
        "r-1,2026-11-24T09:00:00+09:00,Sato,surprise",
        "",
        ",,",
        "r-2,2026-11-24T09:00:00+09:00",
    ])

    rows = import_csv(english(services), path).rows

    assert [(r.line, r.outcome, r.detail) for r in rows] == [
        (2, Outcome.REJECTED, "(row): has 4 cells but the header has 3"),
        (5, Outcome.REJECTED, "contact_name: required"),
    ]
    rows = import_csv(services, path).rows  # the policy's language
    assert [r.detail for r in rows] == ["(row): セルが4個ありますが、ヘッダーは3列です",
                                        "contact_name: 必須です"]


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("external_id,source,contact_name", "missing required columns: qualified_at"),
        ("id,when,who", "missing required columns: external_id, qualified_at, contact_name"),
        ("external_id,qualified_at,contact_name,Score,score", "repeated columns: score"),
        ("external_id,qualified_at,contact_name,contact", "reserved column names: contact"),
    ],
)
def test_a_header_that_cannot_work_refuses_the_file(
    tmp_path: Path, header: str, named: str
) -> None:
    path = write(tmp_path / "header.csv", [header, "a,b,c"])
    with pytest.raises(CsvFileError) as error:
        read_csv(path)
    assert named in str(error.value)


def test_excel_utf8_with_bom_and_crlf_is_read_like_any_file(
    services: Services, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "excel.csv",
        [
            HEADER + ",activities",
            f"bom-1,hubspot,{GOOD_CELLS},{ACTIVITIES_JSON}",
            "bom-2,hubspot,2026-11-24T09:12:00,Sato,,,,,,,,",
        ],
        bom=True,
        newline="\r\n",
    )

    rows = import_csv(services, path).rows

    assert [(r.line, r.external_id, r.outcome) for r in rows] == [
        (2, "bom-1", Outcome.ACCEPTED),
        (3, "bom-2", Outcome.REJECTED),
    ]
    assert stored(services, "bom-1").extra == {}  # no "\ufeffexternal_id" column


def test_a_text_stream_works_too_and_progress_is_reported(services: Services) -> None:
    stream = io.StringIO(
        "\ufeffexternal_id,qualified_at,contact_name\r\n"
        "s-1,2026-11-24T09:00:00+09:00,Sato\r\n"
        "s-2,2026-11-24T09:00:00+09:00,Suzuki\r\n"
    )
    calls: list[tuple[int, int]] = []

    report = import_csv(services, stream, progress=lambda done, total: calls.append((done, total)))

    assert [r.outcome for r in report.rows] == [Outcome.NOT_QUALIFIED] * 2
    assert calls == [(0, 2), (1, 2), (2, 2)]


def test_a_quoted_multi_line_cell_keeps_the_line_numbers_right(
    services: Services, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "multiline.csv",
        [
            "external_id,qualified_at,contact_name,notes",
            'm-1,2026-11-24T09:00:00+09:00,Sato,"first line',
            "second line",
            'third line"',
            "m-2,2026-11-24T09:00:00,Suzuki,",
            'm-3,2026-11-24T09:00:00+09:00,,"a\r\nb"',
            "m-4,not a time,Tanaka,",
        ],
        newline="\r\n",
    )

    rows = import_csv(services, path).rows

    assert [(r.line, r.external_id, r.outcome) for r in rows] == [
        (2, "m-1", Outcome.NOT_QUALIFIED),
        (5, "m-2", Outcome.REJECTED),
        (6, "m-3", Outcome.REJECTED),
        (8, "m-4", Outcome.REJECTED),
    ]
    assert stored(services, "m-1").extra == {"notes": "first line\r\nsecond line\r\nthird line"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        ("external_id,qualified_at\n甲,乙\n".encode("shift_jis"), "not UTF-8"),
        ("external_id\n".encode("utf-16"), "UTF-16"),
        (b"external_id,qualified_at,contact_name\n\"x\x00\",y,z\n", "NUL"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(
    tmp_path: Path, data: bytes, message: str
) -> None:
    path = tmp_path / "unreadable.csv"
    path.write_bytes(data)
    with pytest.raises(CsvFileError, match=message):
        read_csv(path)
    with pytest.raises(CsvFileError, match="cannot read"):
        read_csv(tmp_path / "missing.csv")


# --- the command line --------------------------------------------------------------------------


@pytest.fixture
def cli_env(operator_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI environment, with the CLI's clock pinned to the test clock's instant.

    The sample's activities are dated around 24 Nov 2026; pinning keeps them inside the 90-day
    behaviour window whenever the suite runs.
    """
    monkeypatch.setattr(
        cli, "SystemClock", lambda: ManualClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    )
    return operator_env


def run_import(*args: str, language: str = "en") -> int:
    """``sla-bot import`` on the example policy, in English unless ``language`` says."""
    return main(["--config", str(EXAMPLE_POLICY), "import", "--language", language, *args])


def cli_leads(cli_env: Path) -> int:
    from storage.db import make_engine

    engine = make_engine(f"sqlite:///{cli_env}/cli.db")
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM leads")).scalar_one()
    finally:
        engine.dispose()


def test_cli_imports_the_sample_and_prints_no_personal_data(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_import(str(SAMPLE)) == 1  # the sample has rejected rows
    captured = capsys.readouterr()
    out = captured.out
    assert out.splitlines()[-1] == SAMPLE_SUMMARY
    assert "line 8 (csv-1005): rejected: qualified_at: must be an ISO 8601" in out
    assert "line 9 (csv-1006): rejected: contact_name: required" in out
    assert "line 6 (csv-1004): not qualified: " in out
    assert "line 7 (csv-1001): duplicate" in out
    assert "line 2 " not in out  # accepted rows need no line of their own
    sample = SAMPLE.read_text(encoding="utf-8")
    for private in ("@example", "+81-", "+1-555", "+44-", "佐藤", "Jane Doe", "Maria Garcia"):
        assert private in sample
        assert private not in captured.out and private not in captured.err
    assert cli_leads(cli_env) == 5

    assert run_import("--quiet", str(SAMPLE)) == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        "8 rows: 0 accepted, 6 duplicate, 0 not qualified, 2 rejected"
    )
    assert cli_leads(cli_env) == 5


def test_cli_exit_codes(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(cli_env / "good.csv", [
        HEADER + ",activities",
        f"ok-1,hubspot,{GOOD_CELLS},{ACTIVITIES_JSON}",
        "ok-2,hubspot,2026-11-24T09:12:00+09:00,Suzuki,,,,,,,,",
    ])
    assert run_import(str(good)) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "2 rows: 1 accepted, 0 duplicate, 1 not qualified, 0 rejected"
    )
    assert run_import(str(good)) == 0  # duplicates are not failures

    bad = write(cli_env / "bad.csv", [
        HEADER + ",activities",
        f"bad-1,hubspot,{GOOD_CELLS},[oops",
    ])
    assert run_import(str(bad)) == 1
    assert "line 2 (bad-1): rejected: activities: not valid JSON" in capsys.readouterr().out

    headless = write(cli_env / "headless.csv", ["external_id,source,contact_name", "a,b,c"])
    assert run_import(str(headless)) == 2
    err = capsys.readouterr().err
    assert "headless.csv" in err and "missing required columns: qualified_at" in err

    assert run_import(str(cli_env / "nowhere.csv")) == 2
    assert "cannot read it" in capsys.readouterr().err


def test_cli_dry_run_writes_nothing_and_needs_a_current_schema(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_import("--dry-run", str(SAMPLE)) == 2  # a dry run does not migrate either
    assert "run sla-bot migrate first" in capsys.readouterr().err

    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert run_import("--dry-run", str(SAMPLE)) == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        SAMPLE_SUMMARY + " (dry run: nothing was written)"
    )
    assert cli_leads(cli_env) == 0

    # without --language, the policy's language (the example's is Japanese)
    assert main(["--config", str(EXAMPLE_POLICY), "import", "--dry-run", str(SAMPLE)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == SAMPLE_SUMMARY_JA + "（ドライラン: 何も書き込んでいません）"
    assert "9行目（csv-1006）: 却下: contact_name: 必須です。company_employees: 250 のような" \
        "整数で指定してください" in out
    assert "8行目（csv-1005）: 却下: " in out and "6行目（csv-1004）: 対象外: " in out
    assert "line " not in out and "rows" not in out


def test_cli_refuses_to_touch_an_old_schema_when_migrating_on_start_is_off(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MIGRATE_ON_START", "false")
    assert run_import(str(SAMPLE)) == 2
    assert "run sla-bot migrate first" in capsys.readouterr().err


def test_a_stored_lead_event_names_the_csv_surface_and_no_actor(
    services: Services, tmp_path: Path
) -> None:
    path = write(tmp_path / "one.csv", [HEADER + ",activities",
                                        f"ev-1,hubspot,{GOOD_CELLS},{ACTIVITIES_JSON}"])
    import_csv(services, path)
    (event,) = stored(services, "ev-1").events
    assert (event.surface, event.actor) == ("csv", None)


def test_a_row_with_an_absurd_date_is_reported_and_skipped_and_a_rerun_repeats_it(
    import_services: Services, tmp_path: Path
) -> None:
    """It used to stop the import ("the database failed at line 3") at every run."""
    path = write(tmp_path / "dates.csv", [
        HEADER,
        f"csv-1,,{GOOD_CELLS}",
        f"csv-2,,9999-12-31T23:59:59-23:59,{GOOD_CELLS.split(',', 1)[1]}",
        f"csv-3,,{GOOD_CELLS}",
        f"csv-4,,0001-01-01T00:00:00+23:59,{GOOD_CELLS.split(',', 1)[1]}",
    ])

    first = import_csv(english(import_services), path)
    again = import_csv(english(import_services), path)

    assert outcomes(first) == {2: ("csv-1", Outcome.NOT_QUALIFIED), 3: ("csv-2", Outcome.REJECTED),
                               4: ("csv-3", Outcome.NOT_QUALIFIED),
                               5: ("csv-4", Outcome.REJECTED)}
    rejected = [row.describe() for row in first.rows if row.outcome == Outcome.REJECTED]
    assert rejected == [
        "line 3 (csv-2): rejected: qualified_at: must not be more than a day ahead of now",
        "line 5 (csv-4): rejected: qualified_at: must not be before 2000-01-01",
    ]
    assert outcomes(again) == {2: ("csv-1", Outcome.DUPLICATE), 3: ("csv-2", Outcome.REJECTED),
                               4: ("csv-3", Outcome.DUPLICATE), 5: ("csv-4", Outcome.REJECTED)}
    assert [row.describe() for row in again.rows if row.outcome == Outcome.REJECTED] == rejected
    with import_services.unit_of_work() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Lead)) == 2


REFUSE_TRIGGER = {
    "sqlite": ["CREATE TRIGGER refuse BEFORE INSERT ON leads WHEN NEW.external_id = 'csv-2' "
               "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.external_id = 'csv-2' THEN RAISE EXCEPTION 'refused' USING ERRCODE = '22023'; "
        "END IF; RETURN NEW; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT ON leads FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}


def test_a_row_the_database_refuses_is_reported_and_skipped(
    import_services: Services, db: Database, tmp_path: Path
) -> None:
    with db.engine.begin() as connection:
        for statement in REFUSE_TRIGGER[db.kind]:
            connection.execute(text(statement))
    path = write(tmp_path / "refused.csv", [HEADER] + [f"csv-{n},,{GOOD_CELLS}" for n in (1, 2, 3)])

    report = import_csv(import_services, path)

    assert outcomes(report) == {2: ("csv-1", Outcome.NOT_QUALIFIED),
                                3: ("csv-2", Outcome.REJECTED),
                                4: ("csv-3", Outcome.NOT_QUALIFIED)}
    (refused,) = [row for row in report.rows if row.outcome == Outcome.REJECTED]
    assert refused.describe(Translator("ja")).startswith(
        "3行目（csv-2）: 却下: データベースがこの行を受け付けませんでした")
    assert "refused by a trigger" not in refused.describe()  # never the database's text


@pytest.fixture
def weeks_later(operator_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's clock two weeks after the sample's leads qualified (as a new user meets it)."""
    monkeypatch.setattr(
        cli, "SystemClock", lambda: ManualClock(datetime(2026, 12, 8, 1, 0, tzinfo=UTC))
    )
    return operator_env


def test_an_old_file_says_which_leads_are_already_late_for_hand_off(
    weeks_later: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_import("--dry-run", str(SAMPLE)) == 2  # not migrated: nothing happens
    capsys.readouterr()
    assert main(["migrate"]) == 0
    capsys.readouterr()
    run_import("--dry-run", str(SAMPLE), language="ja")
    note = capsys.readouterr().out.splitlines()[-1]
    assert note.startswith(
        "受け付けるリードのうち 4件は、すでに引き渡しの約束（24時間）を過ぎています。")
    assert "--qualified-at now" in note
    run_import(str(SAMPLE))
    lines = capsys.readouterr().out.splitlines()
    accepted = int(lines[-2].split(": ", 1)[1].split(" accepted")[0])
    assert accepted >= 1
    assert lines[-1].startswith(
        f"{accepted} accepted lead{'s are' if accepted > 1 else ' is'} already past the 24 h "
        "hand-off promise: they are posted to sales when the bot runs")
    assert "--qualified-at now" in lines[-1]


def test_qualified_at_now_imports_the_sample_on_time_with_its_history(
    weeks_later: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from storage.db import make_engine

    assert main(["migrate"]) == 0
    capsys.readouterr()
    run_import("--qualified-at", "now", str(SAMPLE))
    lines = capsys.readouterr().out.splitlines()
    assert "already past" not in "\n".join(lines)
    assert lines[-1] == SAMPLE_SUMMARY  # the same leads qualify as on the day they were sent
    engine = make_engine(f"sqlite:///{weeks_later}/cli.db")
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT l.qualified_at, min(a.at) FROM leads l JOIN activities a ON a.lead_id = l.id "
            "WHERE l.external_id = 'csv-1001' GROUP BY l.id")).one()
    engine.dispose()
    qualified, first_activity = (str(v)[:19] for v in rows)
    assert qualified == "2026-12-08 01:00:00"
    # 2026-11-20 10:01 JST was 3 d 23 h 11 min before the original 2026-11-24 09:12 JST
    assert first_activity == "2026-12-04 01:49:00"
