"""``/sla-status`` over HTTP: signed slash commands to the running bot, answers read from the
fake Slack's response URLs. Managers see the team, every rep and every breach; a rep sees
their own figures and the team totals, and is refused someone else's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.clock import ManualClock
from bot.policy import Policy
from tests.harness import FakeSlack
from tests.harness.bot_env import Env, start
from tests.harness.databases import Database
from tests.harness.people import REP1, REP2
from tests.harness.policies import lenient
from tests.harness.report_month import Month, jst
from tests.harness.status import ask, shown

MANAGER = "U0000MGR1"


@pytest.fixture
def env(fake_slack: FakeSlack, db: Database, policy: Policy) -> Iterator[Env]:
    """A bot with a few November leads: REP1 kept every promise, REP2 breached one."""
    clock = ManualClock(jst(11, 2, 8))
    running = start(fake_slack, db, lenient(policy).model_copy(update={"language": "en"}),
                    clock)
    world = Month(running.services, clock, fake_slack)
    a = world.hand_off("A", jst(11, 2, 9), jst(11, 2, 10))
    world.claim(a, REP1, jst(11, 2, 10, 10))
    world.touch(a, REP1, jst(11, 2, 10, 20))
    world.recycle(a, REP1, jst(11, 3, 10), "timing")  # 3 Nov is a holiday: still in time
    b = world.hand_off("B<!channel>", jst(11, 4, 9), jst(11, 4, 10))
    world.claim(b, REP2, jst(11, 4, 15))
    world.at(jst(11, 10, 12))
    running.worker = world.worker
    yield running
    running.bot.stop()


def test_a_manager_sees_the_team_every_rep_and_every_breach(env: Env) -> None:
    t = env.services.t
    answer = ask(env, MANAGER)
    text = shown(answer)
    assert answer["blocks"][0]["text"]["text"] == t("status_report.title", period="2026-11")
    assert "First contact within 2 business hours" in text
    assert "actual 50 % (median 20 min, p90 " in text  # A in 20 min; B never touched
    assert "⚠️" in text and "MQL→SQL rate (converted / decided) · 0 % (0 of 1)" in text
    assert "target 32 (pro-rated from 100 a month) · actual 2 ⚠️" in text  # 100 × 9.5/30
    assert "Recycle reasons: wrong timing 1" in text
    assert "*Per rep*" in text and f"<@{REP1}>" in text and f"<@{REP2}>" in text
    assert "*Open breaches* (1)" in text
    assert "https://slack.com/archives/C0000SALES/p" in text
    assert "<!channel>" not in text and "B&lt;!channel&gt;" in text  # escaped, pings nobody
    assert len(answer["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in answer["blocks"] if b["type"] == "section")


def test_a_rep_sees_their_own_figures_and_the_team_totals_only(env: Env) -> None:
    text = shown(ask(env, REP1))
    assert f"*<@{REP1}>*" in text and "*Team*" in text
    assert "*Per rep*" not in text and f"<@{REP2}>" not in text
    assert "*Open breaches* (0)" in text  # REP2's breach is not REP1's business
    rep2 = shown(ask(env, REP2))
    assert "*Open breaches* (1)" in rep2 and "actual 0 %" in rep2


def test_a_rep_asking_for_someone_else_is_refused(env: Env) -> None:
    for form in (f"<@{REP2}|sato>", f"<@{REP2}>", f"last-week <@{REP2}>"):
        answer = ask(env, REP1, form)
        assert answer["text"] == env.services.t("status_report.not_allowed")
        assert "blocks" not in answer or not answer["blocks"]
    assert f"*<@{REP1}>*" in shown(ask(env, REP1, f"<@{REP1}|me>"))  # oneself is fine


@pytest.mark.parametrize(("text", "title"), [
    ("", "2026-11"),
    ("last-week", "2026-W45"),
    ("this-week", "2026-W46"),
    ("2026-10", "2026-10"),
    (f"<@{REP2}|sato>", "2026-11"),
    (f"<@{REP2}>", "2026-11"),
    (f"last-week <@{REP2}|sato>", "2026-W45"),
    (f"<@{REP2}> 2026-11", "2026-11"),
])
def test_every_argument_form(env: Env, text: str, title: str) -> None:
    answer = ask(env, MANAGER, text)
    blocks = answer["blocks"]
    assert blocks[0]["text"]["text"] == env.services.t("status_report.title", period=title)
    if REP2 in text:
        assert f"*<@{REP2}>*" in shown(answer) and "*Per rep*" not in shown(answer)
    else:
        assert "*Per rep*" in shown(answer)


def test_the_week_figures_differ_from_the_month(env: Env) -> None:
    text = shown(ask(env, MANAGER, "2026-10"))
    assert "actual 0 " in text and "No open breaches." not in text  # breaches are current


@pytest.mark.parametrize("text", ["yesterday", "2026-13", "last-week 2026-11", "@sato",
                                  f"<@{REP1}> <@{REP2}>"])
def test_a_bad_argument_gets_the_usage_line(env: Env, text: str) -> None:
    answer = ask(env, MANAGER, text)
    assert answer["text"] == env.services.t("status_report.usage")


def test_japanese(env: Env) -> None:
    env.services.policy = env.services.policy.model_copy(update={"language": "ja"})
    env.services.t = type(env.services.t)("ja")
    text = shown(ask(env, MANAGER))
    assert "2営業時間以内の初回接触" in text and "中央値 20分" in text
    assert "2026/11/1 – 2026/11/30" in text


def test_a_big_team_stays_within_slacks_limits(policy: Policy) -> None:
    """A pure view check: 200 reps and 500 breaches still fit, with "+N more"."""
    from datetime import UTC, datetime

    from bot.i18n import Translator
    from bot.reporting.metrics import BreachList, OpenBreach, Scorecard
    from bot.reporting.periods import month
    from bot.views.status import StatusReport, status_blocks

    period = month(2026, 11, policy.tz)
    now = datetime(2026, 11, 10, tzinfo=UTC)
    reps = {f"U{i:08d}": Scorecard(period, f"U{i:08d}", now, handed_off=i) for i in range(200)}
    rows = tuple(OpenBreach(i, f"U{i:08d}", "<!channel>" * 40, "名" * 300, ("decision",), now,
                            "C0000SALES", f"{i}.000100") for i in range(40))
    t = Translator("en")
    report = StatusReport(period, Scorecard(period, None, now, mql_target=30), None, reps,
                          BreachList(rows, 500), "en", policy.tz)
    blocks = status_blocks(report, policy, t)
    text = json.dumps(blocks, ensure_ascii=False)
    assert len(blocks) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    assert t("status_report.more", count=485) in text and t("status_report.more", count=170) in text
    assert "<!channel>" not in text
