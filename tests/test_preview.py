"""``sla-bot preview``: the deadlines and notices a lead would get, with the business-hours
reasoning, checked on real dates of the example policy's Japanese calendar.

2027-01-08 is a Friday; Monday 2027-01-11 is Coming of Age Day. Two business hours from
Friday 17:30 are 30 minutes on Friday and 90 on Tuesday: Tuesday 10:30.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from unicodedata import east_asian_width
from zoneinfo import ZoneInfo

import pytest

from bot.policy import load_policy
from bot.preview import build_preview, trace
from handlers.cli import main
from tests.harness.policies import EXAMPLE_POLICY

TOKYO = ZoneInfo("Asia/Tokyo")
FRIDAY_1730 = "2027-01-08T17:30+09:00"


def run(capsys: pytest.CaptureFixture[str], *argv: str, policy: Path = EXAMPLE_POLICY,
        language: str | None = "en") -> tuple[int, str, str]:
    """``sla-bot preview``; in English unless told (the example policy's language is ja)."""
    code = main(["preview", "--policy", str(policy), *argv,
                 *(["--language", language] if language else [])])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def variant(tmp_path: Path, name: str, *replacements: tuple[str, str]) -> Path:
    """The example policy with some lines changed (each replacement must apply)."""
    text = EXAMPLE_POLICY.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def lead_file(tmp_path: Path, **changes: object) -> Path:
    """The SPEC's example lead, qualified the day before the preview's Friday."""
    lead: dict[str, object] = {
        "external_id": "hubspot-20391", "source": "hubspot",
        "qualified_at": "2027-01-07T09:12:00+09:00",
        "contact": {"name": "Sato Hanako", "title": "営業部長"},
        "company": {"name": "Example KK", "industry": "manufacturing", "employees": 250},
        "score": 72,
        "activities": [{"type": "page_view", "at": "2027-01-06T10:01:00+09:00",
                        "detail": "/pricing"}],
    }
    lead.update(changes)
    path = tmp_path / "lead.json"
    path.write_text(json.dumps(lead, ensure_ascii=False), encoding="utf-8")
    return path


def differing_keys(out: str) -> list[str]:
    """The lines of the comparison's "Policy keys that differ" section."""
    return out.split("Policy keys that differ\n", 1)[1].split("\n\n", 1)[0].splitlines()


def test_friday_evening_before_a_holiday_monday_is_due_tuesday_1030(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "--at", FRIDAY_1730)
    assert code == 0
    assert "First contact (sales): Tue 2027-01-12 10:30" in out
    assert "counted Fri 2027-01-08 17:30–18:00  30 min" in out
    assert ("skipped Fri 2027-01-08 18:00 → Tue 2027-01-12 09:00: night, "
            "Sat 2027-01-09 weekend, Sun 2027-01-10 weekend, "
            "Mon 2027-01-11 holiday: Coming of Age Day") in out
    assert "counted Tue 2027-01-12 09:00–10:30  1 h 30 min" in out
    # every notice the plan owes, in order, with its audience
    assert "Fri 2027-01-08 17:45  Nudge: nobody has claimed it → the lead's thread" in out
    assert "Tue 2027-01-12 10:00  Reminder: first contact due in 30 min → the owner" in out
    assert "Tue 2027-01-12 10:30  Breach: no first contact yet" in out
    assert "the managers by DM" in out
    assert "Decision: SQL or recycle (sales): Fri 2027-01-15 17:30" in out
    assert "Thu 2027-01-14 17:30  Reminder: decision due in 1 business day" in out
    assert "follow-up reminder to the owner 9 business hours later, until 5 touches" in out


def test_a_wall_time_without_offset_is_read_in_the_policy_time_zone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "--at", "2027-01-08T17:30")
    assert code == 0 and "First contact (sales): Tue 2027-01-12 10:30" in out


def test_the_example_policy_previews_in_japanese_with_its_reasoning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "--at", "2027-01-08T17:30", language=None)
    assert code == 0
    assert "初回接触（営業）: 2027-01-12（火）10:30（引き渡しから2営業時間）" in out
    assert "算入 2027-01-08（金）17:30–18:00  30分" in out
    assert ("除外 2027-01-08（金）18:00 → 2027-01-12（火）09:00: 夜間、"
            "2027-01-09（土）週末、2027-01-10（日）週末、2027-01-11（月）祝日（成人の日）") in out
    assert "算入 2027-01-12（火）09:00–10:30  1時間30分" in out
    assert "2027-01-12（火）10:00  リマインダー: 初回接触の期限まであと30分 → 担当者に DM" in out
    assert "2027-01-14（木）17:30  リマインダー: 判断の期限まであと1営業日" in out
    assert "\n期限\n" in out and "\nリマインダーとエスカレーション\n" in out
    assert "First contact" not in out and "business hour" not in out and "Sat" not in out


def test_compare_in_japanese_names_its_sections_and_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one_hour = variant(tmp_path, "one-hour.toml", (
        "first_contact_business_hours = 2 ", "first_contact_business_hours = 1 "))
    code, out, _ = run(capsys, "--at", FRIDAY_1730, "--compare", str(one_hour), language=None)
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("初回接触（営業）"))
    assert row.split()[1:] == ["2027-01-12（火）10:30", "2027-01-12（火）09:30", "←", "変更"]
    # wide labels stay aligned: a Japanese character takes two terminal columns
    header = out.splitlines()[2]
    columns = sum(2 if east_asian_width(c) in "WF" else 1 for c in row[:row.index("2027")])
    assert columns == len(header) - len(header.lstrip())
    assert "\n変わること\n" in out and "\n異なるポリシー設定\n" in out
    assert ("初回接触（営業）: 2027-01-12（火）10:30 → 2027-01-12（火）09:30"
            "（1時間早くなります）") in out
    keys = out.split("異なるポリシー設定\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert keys == ["  agreement.first_contact_business_hours: 2 → 1"]
    code, out, _ = run(capsys, "--at", FRIDAY_1730, "--compare", str(EXAMPLE_POLICY),
                       language=None)
    assert "変化なし: どちらのポリシーでもこのリードの扱いは同じです" in out
    assert "なし: 2つのファイルの設定値は同じです" in out
    assert "changed" not in out and "What changes" not in out


def test_compare_with_one_business_hour_shows_what_moves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one_hour = variant(tmp_path, "one-hour.toml", (
        "first_contact_business_hours = 2 ", "first_contact_business_hours = 1 "))
    code, out, _ = run(capsys, "--at", FRIDAY_1730, "--compare", str(one_hour))
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("First contact (sales)"))
    assert row.split()[3:] == ["Tue", "2027-01-12", "10:30", "Tue", "2027-01-12", "09:30",
                               "←", "changed"]
    decision = next(line for line in out.splitlines() if line.startswith("Decision"))
    assert "changed" not in decision
    assert ("First contact (sales): Tue 2027-01-12 10:30 → Tue 2027-01-12 09:30 "
            "(1 h earlier)") in out
    assert ("Reminder: first contact due in 30 min: Tue 2027-01-12 10:00 → "
            "Tue 2027-01-12 09:00") in out
    assert "Policy sla.example.toml" in out and "Policy one-hour.toml" in out  # both in full
    keys = differing_keys(out)
    assert keys == ["  agreement.first_contact_business_hours: 2 → 1"]
    half = variant(tmp_path, "half.toml", (
        "first_contact_business_hours = 2 ", "first_contact_business_hours = 1.5 "))
    code, out, _ = run(capsys, "--at", FRIDAY_1730, "--compare", str(half))
    keys = differing_keys(out)
    assert keys == ["  agreement.first_contact_business_hours: 2 → 1.5"]


def test_compare_with_an_added_closed_day_explains_the_new_skip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = variant(tmp_path, "closed.toml", (
        "closed_dates = []", 'closed_dates = ["2027-01-12"]'))
    code, out, _ = run(capsys, "--at", FRIDAY_1730, "--compare", str(closed))
    assert code == 0
    assert ("First contact (sales): Tue 2027-01-12 10:30 → Wed 2027-01-13 10:30 "
            "(1 d later)") in out
    assert "Tue 2027-01-12 closed" in out  # the reasoning of the other policy
    assert '  calendar.closed_dates: [] → ["2027-01-12"]' in out


def test_compare_says_so_when_nothing_changes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--at", FRIDAY_1730, "--compare", str(EXAMPLE_POLICY))
    assert code == 0 and "changed" not in out
    assert "nothing: both policies treat this lead the same way" in out
    assert "none: the two files set the same values" in out


def test_a_hot_lead_from_a_file_gets_its_tier_and_marketings_clock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hot = lead_file(tmp_path, activities=[
        {"type": "demo_request", "at": "2027-01-07T08:00:00+09:00", "detail": "demo"}])
    code, out, _ = run(capsys, "--at", FRIDAY_1730, "--lead", str(hot))
    assert code == 0
    assert "tier hot" in out
    assert "First contact (sales): Tue 2027-01-12 09:30  (1 business hour after hand-off" in out
    # qualified Thursday 09:12, handed off Friday 17:30: marketing was late
    assert "Hand-off (marketing): Fri 2027-01-08 09:12" in out
    assert "already late by 8 h 18 min: a marketing breach" in out
    assert "Breach: handed off late → the marketing channel" in out


def test_a_lead_the_definition_refuses_gets_no_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cold = lead_file(tmp_path, score=0, activities=[])
    code, out, _ = run(capsys, "--at", FRIDAY_1730, "--lead", str(cold))
    assert code == 0
    assert "Not qualified under definition 2026-11-v1" in out
    assert "score 0 is below 30" in out
    assert "Deadlines" not in out


def test_bad_input_is_named_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = lead_file(tmp_path, qualified_at="yesterday")
    code, _, err = run(capsys, "--at", FRIDAY_1730, "--lead", str(broken))
    assert code == 2 and "qualified_at" in err
    code, _, err = run(capsys, "--at", "friday evening")
    assert code == 2 and "--at" in err
    code, _, err = run(capsys, "--lead", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in err


def test_quiet_hours_move_a_reminder_and_delay_a_breach_notice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    early = variant(tmp_path, "early.toml", (
        "first_contact_before_minutes = [30]", "first_contact_before_minutes = [120]"))
    code, out, _ = run(capsys, "--at", "2027-01-08T17:50+09:00", policy=early)
    assert code == 0
    # due Tue 10:50; 120 min before is 08:50, before opening: sent at 09:00 instead
    assert "Tue 2027-01-12 09:00  Reminder: first contact due in 120 min" in out
    assert "moved from Tue 2027-01-12 08:50: no reminders outside business hours" in out
    # handed off on a Saturday: the decision falls on the next Saturday, told on Monday
    code, out, _ = run(capsys, "--at", "2027-01-09T10:00+09:00")
    assert "(that day is closed: weekend)" in out
    assert "Decision: SQL or recycle (sales): Sat 2027-01-16 10:00" in out
    assert "falls on a closed day (weekend)" in out
    assert "Mon 2027-01-18 09:00  Breach: no decision yet" in out
    assert "recorded at Sat 2027-01-16 10:00; outside business hours" in out


@pytest.mark.parametrize("arrival", [
    datetime(2027, 1, 8, 17, 30, tzinfo=TOKYO),   # Friday before a holiday Monday
    datetime(2026, 12, 28, 17, 0, tzinfo=TOKYO),  # the day before the year-end closure
    datetime(2027, 1, 9, 3, 0, tzinfo=TOKYO),     # a Saturday night
    datetime(2027, 1, 12, 7, 0, tzinfo=TOKYO),    # before opening
])
def test_the_counted_stretches_add_up_to_the_promise(arrival: datetime) -> None:
    policy = load_policy(EXAMPLE_POLICY)
    preview = build_preview(policy, arrival)
    first = preview.deadline("first_contact")
    counted = sum((s.end - s.start for s in first.spans if s.counted), timedelta(0))
    assert counted == timedelta(hours=2)
    assert first.spans[-1].end == first.due
    assert all(a.end == b.start for a, b in zip(first.spans, first.spans[1:], strict=False))


def test_the_year_end_closure_is_named() -> None:
    policy = load_policy(EXAMPLE_POLICY)
    start = datetime(2026, 12, 28, 17, 0, tzinfo=TOKYO)
    spans = trace(policy.business_calendar, start, build_preview(policy, start)
                  .deadline("first_contact").due)
    (skipped,) = [s for s in spans if not s.counted]
    assert skipped.why.startswith("night, Tue 2026-12-29 annual closure")
    assert "Fri 2027-01-01 holiday: New Year's Day" in skipped.why  # a holiday wins the label
    assert "Sun 2027-01-03 weekend" in skipped.why
    assert skipped.end == datetime(2027, 1, 4, 9, 0, tzinfo=TOKYO)


def test_without_a_policy_option_sla_config_is_read_like_run_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    one_hour = variant(tmp_path, "from-env.toml", (
        "first_contact_business_hours = 2 ", "first_contact_business_hours = 1 "))
    monkeypatch.setenv("SLA_CONFIG", str(one_hour))
    monkeypatch.chdir(tmp_path)  # no sla.toml here: without SLA_CONFIG, the example
    assert main(["preview", "--at", FRIDAY_1730, "--language", "en"]) == 0
    out = capsys.readouterr().out
    assert "Policy from-env.toml" in out
    assert "First contact (sales): Tue 2027-01-12 09:30" in out


def test_policy_differences_flattens_tables_and_lists_of_tables() -> None:
    from bot.policy import load_policy
    from bot.policy_diff import KeyChange, flatten, policy_differences

    assert flatten({"a": {"b": 1}, "t": [{"n": 1}, {"n": 2}], "l": (1, 2)}) == {
        "a.b": 1, "t[0].n": 1, "t[1].n": 2, "l": [1, 2]}
    example = load_policy(EXAMPLE_POLICY)
    assert policy_differences(example, example) == []
    changed = example.model_copy(update={"language": "en"})
    assert policy_differences(example, changed) == [KeyChange("language", "ja", "en")]
