"""SPEC 9, where the agreement in force lives: with approvers configured, every command that
reads the agreement uses the database's version in force, not a policy file whose agreement
differs (that file is a proposal waiting for approval)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.agreement.versions import record_at_start
from bot.clock import ManualClock
from bot.policy import load_policy
from bot.services import build_services
from bot.settings import load_settings
from handlers.cli import main
from tests.harness.policies import configured_policy

MARKETING_APPROVER = "U0MKTAPPR1"
SALES_APPROVER = "U0SALAPPR1"
GOVERNANCE = (f'\n[governance]\nmarketing_approvers = ["{MARKETING_APPROVER}"]\n'
              f'sales_approvers = ["{SALES_APPROVER}"]\n')
#: when v1 was recorded: 10:00 in Tokyo, 01:00 in London
RECORDED_AT = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


@pytest.fixture
def config(operator_env: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A governed policy whose v1 is in force, then the file edited: first contact within 3
    business hours instead of 2, hand-off within 12 hours instead of 24, London time instead
    of Tokyo's — a proposal, not the agreement in force."""
    path = configured_policy(operator_env)
    base = path.read_text(encoding="utf-8")
    path.write_text(base + GOVERNANCE, encoding="utf-8")
    assert main(["--config", str(path), "migrate"]) == 0
    services = build_services(load_settings(), load_policy(path), ManualClock(RECORDED_AT))
    try:
        assert record_at_start(services).number == 1
    finally:
        services.close()
    edited = (base
              .replace("first_contact_business_hours = 2", "first_contact_business_hours = 3", 1)
              .replace("handoff_within_hours = 24", "handoff_within_hours = 12", 1)
              .replace('timezone = "Asia/Tokyo"', 'timezone = "Europe/London"', 1))
    assert edited.count(" = 3 ") and "= 12 " in edited and "Europe/London" in edited
    path.write_text(edited + GOVERNANCE, encoding="utf-8")
    capsys.readouterr()
    return str(path)


def test_preview_of_the_configured_policy_uses_the_agreement_in_force(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    at = "2027-01-08T10:00+09:00"  # a Friday, 10:00 in Tokyo
    assert main(["--config", config, "preview", "--at", at, "--language", "en"]) == 0
    out = capsys.readouterr().out
    assert "configured.toml with the agreement v1 in force" in out
    assert "time zone Asia/Tokyo" in out
    assert "2027-01-08 12:00" in out  # first contact: 2 business hours, v1's number
    assert "2027-01-08 13:00" not in out

    # a file named with --policy is previewed as it is: that is what is asked
    assert main(["preview", "--policy", config, "--at", at, "--language", "en"]) == 0
    out = capsys.readouterr().out
    assert "time zone Europe/London" in out and "in force" not in out


def test_the_review_pack_states_the_promises_in_force(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", config, "report", "--month", "2026-11", "--language", "en"]) == 0
    out = capsys.readouterr().out
    assert "Hand-off within 24 h of qualifying" in out
    assert "Hand-off within 12 h" not in out


def test_the_agreement_document_reads_its_times_in_the_agreements_time_zone(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", config, "agreement", "--language", "en"]) == 0
    out = capsys.readouterr().out
    assert "In effect since 2026-11-24 10:00" in out  # Tokyo's time, not London's 01:00
    assert "Times are in Asia/Tokyo." in out
    assert main(["--config", config, "agreement", "history", "--language", "en"]) == 0
    out = capsys.readouterr().out
    assert "(times in Asia/Tokyo)" in out and "2026-11-24 10:00" in out


def test_the_agreement_in_force_with_the_files_operations(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.agreement.versions import use_in_force

    services = build_services(load_settings(), load_policy(config), ManualClock(RECORDED_AT))
    try:
        assert services.policy.agreement.first_contact_business_hours == 3  # the file's
        assert use_in_force(services) == 1
        assert services.policy.agreement.first_contact_business_hours == 2
        assert str(services.policy.tz) == "Asia/Tokyo"
        assert services.policy.governance.enabled  # operations stay the file's
        assert services.agreement_version == 1
    finally:
        services.close()
