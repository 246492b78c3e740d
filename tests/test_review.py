"""The monthly review pack end to end: months of leads driven through the real services (real
database, SQLite and PostgreSQL; the real reminder sweep and outbox worker; the fake Slack
showing what the channel sees), an injected clock.

The seeded set, October and November 2026 in Tokyo (09:00–18:00 Mon–Fri; 12 Oct, 3 and
23 Nov are public holidays). The MQL target is 6 a month.

| lead | behaviour | source | handed off (JST) | touches | outcome |
|------|-----------|--------|------------------|---------|---------|
| O1–O4 (definition 2026-10-v0) | page_view | hubspot | 5–8 Oct 10:00 | 5 | converted |
| O5 (2026-10-v0) | page_view | hubspot | Tue 13 Oct 10:00 | 5 | recycled, timing |
| A1 | download only | marketo | Fri 6 Nov 15:00 | 1 (Mon 11:00: breach) | recycled, no_need_now |
| A2 | download only | marketo | Fri 13 Nov 15:00 | 1 (Mon 11:00: breach) | recycled, no_need_now |
| A3 | download only | marketo | Fri 20 Nov 15:00 | 1 (Tue 11:00: breach) | recycled, no_need_now |
| A4 | download only | marketo | Tue 10 Nov 10:00 | 1 (in time) | recycled, no_need_now |
| B1 | page_view + webinar | hubspot | Tue 10 Nov 10:00, 33 h after qualifying | 5 | converted |
| B2 | page_view + webinar | hubspot | Wed 11 Nov 10:00 | 5 | converted |

So November meets the MQL target (6 of 6) while MQL→SQL falls from 4/5 = 80 % to 2/6 = 33 %,
and the "download only" leads convert at 0 %: the pack must say so, along with one late
hand-off, three first-contact breaches all on Friday afternoons, and four recycles under five
touches. The healthy month (three leads, all on time, converted) must suggest nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.clock import ManualClock
from bot.i18n import Translator
from bot.policy import Policy
from bot.reporting.metrics import Scorecard
from bot.reporting.periods import month
from bot.reporting.review import (
    CSV_COLUMNS,
    BreachSlot,
    Breakdown,
    ReviewFigures,
    Suggestion,
    build_review,
    criterion_key,
    due_month,
    parse_month,
    review_figures,
    review_step,
    suggestions,
    write_csv,
)
from bot.scheduler import default_steps, sweep
from bot.services import Services
from bot.terminal_text import blocks_as_text
from bot.views.review import MAX_BLOCKS, SECTION_LIMIT, review_message
from storage.models import OutboxMessage
from tests.harness import FakeSlack
from tests.harness.bot_env import make_services
from tests.harness.databases import Database
from tests.harness.people import REP1, REP2
from tests.harness.policies import EXAMPLE_POLICY
from tests.harness.racing import race
from tests.harness.report_month import TOKYO, Month, jst

CHANNEL = "C0000SALES"
EMAIL, PHONE, NAME = "hanako@example.co.jp", "+81-3-0000-0000", "Sato Hanako"
NOVEMBER = month(2026, 11, TOKYO)


def with_target(policy: Policy, target: int, version: str | None = None) -> Policy:
    """The example policy with another monthly MQL target (and definition version)."""
    agreement = policy.agreement.model_copy(update={"mql_monthly_target": target})
    update: dict[str, Any] = {"agreement": agreement}
    if version is not None:
        update["mql_definition"] = policy.mql_definition.model_copy(update={"version": version})
    return policy.model_copy(update=update)


def body(external_id: str, qualified: datetime, *, source: str = "hubspot",
         kinds: Sequence[str] = ("page_view",)) -> dict[str, Any]:
    """A lead that qualifies under the example definition, with the given behaviour types."""
    local = qualified.astimezone(TOKYO)
    day_before = (local - timedelta(days=1)).isoformat()
    details = {"page_view": "/pricing", "download": "SLA whitepaper", "webinar": "SLA 101"}
    return {
        "external_id": external_id,
        "source": source,
        "qualified_at": local.isoformat(),
        "contact": {"name": NAME, "email": EMAIL, "title": "営業部長", "phone": PHONE},
        "company": {"name": f"Company {external_id}", "industry": "manufacturing",
                    "employees": 250},
        "score": 72,
        "activities": [{"type": k, "at": day_before, "detail": details[k]} for k in kinds],
    }


class Pack(Month):
    """The reporting ``Month`` with the review's own checks."""

    def __init__(self, services: Services, clock: ManualClock, fake: FakeSlack) -> None:
        super().__init__(services, clock, fake)
        self.fake = fake

    def worked(self, data: dict[str, Any], posted: datetime, rep: str, *, touches: int,
               touch_at: datetime, decide_at: datetime, reason: str | None = None) -> int:
        """Handed off, claimed 5 min later, touched, then converted (or recycled: reason)."""
        lead_id = self.hand_off_body(data, posted)
        self.claim(lead_id, rep, posted + timedelta(minutes=5))
        self.touch(lead_id, rep, touch_at, times=touches)
        if reason is None:
            self.convert(lead_id, rep, decide_at)
        else:
            self.recycle(lead_id, rep, decide_at, reason)
        return lead_id

    def sweep_at(self, when: datetime) -> None:
        """What the scheduler does at ``when``: one sweep with the default steps, delivered."""
        self.clock.set(when)
        sweep(self.services, default_steps())
        self.drain()

    def packs(self, label: str = "") -> list[dict[str, Any]]:
        """Review packs posted in the channel (of one month, when given), oldest first."""
        return [m for m in self.fake.messages(CHANNEL)
                if (m.get("metadata") or {}).get("event_payload", {}).get("key", "")
                .startswith(f"review:{label}")]


def make_pack(fake: FakeSlack, database: Database, policy: Policy, start: datetime) -> Pack:
    clock = ManualClock(start)
    return Pack(make_services(fake, database, policy, clock), clock, fake)


def seed_two_months(world: Pack, policy: Policy) -> None:
    """The table in the module docstring."""
    world.services.policy = with_target(policy, 6, version="2026-10-v0")
    for day in (5, 6, 7, 8, 13):
        world.worked(body(f"O{day}", jst(10, day, 9, 30)), jst(10, day, 10), REP1, touches=5,
                     touch_at=jst(10, day, 10, 10), decide_at=jst(10, day, 10, 30),
                     reason="timing" if day == 13 else None)
    world.services.policy = with_target(policy, 6)
    download = {"source": "marketo", "kinds": ("download",)}
    both = {"kinds": ("page_view", "webinar")}
    a1 = world.hand_off_body(body("A1", jst(11, 6, 14, 30), **download), jst(11, 6, 15))
    world.claim(a1, REP2, jst(11, 6, 15, 10))
    world.touch(a1, REP2, jst(11, 9, 11))
    world.recycle(a1, REP2, jst(11, 9, 11, 30), "no_need_now")
    world.worked(body("A4", jst(11, 10, 9, 30), **download), jst(11, 10, 10), REP2,
                 touches=1, touch_at=jst(11, 10, 10, 10), decide_at=jst(11, 10, 10, 30),
                 reason="no_need_now")
    world.worked(body("B1", jst(11, 9, 1), **both), jst(11, 10, 11), REP1, touches=5,
                 touch_at=jst(11, 10, 11, 10), decide_at=jst(11, 10, 11, 30))
    world.worked(body("B2", jst(11, 11, 9, 30), **both), jst(11, 11, 10), REP1, touches=5,
                 touch_at=jst(11, 11, 10, 10), decide_at=jst(11, 11, 10, 30))
    a2 = world.hand_off_body(body("A2", jst(11, 13, 14, 30), **download), jst(11, 13, 15))
    world.claim(a2, REP2, jst(11, 13, 15, 10))
    world.touch(a2, REP2, jst(11, 16, 11))
    world.recycle(a2, REP2, jst(11, 16, 11, 30), "no_need_now")
    a3 = world.hand_off_body(body("A3", jst(11, 20, 14, 30), **download), jst(11, 20, 15))
    world.claim(a3, REP2, jst(11, 20, 15, 10))
    world.touch(a3, REP2, jst(11, 24, 11))  # Monday 23 is a holiday
    world.recycle(a3, REP2, jst(11, 24, 11, 30), "no_need_now")
    world.at(jst(12, 1, 8))


@pytest.fixture
def seeded(fake_slack: FakeSlack, db: Database, policy: Policy) -> Pack:
    world = make_pack(fake_slack, db, policy, jst(10, 1, 9))
    seed_two_months(world, policy)
    return world


@pytest.fixture
def healthy(fake_slack: FakeSlack, db: Database, policy: Policy) -> Pack:
    """November with three leads, every promise kept; nothing at all in October."""
    world = make_pack(fake_slack, db, with_target(policy, 3), jst(11, 1, 9))
    for day in (4, 5, 6):
        world.worked(body(f"H{day}", jst(11, day, 9, 30), kinds=("page_view", "webinar")),
                     jst(11, day, 10), REP1, touches=5, touch_at=jst(11, day, 10, 10),
                     decide_at=jst(11, day, 10, 30))
    world.at(jst(12, 1, 8))
    return world


def groups(rows: Sequence[Breakdown]) -> dict[str, tuple[int, int, tuple[tuple[str, int], ...]]]:
    return {b.key: (b.decided, b.converted, b.reasons) for b in rows}


# ---------------------------------------------------------------------------- the figures


def test_breakdowns_by_criterion_source_behaviour_and_version(seeded: Pack) -> None:
    figures = review_figures(seeded.services, NOVEMBER)
    card, before = figures.card, figures.before
    assert (card.handed_off, card.mql_target, card.decided, card.converted) == (6, 6, 6, 2)
    assert (before.decided, before.converted) == (5, 4)
    recycled = (("no_need_now", 4),)
    assert groups(figures.by_source) == {"marketo": (4, 0, recycled), "hubspot": (2, 2, ())}
    assert groups(figures.by_behaviour) == {
        "download": (4, 0, recycled), "page_view": (2, 2, ()), "webinar": (2, 2, ())}
    assert groups(figures.by_single_behaviour) == {"download": (4, 0, ())}
    assert groups(figures.by_criterion) == {
        "behaviour: 資料ダウンロード (download)": (4, 0, recycled),
        "behaviour: 料金ページ閲覧 (page_view /pricing)": (2, 2, ()),
        "behaviour: ウェビナー参加 (webinar)": (2, 2, ()),
        "industry: manufacturing": (6, 2, recycled),
        "employees: ≥ 50": (6, 2, recycled),
        "title: 部長": (6, 2, recycled),
        "score: ≥ 30": (6, 2, recycled),
    }
    # every lead decided by the end of November, newest definition first
    assert groups(figures.by_version) == {"2026-11-v1": (6, 2, ()), "2026-10-v0": (5, 4, ())}
    assert [b.key for b in figures.by_version] == ["2026-11-v1", "2026-10-v0"]
    assert figures.first_contact_breaches == 3
    assert figures.breach_slots == (BreachSlot(4, True, 3),)  # Friday afternoons

    october = review_figures(seeded.services, month(2026, 10, TOKYO))
    assert groups(october.by_source) == {"hubspot": (5, 4, (("timing", 1),))}
    assert groups(october.by_version) == {"2026-10-v0": (5, 4, ())}


def test_criterion_keys_drop_the_leads_own_numbers() -> None:
    assert criterion_key("employees: 250 ≥ 50") == "employees: ≥ 50"
    assert criterion_key("employees: 80 within 50–500") == "employees: within 50–500"
    assert criterion_key("score: 72 ≥ 30") == "score: ≥ 30"
    assert criterion_key("industry: manufacturing") == "industry: manufacturing"


def test_the_criterion_breakdown_is_grouped_by_code_and_named_in_the_packs_language(
    seeded: Pack,
) -> None:
    """Groups come from the stored ``matched_codes``: a Japanese pack names each criterion in
    Japanese (the English wording stored with the lead is never shown), numbers grouped by the
    definition's bound, not the lead's own value."""
    figures = review_figures(seeded.services, NOVEMBER)
    codes = {b.key: b.criterion for b in figures.by_criterion}
    assert codes["employees: ≥ 50"] == {"code": "employees", "low": 50, "high": None}
    assert codes["industry: manufacturing"] == {"code": "industry",
                                                "industry": "manufacturing"}
    text = build_review(seeded.services, NOVEMBER).as_text()  # the policy's language: Japanese
    section = text[text.index("MQL定義の条件別のSQL化率"):]
    section = section[: section.index("\n\n")]
    for line in ("• 業種: 製造業 · 33%", "• 従業員数: 50名以上 · 33%", "• スコア: 30以上 · 33%",
                 "• 役職: 部長 · 33%", "• 行動: 資料ダウンロード · 0%"):
        assert line in section, section
    for english in ("industry:", "employees:", "score:", "behaviour:", "title:"):
        assert english not in section
    english_pack = blocks_as_text(review_message(figures, [], Translator("en"), TOKYO))
    assert "• Industry: Manufacturing · 33 % (2 of 6)" in english_pack


# ---------------------------------------------------------------------------- suggestions


def test_a_bad_month_gets_the_suggestions_it_deserves(seeded: Pack) -> None:
    review = build_review(seeded.services, NOVEMBER)
    assert review.suggestions == [
        Suggestion("definition_only", {"before": 0.8, "now": pytest.approx(2 / 6),
                                       "behaviour": "download", "rate": 0.0}),
        Suggestion("late_handoff", {"count": 1, "hours": 24}),
        Suggestion("first_contact_slot", {"count": 3, "slot_count": 3, "weekday": 4,
                                          "afternoon": True}),
        Suggestion("touches", {"count": 4, "touches": 5}),
    ]
    english = json.dumps(review_message(review.figures, review.suggestions, Translator("en"),
                                        TOKYO)["blocks"], ensure_ascii=False)
    for line in (
        "MQL target met but the MQL → SQL rate fell from 80 % to 33 %: review the definition "
        "— Download only leads convert at 0 %.",
        "Marketing handed off 1 lead later than 24 h after qualifying",
        "First contact breached 3 times, 3 for leads handed off on Friday afternoons: cover "
        "that slot.",
        "Recycled with fewer than 5 touches 4 times: coach the follow-up cadence.",
        "• marketo · 0 % (0 of 4) · recycled: no need right now 4",
        "• Download only · 0 % (0 of 4)",
        "• 2026-11-v1 (current) · 33 % (2 of 6)",
        "MQL → SQL rate: 33 % ▼ (80 %) · 2 of 6 decided",
    ):
        assert line in english
    assert "All promises kept" not in english
    text = review.as_text()  # the policy's language: Japanese
    assert text.startswith("月次SLAレビュー · 2026年11月\n")
    assert "資料ダウンロード のみ" in text and "download のみ" not in text and "金曜午後" in text


def test_a_healthy_month_suggests_nothing(healthy: Pack) -> None:
    review = build_review(healthy.services, NOVEMBER)
    assert review.figures.card.handed_off == 3 and review.figures.card.converted == 3
    assert review.suggestions == []
    english = review_message(review.figures, [], Translator("en"), TOKYO)
    assert english["text"] == "Monthly SLA review · November 2026 — All promises kept"
    assert "All promises kept. Nothing to change" in json.dumps(english["blocks"])
    assert "すべての約束が守られました" in review.as_text()


def figures_with(**card: Any) -> ReviewFigures:
    """Figures around one scorecard, for the rules alone (pure functions)."""
    base: dict[str, Any] = {"handed_off": 10, "mql_target": 10.0, "handoff_on_time": 10,
                            "with_history": 10, "decided": 10, "converted": 4,
                            "first_contact_settled": 10, "first_contact_on_time": 10,
                            "decision_settled": 10, "decision_on_time": 10}
    before = Scorecard(NOVEMBER, None, NOVEMBER.end, **{**base, "converted": 4})
    return ReviewFigures(NOVEMBER, NOVEMBER, Scorecard(NOVEMBER, None, NOVEMBER.end,
                                                       **{**base, **card}),
                         before, 5, 24, 7, "v1")


def test_each_rule_fires_on_its_own_threshold() -> None:
    assert suggestions(figures_with()) == []
    assert [s.key for s in suggestions(figures_with(handed_off=8, handoff_on_time=8,
                                                    with_history=8))] == ["volume"]
    # 40 % last month: a fall of 5 points is noise, 10 points asks for a definition review
    assert suggestions(figures_with(decided=20, converted=7)) == []
    assert [s.key for s in suggestions(figures_with(converted=3))] == ["definition"]
    # ...but not when marketing missed the target anyway (then volume is the topic)
    assert [s.key for s in suggestions(figures_with(converted=3, mql_target=11.0))] == [
        "volume"]
    assert [s.key for s in suggestions(figures_with(decision_on_time=9))] == ["decision"]
    assert [s.key for s in suggestions(figures_with(recycled_under_min_touches=2))] == [
        "touches"]
    base = figures_with()
    scattered = ReviewFigures(**{**base.__dict__, "first_contact_breaches": 4,
                                 "breach_slots": (BreachSlot(0, False, 1), BreachSlot(4, True, 1))})
    assert suggestions(scattered) == [Suggestion("first_contact", {"count": 4})]


# ---------------------------------------------------------------------------- CSV


def test_csv_lists_the_months_leads_with_timings_and_no_personal_data(seeded: Pack) -> None:
    out = io.StringIO()
    assert write_csv(seeded.services, NOVEMBER, out) == 6
    text = out.getvalue()
    for personal in (EMAIL, PHONE, NAME, "Company A1", "営業部長"):
        assert personal not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["external_id"] for r in rows] == ["A1", "A4", "B1", "B2", "A2", "A3"]
    a1 = rows[0]
    assert a1 == {
        "external_id": "A1", "source": "marketo", "status": "recycled",
        "definition_version": "2026-11-v1", "tier": "", "owner": REP2,
        "qualified_at": "2026-11-06T14:30:00+09:00", "posted_at": "2026-11-06T15:00:00+09:00",
        "claimed_at": "2026-11-06T15:10:00+09:00",
        "first_touch_at": "2026-11-09T11:00:00+09:00",
        "decided_at": "2026-11-09T11:30:00+09:00",
        # Friday 15:00–18:00 and Monday 09:00–11:00 are business time; the weekend is not
        "minutes_to_claim": "10", "minutes_to_first_contact": "300",
        "touches": "1", "decision_reason": "no_need_now",
        # a recycled lead never had a deal
        "outcome": "", "amount": "", "currency": "", "closed_at": "", "loss_reason": "",
    }
    assert rows[2]["touches"] == "5" and rows[2]["decision_reason"] == ""
    assert rows[2]["outcome"] == "open"  # an SQL whose deal the CRM has not closed


def test_csv_cells_never_start_a_spreadsheet_formula(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy
) -> None:
    world = make_pack(fake_slack, sqlite_db, policy, jst(11, 2, 9))
    world.hand_off_body(body("=HYPERLINK(1)", jst(11, 2, 9, 30), source="@evil"),
                        jst(11, 2, 10))
    out = io.StringIO()
    write_csv(world.services, NOVEMBER, out)
    (row,) = csv.DictReader(io.StringIO(out.getvalue()))
    assert (row["external_id"], row["source"]) == ("'=HYPERLINK(1)", "'@evil")


# ---------------------------------------------------------------------------- the view


def test_the_view_stays_within_slack_limits_and_escapes_user_text() -> None:
    t = Translator("en")
    many = tuple(Breakdown(f"<!channel> source {i} " + "x" * 300, 5, i % 5,
                           tuple((f"reason-{j}" * 20, j) for j in range(6)))
                 for i in range(400))
    base = figures_with()
    figures = ReviewFigures(**{**base.__dict__, "by_criterion": many, "by_source": many,
                               "by_behaviour": many, "by_single_behaviour": many,
                               "by_version": many[:3]})
    found = [Suggestion("definition_criterion", {"before": 0.5, "now": 0.1,
                                                 "criterion": "<!here> " + "y" * 900,
                                                 "rate": 0.0})] * 30
    message = review_message(figures, found, t, TOKYO)
    assert len(message["blocks"]) <= MAX_BLOCKS
    for block in message["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"].encode("utf-16-le")) // 2 <= SECTION_LIMIT
    text = json.dumps(message["blocks"])
    assert "<!channel>" not in text and "<!here>" not in text
    assert "&lt;!channel&gt; source 0" in text
    # 12 rows at most, fewer when they do not fit: the rest are counted, never dropped silently
    assert re.search(r"\+3(8[89]|9\d) more", text)


# ---------------------------------------------------------------------------- the post on the 1st


def test_the_pack_is_posted_on_the_first_at_nine_once(seeded: Pack) -> None:
    seeded.sweep_at(jst(12, 1, 8, 59))
    # the first sweep ever posts the latest due month (October), never November before 09:00
    assert [p["metadata"]["event_payload"]["key"] for p in seeded.packs()] == ["review:2026-10"]
    seeded.sweep_at(jst(12, 1, 9))
    (pack,) = seeded.packs("2026-11")
    assert pack["blocks"][0]["text"]["text"] == "月次SLAレビュー · 2026年11月"
    assert "資料ダウンロード のみ" in json.dumps(pack["blocks"], ensure_ascii=False)
    seeded.sweep_at(jst(12, 1, 9, 5))
    seeded.sweep_at(jst(12, 31, 23))
    assert len(seeded.packs()) == 2
    seeded.sweep_at(jst(12, 31, 23) + timedelta(hours=10))  # 1 Jan 09:00
    assert len(seeded.packs("2026-12")) == 1 and len(seeded.packs()) == 3


def test_down_on_the_first_catches_up_once_and_only_the_latest_month(
    fake_slack: FakeSlack, db: Database, policy: Policy
) -> None:
    world = make_pack(fake_slack, db, policy, jst(11, 1, 9))
    world.sweep_at(jst(11, 1, 9))
    world.sweep_at(jst(12, 1, 8))
    assert len(world.packs()) == 1
    world.sweep_at(jst(12, 2, 11))  # the bot was down from the 1st to the 2nd
    assert len(world.packs("2026-11")) == 1
    world.sweep_at(jst(12, 2, 11, 1))
    assert len(world.packs()) == 2
    world.sweep_at(datetime(2027, 3, 10, 9, tzinfo=TOKYO))  # down for three months
    assert [p["metadata"]["event_payload"]["key"] for p in world.packs()][2:] == [
        "review:2027-02"]


def test_post_on_day_and_enabled_are_honoured(
    fake_slack: FakeSlack, db: Database, policy: Policy
) -> None:
    later = policy.model_copy(update={"review": policy.review.model_copy(
        update={"post_on_day": 3})})
    world = make_pack(fake_slack, db, later, jst(11, 1, 9))
    assert due_month(world.services.policy, jst(12, 3, 8, 59)).label == "2026-10"
    assert due_month(world.services.policy, jst(12, 3, 9)).label == "2026-11"
    off = policy.model_copy(update={"review": policy.review.model_copy(
        update={"enabled": False})})
    world.services.policy = off
    world.sweep_at(jst(12, 3, 9))
    assert world.packs() == []


def test_two_sweepers_at_once_post_one_pack(
    fake_slack: FakeSlack, db: Database, policy: Policy
) -> None:
    world = make_pack(fake_slack, db, policy, jst(12, 1, 9))
    contest = race([partial(review_step, world.services, jst(12, 1, 9))] * 2)
    errors, outcomes = contest.errors, contest.results
    assert errors == [] and sorted(outcomes) == [False, True]
    world.drain()
    assert len(world.packs()) == 1


# ---------------------------------------------------------------------------- the CLI


def test_cli_prints_writes_the_csv_and_posts_once(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack,
    policy: Policy, capsys: pytest.CaptureFixture[str],
) -> None:
    from handlers.cli import main
    from storage.db import make_engine

    monkeypatch.setenv("SLACK_API_URL", fake_slack.base_url)
    assert main(["migrate"]) == 0
    url = f"sqlite:///{operator_env}/cli.db"
    engine = make_engine(url)
    world = make_pack(fake_slack, Database("sqlite", url, engine), policy, jst(10, 5, 9))
    world.worked(body("O1", jst(10, 6, 9, 30)), jst(10, 6, 10), REP1, touches=2,
                 touch_at=jst(10, 6, 10, 10), decide_at=jst(10, 6, 11), reason="timing")
    engine.dispose()
    posted_before = len(fake_slack.messages(CHANNEL))
    capsys.readouterr()

    config = ["--config", str(EXAMPLE_POLICY)]
    assert main([*config, "report", "--month", "2026-10", "--csv", "pack.csv"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("月次SLAレビュー · 2026年10月\n")
    assert "5回未満の接触でのリサイクルが 1件" in out
    assert "2026-10 のリード 1件を pack.csv に書き出しました" in out  # the policy's language
    raw = (operator_env / "pack.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens UTF-8 with a BOM correctly
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [(r["external_id"], r["decision_reason"], r["touches"]) for r in rows] == [
        ("O1", "timing", "2")]
    assert EMAIL not in raw.decode("utf-8-sig") and PHONE not in raw.decode("utf-8-sig")
    assert len(fake_slack.messages(CHANNEL)) == posted_before  # printing posts nothing

    for _ in range(2):
        assert main([*config, "report", "--month", "2026-10", "--post"]) == 0
    out = capsys.readouterr().out  # the policy's language
    assert "2026-10 の月次レビューを C0000SALES に投稿しました" in out
    assert "2026-10 の月次レビューは投稿済みか送信待ちです" in out and "posted" not in out
    assert main([*config, "report", "--month", "2026-10", "--post", "--language", "en"]) == 0
    assert "already posted" in capsys.readouterr().out
    packs = [m for m in fake_slack.messages(CHANNEL)
             if (m.get("metadata") or {}).get("event_payload", {}).get("key") == "review:2026-10"]
    assert len(packs) == 1
    assert packs[0]["blocks"][0]["text"]["text"] == "月次SLAレビュー · 2026年10月"

    assert main([*config, "report", "--month", "2026-13"]) == 2
    assert "2026-11 のような年月で指定してください" in capsys.readouterr().err
    assert main([*config, "report", "--month", "2026-13", "--language", "en"]) == 2
    assert "expected a month like 2026-11, got '2026-13'" in capsys.readouterr().err
    assert main([*config, "report", "--month", "2099-01", "--post"]) == 2
    assert "2099-01 はまだ終わっていません" in capsys.readouterr().err
    assert main([*config, "report", "--month", "2099-01", "--post", "--language", "en"]) == 2
    assert "has not ended yet" in capsys.readouterr().err
    engine = make_engine(url)
    with engine.connect() as connection:
        keys = connection.execute(select(OutboxMessage.idempotency_key).where(
            OutboxMessage.idempotency_key.like("review:%"))).scalars().all()
    engine.dispose()
    assert keys == ["review:2026-10", "review:2026-10:chart"]  # the pack, then its funnel


def test_parse_month(seeded: Pack) -> None:
    assert parse_month("2026-02", seeded.services.policy.tz).label == "2026-02"
    with pytest.raises(ValueError):
        parse_month("2026-2", seeded.services.policy.tz)
