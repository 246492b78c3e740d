"""SPEC 9, the foundation: the agreement as versions recorded at start, carried by each lead."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.agreement.document import agreement_document
from bot.agreement.versions import record_at_start
from bot.clock import ManualClock
from bot.policy import Policy, load_policy
from bot.services import Services, build_services
from bot.settings import load_settings
from handlers.cli import SCHEMA_NOT_CURRENT, main
from storage.models import AgreementStatus, AgreementVersion
from tests.harness import FakeSlack
from tests.harness.bot_env import make_services, make_worker
from tests.harness.databases import Database
from tests.harness.leads import lead_row, queue
from tests.harness.policies import configured_policy, faster_first_contact
from tests.harness.racing import race


def versions(services: Services) -> list[tuple[int, str]]:
    with services.unit_of_work() as uow:
        rows = uow.session.scalars(select(AgreementVersion).order_by(AgreementVersion.number))
        return [(v.number, str(v.status)) for v in rows]


@pytest.fixture
def db_services(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> Services:
    return make_services(fake_slack, db, policy, clock)


def test_the_first_start_records_the_file_as_version_1_and_a_restart_records_nothing(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    services = make_services(fake_slack, db, policy, clock)
    first = record_at_start(services)
    assert (first.number, first.status, first.proposer) == (1, "active", "operator")
    assert first.effective_at == clock.now()
    assert first.policy_hash == agreement_document(policy).hash
    assert set(tomllib.loads(first.policy_text)) == {  # no roles, channels, language...
        "agreement", "mql_definition", "tiers", "calendar", "reminders", "recycle", "digest",
        "review"}

    clock.advance(timedelta(hours=1))
    again = record_at_start(make_services(fake_slack, db, policy, clock))
    assert again.number == 1
    assert versions(services) == [(1, "active")]


def test_a_changed_agreement_key_records_a_new_active_version(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    record_at_start(make_services(fake_slack, db, policy, clock))
    clock.advance(timedelta(days=1))
    changed = make_services(fake_slack, db, faster_first_contact(policy), clock)
    second = record_at_start(changed)
    assert (second.number, second.effective_at) == (2, clock.now())
    assert versions(changed) == [(1, "superseded"), (2, "active")]
    # the same changed file at the next start: nothing new
    assert record_at_start(changed).number == 2
    assert versions(changed) == [(1, "superseded"), (2, "active")]


def test_a_changed_operational_setting_alone_records_nothing(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    record_at_start(make_services(fake_slack, db, policy, clock))
    roles = policy.roles.model_copy(update={"reps": ("U0NEWREP01",), "away": ("U0AWAY0001",)})
    operational = policy.model_copy(update={"roles": roles, "language": "ja"})
    assert record_at_start(make_services(fake_slack, db, operational, clock)).number == 1
    assert versions(make_services(fake_slack, db, operational, clock)) == [(1, "active")]


def test_two_processes_starting_at_once_record_one_version_1(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    starters = 4
    # each process its own services (its own units of work)
    starting = [make_services(fake_slack, db, policy, clock) for _ in range(starters)]
    contest = race([partial(record_at_start, services) for services in starting])
    errors, numbers = contest.errors, [version.number for version in contest.results]
    assert errors == []
    assert numbers == [1] * starters
    assert versions(make_services(fake_slack, db, policy, clock)) == [(1, "active")]


def test_a_lead_handed_off_carries_the_active_agreement_version(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    services = make_services(fake_slack, db, policy, clock)
    record_at_start(services)
    record_at_start(make_services(fake_slack, db, faster_first_contact(policy), clock))
    worker = make_worker(services, clock, fake_slack)
    lead_id = queue(services)
    assert lead_row(services, lead_id).agreement_version is None  # not handed off yet
    for _ in range(10):  # the hand-off, and v2's "in effect" post to both channels
        if worker.run_once() == 0:
            break
    lead = lead_row(services, lead_id)
    assert (lead.status, lead.agreement_version) == ("posted", 2)


def test_history_lists_the_versions_in_the_policy_language(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(configured_policy(operator_env))
    assert main(["--config", config, "agreement", "history"]) == 2
    assert capsys.readouterr().err.strip() == (  # the policy's language
        "データベースのスキーマが最新ではありません。先に sla-bot migrate を実行してください")
    assert main(["--config", config, "agreement", "history", "--language", "en"]) == 2
    assert capsys.readouterr().err.strip() == SCHEMA_NOT_CURRENT

    assert main(["--config", config, "migrate"]) == 0
    capsys.readouterr()
    assert main(["--config", config, "agreement", "history", "--language", "en"]) == 0
    assert "No agreement version is recorded yet" in capsys.readouterr().out

    clock = ManualClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    policy = load_policy(config)
    services = build_services(load_settings(), policy, clock)
    try:
        record_at_start(services)
        clock.advance(timedelta(days=2))
        record_at_start(build_services(load_settings(), faster_first_contact(policy), clock))
    finally:
        services.close()

    assert main(["--config", config, "agreement", "history", "--language", "en"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Agreement versions (times in Asia/Tokyo)",
        "v2  active  in effect from 2026-11-26 10:00  proposed by operator (policy file)"
        "  approvals: 0",
        "v1  superseded  in effect from 2026-11-24 10:00  proposed by operator (policy file)"
        "  approvals: 0",
    ]
    # the option before the sub-command applies too
    assert main(["--config", config, "agreement", "--language", "en", "history"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "Agreement versions (times in Asia/Tokyo)"
    assert policy.language == "ja"  # the example's: the default output
    assert main(["--config", config, "agreement", "history"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "SLA合意書の版の一覧（時刻はAsia/Tokyo基準）",
        "第2版　有効　発効：2026-11-26 10:00　提案者：運用担当者（ポリシーファイル）　承認：0件",
        "第1版　改訂済み　発効：2026-11-24 10:00　提案者：運用担当者（ポリシーファイル）"
        "　承認：0件",
    ]


def test_the_status_column_refuses_an_unknown_status(db_services: Services) -> None:
    version = record_at_start(db_services)
    with db_services.unit_of_work() as uow, pytest.raises(IntegrityError):
        uow.session.execute(update(AgreementVersion).where(AgreementVersion.id == version.id)
                            .values(status="approved"))
    assert versions(db_services) == [(1, AgreementStatus.ACTIVE)]


def test_run_records_the_files_agreement_before_it_serves(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[object] = []
    monkeypatch.setattr("handlers.server.run_until_signalled",
                        lambda server, on_started=None: started.append(server))
    config = str(configured_policy(operator_env))
    assert main(["--config", config, "run", "--migrate"]) == 0
    started[0].services.close()  # type: ignore[attr-defined]
    capsys.readouterr()
    assert main(["--config", config, "agreement", "history", "--language", "en"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("v1  active  in effect from ")
