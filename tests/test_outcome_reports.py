"""Deal outcomes in the reports (SPEC 10), on SQLite and PostgreSQL: the funnel and its rates,
pipeline and revenue per currency (never mixed), median days from SQL to close, loss reasons
ranked; the ``/sla-status`` line (over signed HTTP), the digest's section, the review's section,
funnel chart, win-rate suggestions (only above the minimum sample) and CSV columns.

The seeded month: November 2026 in Tokyo, every instant at 10:00 JST. Outcomes are recorded
through ``bot.outcomes.record_outcome``, as the webhook and the CSV import record them.

| lead | source | owner | handed off | decided | outcome (closed) | amount |
|------|--------|-------|------------|---------|------------------|--------|
| W1 | webinar | REP1 | 2 Nov | converted 5 Nov | won 20 Nov | ¥1,200,000 (hot tier, agreement v1) |
| W2 | webinar | REP2 | 2 Nov | converted 6 Nov | won 25 Nov | $3,400.50 |
| L1 | webinar | REP1 | 2 Nov | converted 6 Nov | lost 12 Nov, competitor | ¥500,000 |
| L2 | hubspot | REP2 | 4 Nov | converted 10 Nov | lost 28 Nov, price | — |
| L3 | hubspot | REP2 | 4 Nov | converted 10 Nov | lost 30 Nov, "Budget freeze" (other) | — |
| L4 | hubspot | REP2 | 4 Nov | converted 11 Nov | lost 29 Nov, competitor | — |
| O1 | hubspot | REP2 | 4 Nov | converted 12 Nov | open | ¥800,000 |
| O2 | hubspot | REP2 | 4 Nov | converted 13 Nov | — | — |
| X1 | hubspot | REP2 | 4 Nov | converted 15 Nov | won 1 Dec (next month) | ¥300,000 |
| R1 | hubspot | REP2 | 4 Nov | recycled 14 Nov | — | — |
| N1 | hubspot | — | 9 Nov | open | — | — |
| E1 | csv | REP2 | 1 Oct | converted 20 Oct | won 3 Nov | ¥2,000,000 (agreement not recorded) |

So November: 11 MQLs handed off, 10 decided, 9 SQLs (90 %), 3 won and 4 lost (3 of 7), pipeline
¥2,800,000 (4 deals) and $3,400.50, revenue ¥3,200,000 (2 deals) and $3,400.50, days to close
6, 14, 15, 18, 18, 19, 20 (median 18), loss reasons competitor 2, other 1, price 1.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from PIL import Image, ImageFont

from bot.clock import ManualClock
from bot.i18n import Translator
from bot.lifecycle import Surface
from bot.money import format_amount
from bot.outcomes import OutcomeInput, record_outcome
from bot.policy import Policy
from bot.reporting.chart import FONT_FILE, FunnelLabels, FunnelStage, render_funnel_chart
from bot.reporting.digest import build_digest, parse_week
from bot.reporting.metrics import Scorecard
from bot.reporting.outcome_metrics import (
    CurrencySum,
    DealFigures,
    DealSummary,
    closed_summaries,
    deal_summary,
)
from bot.reporting.periods import month
from bot.reporting.review import (
    MIN_CLOSED_FOR_WIN_RATE,
    ReviewFigures,
    build_review,
    review_figures,
    rule_win_rate,
    suggestions,
    write_csv,
)
from bot.services import Services
from bot.terminal_text import blocks_as_text
from bot.views.review import review_message
from storage.models import Activity, Lead, LeadStatus
from tests.harness import FakeSlack
from tests.harness.bot_env import Env, make_services, start
from tests.harness.databases import Database
from tests.harness.images import dark_pixels, drawn_as_notdef
from tests.harness.people import MANAGER, REP1, REP2
from tests.harness.report_month import TOKYO, jst
from tests.harness.settings import ROOT
from tests.harness.status import ask, shown

NOVEMBER = month(2026, 11, TOKYO)
NOW = jst(12, 2, 10)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPY, USD = "JPY", "USD"


def at(month_: int, day: int) -> datetime:
    return jst(month_, day, 10)


#: name → (source, owner, posted, decided, status, agreement version, tier, activity types)
LEADS: dict[str, tuple[str, str | None, datetime, datetime | None, LeadStatus, int | None,
                       str | None, tuple[str, ...]]] = {
    "W1": ("webinar", REP1, at(11, 2), at(11, 5), LeadStatus.CONVERTED, 1, "hot", ("webinar",)),
    "W2": ("webinar", REP2, at(11, 2), at(11, 6), LeadStatus.CONVERTED, 2, None, ("webinar",)),
    "L1": ("webinar", REP1, at(11, 2), at(11, 6), LeadStatus.CONVERTED, 2, None, ("webinar",)),
    "L2": ("hubspot", REP2, at(11, 4), at(11, 10), LeadStatus.CONVERTED, 2, None, ()),
    "L3": ("hubspot", REP2, at(11, 4), at(11, 10), LeadStatus.CONVERTED, 2, None, ()),
    "L4": ("hubspot", REP2, at(11, 4), at(11, 11), LeadStatus.CONVERTED, 2, None, ()),
    "O1": ("hubspot", REP2, at(11, 4), at(11, 12), LeadStatus.CONVERTED, 2, None, ()),
    "O2": ("hubspot", REP2, at(11, 4), at(11, 13), LeadStatus.CONVERTED, 2, None, ()),
    "X1": ("hubspot", REP2, at(11, 4), at(11, 15), LeadStatus.CONVERTED, 2, None, ()),
    "R1": ("hubspot", REP2, at(11, 4), at(11, 14), LeadStatus.RECYCLED, 2, None, ()),
    "N1": ("hubspot", None, at(11, 9), None, LeadStatus.POSTED, 2, None, ()),
    "E1": ("csv", REP2, at(10, 1), at(10, 20), LeadStatus.CONVERTED, None, None, ()),
}

#: name → the outcome payload the CRM sends
OUTCOMES: dict[str, dict[str, Any]] = {
    "W1": {"outcome": "won", "closed_at": at(11, 20), "amount": Decimal(1200000),
           "currency": JPY},
    "W2": {"outcome": "won", "closed_at": at(11, 25), "amount": Decimal("3400.50"),
           "currency": USD},
    "L1": {"outcome": "lost", "closed_at": at(11, 12), "reason": "competitor",
           "amount": Decimal(500000), "currency": JPY},
    "L2": {"outcome": "lost", "closed_at": at(11, 28), "reason": "price"},
    "L3": {"outcome": "lost", "closed_at": at(11, 30), "reason": "Budget freeze"},
    "L4": {"outcome": "lost", "closed_at": at(11, 29), "reason": "Competitor"},
    "O1": {"outcome": "open", "amount": Decimal(800000), "currency": JPY},
    "X1": {"outcome": "won", "closed_at": at(12, 1), "amount": Decimal(300000),
           "currency": JPY},
    "E1": {"outcome": "won", "closed_at": at(11, 3), "amount": Decimal(2000000),
           "currency": JPY},
}


def seed(services: Services) -> dict[str, int]:
    """The table above: leads as the workflow leaves them, then their deals' outcomes."""
    ids: dict[str, int] = {}
    with services.unit_of_work() as uow:
        for name, (source, owner, posted, decided, status, agreement, tier,
                   kinds) in LEADS.items():
            lead = Lead(
                external_id=name, source=source, status=status, definition_version="2026-11-v1",
                tier=tier, qualified_at=posted - timedelta(hours=1),
                received_at=posted - timedelta(hours=1), contact_name=f"Contact {name}",
                company_name=f"Company {name}", posted_at=posted, owner_id=owner,
                claimed_at=posted if owner else None, first_claimed_at=posted if owner else None,
                touch_count=3, decided_at=decided, updated_at=decided or posted,
                decision_reason="timing" if status == LeadStatus.RECYCLED else None,
                channel_id="C0000SALES", message_ts=f"1700000000.{len(ids):06d}",
                agreement_version=agreement, has_history=bool(kinds),
                qualification={"matched": ["industry: manufacturing"]
                               + (["behaviour: webinar"] if kinds else [])},
            )
            lead.activities = [Activity(type=kind, at=posted - timedelta(days=1))
                               for kind in kinds]
            uow.session.add(lead)
            uow.session.flush()
            ids[name] = lead.id
        uow.commit()
    for name, data in OUTCOMES.items():
        result = record_outcome(services, OutcomeInput(lead_id=ids[name], **data),
                                source="api", surface=Surface.WEBHOOK)
        assert result.status == "recorded", (name, result)
    return ids


@pytest.fixture
def seeded(fake_slack: FakeSlack, db: Database, policy: Policy) -> Services:
    services = make_services(fake_slack, db, policy.model_copy(update={"language": "en"}),
                             ManualClock(NOW))
    seed(services)
    return services


# ---------------------------------------------------------------------------- the figures


def test_the_funnel_and_its_rates(seeded: Services) -> None:
    summary = deal_summary(seeded, NOVEMBER)
    deals = summary.figures
    assert (deals.decided, deals.sqls, deals.won, deals.lost) == (10, 9, 3, 4)
    assert deals.sql_rate == pytest.approx(0.9) and deals.win_rate == pytest.approx(3 / 7)
    figures = review_figures(seeded, NOVEMBER)
    assert figures.card.handed_off == 11  # the funnel's top: MQLs handed off in the month
    assert figures.card.converted == deals.sqls  # one definition of an SQL
    assert figures.deals == summary


def test_amounts_are_summed_per_currency_and_never_mixed(seeded: Services) -> None:
    deals = deal_summary(seeded, NOVEMBER).figures
    # O1's open deal and X1 (won in December) are pipeline of November; E1, decided in
    # October and won in November, is revenue only
    assert deals.pipeline == (CurrencySum(JPY, Decimal("2800000"), 4),
                              CurrencySum(USD, Decimal("3400.50"), 1))
    assert deals.revenue == (CurrencySum(JPY, Decimal("3200000"), 2),
                             CurrencySum(USD, Decimal("3400.50"), 1))
    assert all(isinstance(s.amount, Decimal) for s in (*deals.pipeline, *deals.revenue))


def test_median_days_from_sql_to_close_and_loss_reasons_ranked(seeded: Services) -> None:
    summary = deal_summary(seeded, NOVEMBER)
    assert summary.days_to_close == 18.0  # 6, 14, 15, 18, 18, 19, 20
    # "Budget freeze" is no configured code: kept as other; "Competitor" reads as its code
    assert summary.loss_reasons == (("competitor", 2), ("other", 1), ("price", 1))


def test_a_reps_figures_and_the_closed_only_read(seeded: Services) -> None:
    mine = deal_summary(seeded, NOVEMBER, REP1, closed_only=True)
    assert (mine.figures.won, mine.figures.lost) == (1, 1)
    assert mine.figures.revenue == (CurrencySum(JPY, Decimal("1200000"), 1),)
    assert mine.loss_reasons == (("competitor", 1),)
    team = deal_summary(seeded, NOVEMBER, closed_only=True)
    assert (team.figures.won, team.figures.lost, team.figures.sqls) == (3, 4, 0)
    assert team.days_to_close is None and team.figures.pipeline == ()
    assert closed_summaries(seeded, NOVEMBER, REP1) == (team, mine)  # both from one read
    assert closed_summaries(seeded, NOVEMBER) == (team, None)


def test_deals_by_source_behaviour_tier_and_agreement_version(seeded: Services) -> None:
    figures = review_figures(seeded, NOVEMBER)
    by = {dimension: {g.key: g for g in groups} for dimension, groups in figures.deals_by}
    webinar = by["source"]["webinar"]
    assert (webinar.decided, webinar.sqls, webinar.won, webinar.lost) == (3, 3, 2, 1)
    assert webinar.revenue == (CurrencySum(JPY, Decimal(1200000), 1),
                               CurrencySum(USD, Decimal("3400.50"), 1))
    assert (by["source"]["csv"].sqls, by["source"]["csv"].won) == (0, 1)  # E1
    assert by["behaviour"]["webinar"].won == 2
    assert (by["tier"]["hot"].won, by["tier"][""].won) == (1, 2)
    assert (by["agreement"]["1"].won, by["agreement"]["2"].won, by["agreement"][""].won) \
        == (1, 1, 1)
    assert by["agreement"]["2"].lost == 4
    criterion = by["criterion"]["industry: manufacturing"]
    assert (criterion.sqls, criterion.won, criterion.lost) == (9, 3, 4)
    assert by["definition"]["2026-11-v1"].closed == 7


# ---------------------------------------------------------------------------- the surfaces


@pytest.fixture
def bot_env(fake_slack: FakeSlack, db: Database, policy: Policy) -> Iterator[Env]:
    running = start(fake_slack, db, policy.model_copy(update={"language": "en"}),
                    ManualClock(NOW))
    seed(running.services)
    yield running
    running.bot.stop()


def test_the_status_line_for_a_manager_and_a_rep(bot_env: Env) -> None:
    text = shown(ask(bot_env, MANAGER, "2026-11"))
    assert ("Deals closed · won ¥3,200,000, $3,400.50 · 3 deals won · win rate 43 % "
            "(3 of 7 closed)") in text
    mine = shown(ask(bot_env, REP1, "2026-11"))
    assert "Deals closed · won ¥1,200,000 · 1 deal won · win rate 50 % (1 of 2 closed)" in mine
    quiet = shown(ask(bot_env, MANAGER, "2026-10"))
    assert "Deals closed · none in this period yet" in quiet


def test_the_status_line_in_japanese(bot_env: Env) -> None:
    bot_env.services.t = Translator("ja")
    text = shown(ask(bot_env, MANAGER, "2026-11"))
    assert ("商談結果 · 受注額 ￥3,200,000、$3,400.50 · 受注3件 · 受注率 43%"
            "（受注・失注7件中3件）") in text


def test_the_digest_lists_the_weeks_wins_and_losses(seeded: Services) -> None:
    week = parse_week("2026-W48", seeded.policy.tz)  # 23–29 Nov: W2 won, L2 and L4 lost
    digest = build_digest(seeded, week)
    text = blocks_as_text(digest.message)
    assert "Deals closed this week: 1 won ($3,400.50) · 2 lost · win rate 33 %" in text
    mrkdwn = json.dumps(digest.message["blocks"], ensure_ascii=False)
    link = "https://slack.com/archives/C0000SALES/p"  # each deal links to its lead's thread
    assert f"|Company W2> · won $3,400.50 · <@{REP2}>" in mrkdwn and link in mrkdwn
    assert "|Company L2> · lost (price)" in mrkdwn
    assert "|Company L4> · lost (went with a competitor)" in mrkdwn
    assert mrkdwn.index("Company W2") < mrkdwn.index("Company L4")  # wins first
    assert "Loss reasons: went with a competitor 1, price 1" in text
    quiet = build_digest(seeded, parse_week("2026-W46", seeded.policy.tz))  # 9–15 Nov: L1 lost only
    assert "1 lost" in blocks_as_text(quiet.message)
    none = build_digest(seeded, parse_week("2026-W44", seeded.policy.tz))  # no deal closed
    assert "Deals closed" not in blocks_as_text(none.message)


def test_the_digest_section_in_japanese(seeded: Services) -> None:
    seeded.t = Translator("ja")
    message = build_digest(seeded, parse_week("2026-W48", seeded.policy.tz)).message
    text = blocks_as_text(message)
    assert "今週の商談結果：受注1件（$3,400.50）・失注2件・受注率33%" in text
    assert "|Company L4>・失注（競合に決定）" in json.dumps(message, ensure_ascii=False)
    assert "失注理由：競合に決定 1件、価格 1件" in text


def test_the_review_has_a_deals_section_and_breakdowns(seeded: Services) -> None:
    review = build_review(seeded, NOVEMBER)
    text = review.as_text()
    assert ("MQLs handed off 11 → SQLs 9 (90 % of 10 decided) → won 3 (win rate 43 %: 3 of 7 "
            "closed, 4 lost)") in text
    assert "Pipeline (amounts of this month's SQLs): ¥2,800,000, $3,400.50" in text
    assert "Revenue (deals won this month): ¥3,200,000, $3,400.50" in text
    assert "Median days from SQL to close: 18.0 days" in text
    assert "Loss reasons: went with a competitor 2, other 1, price 1" in text
    assert "Deals by source" in text and "Deals by agreement version" in text
    assert "agreement v1 · SQLs 1 (100 %) · won 1 of 1 closed (100 %)" in text
    assert len(review.message["blocks"]) <= 50


def test_the_review_in_japanese(seeded: Services) -> None:
    seeded.t = Translator("ja")
    text = build_review(seeded, NOVEMBER).as_text()
    assert "引き渡しMQL 11件 → SQL 9件（判断済み10件中、90%）→ 受注 3件" in text
    assert "売上（今月受注した商談の金額）：￥3,200,000、$3,400.50" in text
    assert "SQL化から受注・失注までの日数（中央値）：18.0日" in text
    assert "失注理由：競合に決定 2件、その他 1件、価格 1件" in text
    assert "SLA合意書 第1版・SQL 1件" in text


def test_the_funnel_chart_is_a_png_posted_with_the_pack(seeded: Services) -> None:
    review = build_review(seeded, NOVEMBER)
    assert review.chart_png is not None and review.chart_png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(review.chart_png))
    assert image.size == (800, 440)
    assert review.chart_comment == "November 2026: MQLs handed off 11 → SQLs 9 → won 3."
    empty = build_review(seeded, month(2026, 6, TOKYO))  # no MQL, no deal: no chart
    assert empty.chart_png is None


@pytest.mark.parametrize("language", ["en", "ja"])
def test_every_character_of_the_funnel_chart_is_in_the_shipped_font(language: str) -> None:
    """Japanese drawn, not boxes: the funnel's words must be in the font's subset."""
    t = Translator(language)
    font = ImageFont.truetype(str(ROOT / "bot" / "fonts" / FONT_FILE), 16)
    text = "".join(t(f"review.funnel.{k}", month=t("review.month_name", year="2026",
                                                     month=t("review.months.m11")),
                     rate="43 %", decided="1,000", closed="70", mql="1", sql="1", won="1")
                   for k in ("title", "mql", "sql", "won", "sql_step", "won_step", "footnote"))
    missing = sorted({c for c in text if not c.isspace() and drawn_as_notdef(font, c)})
    assert missing == []


def test_the_funnel_chart_draws_japanese_and_bars_in_proportion() -> None:
    stages = [FunnelStage("MQL", 1000), FunnelStage("SQL", 300, "MQL→SQL率 30 %"),
              FunnelStage("受注", 60, "受注率 20 %")]
    png = render_funnel_chart(stages, FunnelLabels("ファネル MQL → SQL → 受注", "注記"))
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert dark_pixels(image, (200, 4, 600, 44)) > 100  # the title, drawn
    assert dark_pixels(image, (100, 300, 185, 400)) > 20  # 受注, the last stage's name

    def bar_width(y: int) -> int:
        row = [image.getpixel((x, y)) for x in range(image.width)]
        return sum(1 for pixel in row if pixel != (255, 255, 255) and max(pixel) - min(pixel) > 60)

    mql, sql, won = bar_width(120), bar_width(230), bar_width(340)
    assert mql > sql > won > 0
    assert sql / mql == pytest.approx(0.3, abs=0.05)
    assert render_funnel_chart(stages, FunnelLabels("t", "f")) == \
        render_funnel_chart(stages, FunnelLabels("t", "f"))  # deterministic


def test_csv_carries_each_deal(seeded: Services) -> None:
    out = io.StringIO()
    write_csv(seeded, NOVEMBER, out)
    rows = {r["external_id"]: r for r in csv.DictReader(io.StringIO(out.getvalue()))}
    assert list(next(iter(rows.values())))[-5:] == ["outcome", "amount", "currency",
                                                    "closed_at", "loss_reason"]
    deal = {k: rows["W2"][k] for k in ("outcome", "amount", "currency", "closed_at",
                                       "loss_reason")}
    assert deal == {"outcome": "won", "amount": "3400.5", "currency": USD,
                    "closed_at": "2026-11-25T10:00:00+09:00", "loss_reason": ""}
    assert (rows["L3"]["outcome"], rows["L3"]["loss_reason"]) == ("lost", "other")
    assert (rows["O1"]["outcome"], rows["O1"]["amount"], rows["O1"]["closed_at"]) == \
        ("open", "800000", "")
    assert rows["R1"]["outcome"] == "" and rows["N1"]["outcome"] == ""
    assert "E1" in rows  # handed off and decided in October, won in November


# ---------------------------------------------------------------------------- suggestions


def figures_with_deals(overall: tuple[int, int], groups: dict[str, tuple[int, int, int, int]],
                       dimension: str = "behaviour") -> ReviewFigures:
    """Review figures whose only news is the deals: ``overall`` (won, lost), and per group
    (decided, SQLs, won, lost)."""
    card = Scorecard(NOVEMBER, None, NOVEMBER.end, handed_off=30, mql_target=30)
    before = Scorecard(NOVEMBER, None, NOVEMBER.end)
    won, lost = overall
    total = DealFigures("", decided=200, sqls=100, won=won, lost=lost)
    rows = tuple(DealFigures(key, *values) for key, values in groups.items())
    return ReviewFigures(
        period=NOVEMBER, previous=NOVEMBER, card=card, before=before, min_touches=0,
        handoff_hours=24, decision_days=7, current_version="v1",
        deals=DealSummary(NOVEMBER, None, total),
        deals_by=tuple((d, rows if d == dimension else ()) for d in ("source", dimension)),
    )


def test_a_group_winning_far_less_than_overall_is_named() -> None:
    figures = figures_with_deals((20, 80), {"webinar": (25, 10, 1, 9), "download": (50, 20,
                                                                                    4, 16)})
    found = rule_win_rate(figures)
    assert found is not None and found.key == "win_rate_behaviour"
    assert found.params["group"] == "webinar"
    assert found.params["sql_rate"] == pytest.approx(0.4)
    assert (found.params["win_rate"], found.params["overall"]) == (pytest.approx(0.1), 0.2)
    message = review_message(figures, suggestions(figures), Translator("en"), TOKYO)
    text = json.dumps(message, ensure_ascii=False)
    assert ("Webinar leads reach SQL at 40 % but win 10 % against 20 % overall: review the "
            "Webinar rule.") in text
    ja = json.dumps(review_message(figures, suggestions(figures), Translator("ja"), TOKYO),
                    ensure_ascii=False)
    assert ("ウェビナー参加のリードはSQL化率40%ですが、受注率は10%です（全体は20%）。"
            "ウェビナー参加のルールを見直してください。") in ja


def test_below_the_minimum_sample_no_win_rate_is_suggested() -> None:
    small = MIN_CLOSED_FOR_WIN_RATE - 1
    # the group: one deal short of the minimum, won none
    assert rule_win_rate(figures_with_deals((20, 80), {"webinar": (20, 10, 0, small)})) is None
    # overall: too few closed deals to compare against
    assert rule_win_rate(figures_with_deals((1, small - 1),
                                            {"webinar": (20, 10, 0, 12)})) is None
    # at the minimum it fires; above half the overall rate it does not
    at_minimum = figures_with_deals((20, 80), {"webinar": (20, 10, 0, MIN_CLOSED_FOR_WIN_RATE)})
    assert rule_win_rate(at_minimum) is not None
    assert rule_win_rate(figures_with_deals((20, 80), {"webinar": (20, 10, 2, 8)})) is None
    assert rule_win_rate(figures_with_deals((20, 80), {"webinar": (20, 10, 1, 9)})) is not None


def test_the_seeded_month_is_below_the_minimum_sample(seeded: Services) -> None:
    """Seven closed deals: the pack names no group, however unequal their win rates."""
    assert rule_win_rate(review_figures(seeded, NOVEMBER)) is None


def test_amounts_are_written_in_each_currencys_own_way() -> None:
    assert format_amount(Decimal(1200000), JPY, "en") == "¥1,200,000"
    assert format_amount(Decimal(1200000), JPY, "ja") == "￥1,200,000"
    assert format_amount(Decimal("3400.5"), USD, "en") == "$3,400.50"
    assert format_amount(Decimal("3400.5"), USD, "ja") == "$3,400.50"
    assert format_amount(Decimal("12.345"), "KWD", "en") == "KWD 12.345"
    assert format_amount(Decimal(99), "CHF", "ja") == "CHF 99.00"
