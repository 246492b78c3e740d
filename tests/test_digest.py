"""The weekly digest end to end: a real database (SQLite and PostgreSQL), the real sweep and
outbox worker, the fake Slack showing what the channel sees, and an injected clock.

Week 2026-W48 runs Monday 23 to Sunday 29 November (Tokyo); its digest is due Monday
30 November 09:00. A lead handed off on Tuesday is contacted in time and recycled, another is
left unclaimed until it breaches, and a marketer replies in its thread.
"""

from __future__ import annotations

import base64
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.clock import ManualClock
from bot.policy import Policy
from bot.reporting.digest import digest_step, due_week, parse_week
from bot.views.blocks import SECTION_LIMIT
from bot.views.digest import (
    MAX_BLOCKS,
    BreachLine,
    DigestFigures,
    FeedbackLine,
    RepLine,
    arrow,
    digest_message,
)
from storage.models import OutboxMessage, OutboxStatus
from storage.outbox_kind import OutboxKind
from tests.harness import FakeSlack
from tests.harness.blocks import shown
from tests.harness.bot_env import make_services
from tests.harness.databases import Database
from tests.harness.digest_world import PNG_SIGNATURE, TOKYO, World, jst
from tests.harness.people import CHANNEL
from tests.harness.policies import EXAMPLE_POLICY
from tests.harness.racing import race

REP, MARKETER = "U0000REP1", "U0000MKT1"


@pytest.fixture
def world(fake_slack: FakeSlack, db: Database, policy: Policy) -> World:
    clock = ManualClock(jst(11, 24, 10))
    return World(make_services(fake_slack, db, policy, clock), clock, fake_slack)


# ---------------------------------------------------------------------------- when


def test_monday_0900_posts_one_digest_with_its_chart_and_never_again(world: World) -> None:
    world.busy_week()
    t = world.services.t

    world.sweep_at(jst(11, 30, 8, 59))
    # the first sweep ever posts the latest due week (W47, quiet), never W48 before 09:00
    (earlier,) = world.digests()
    assert "2026-W47" in earlier["blocks"][0]["text"]["text"]
    assert world.shared_files() == []

    world.sweep_at(jst(11, 30, 9))
    (digest,) = world.digests("2026-W48")
    text = shown(digest)
    assert "2026-W48" in digest["blocks"][0]["text"]["text"]
    assert t.plural("digest.headline", 2, arrow="▲", previous=0) in text
    assert t("digest.breaches", count=1) in text or t("digest.breaches", count=2) in text
    assert "&lt;!channel&gt; Ltd" in text and "<!channel>" not in text  # user text escaped
    assert t("recycle_reason.no_budget") in text
    assert t("digest.feedback", count=1) in text
    assert f"https://slack.com/archives/{CHANNEL}/p" in text  # the feedback thread's link
    assert f"<@{REP}>" in text  # the per-rep table
    assert digest["metadata"]["event_payload"]["key"] == "digest:2026-W48"

    (chart,) = world.shared_files()
    assert chart["channel"] == CHANNEL and chart["content"].startswith(PNG_SIGNATURE)
    assert chart["size"] == len(chart["content"])
    assert chart["initial_comment"] == t("digest.chart_comment", week="2026-W48")
    assert len(world.fake.calls_to("files.getUploadURLExternal")) == 1

    world.sweep_at(jst(11, 30, 9, 5))
    world.sweep_at(jst(12, 7, 8, 59))  # all week long: W48 is done, W49 is not due yet
    assert len(world.digests()) == 2  # W47 and W48, each once
    digest_charts = [f for f in world.shared_files()
                     if str(f["name"]).startswith("sla-digest-")]
    assert len(digest_charts) == 1  # (on 1 Dec the November review shared its funnel too)
    world.sweep_at(jst(12, 7, 9))
    assert len(world.digests("2026-W49")) == 1


def test_down_at_nine_up_at_eleven_posts_one_catch_up_and_only_the_latest_week(
    world: World,
) -> None:
    world.sweep_at(jst(11, 23, 9))  # W47's digest, on time
    world.sweep_at(jst(11, 30, 8))
    assert len(world.digests()) == 1
    world.sweep_at(jst(11, 30, 11))  # the process was down at 09:00
    assert len(world.digests("2026-W48")) == 1
    world.sweep_at(jst(11, 30, 11, 1))
    assert len(world.digests()) == 2

    world.sweep_at(jst(12, 22, 11))  # down for three weeks: W49, W50 and W51 are due
    labels = [d["blocks"][0]["text"]["text"] for d in world.digests()]
    assert len(labels) == 3 and "2026-W51" in labels[2]


def test_a_quiet_week_still_gets_a_digest_that_says_so(world: World) -> None:
    world.sweep_at(jst(11, 30, 9))
    (digest,) = world.digests()
    assert world.services.t("digest.quiet", previous=0) in shown(digest)
    assert world.services.t("digest.no_breaches") in shown(digest)
    assert world.shared_files() == []  # an empty chart says nothing


def test_disabled_digest_posts_nothing(world: World) -> None:
    policy = world.services.policy
    world.services.policy = policy.model_copy(
        update={"digest": policy.digest.model_copy(update={"enabled": False})})
    world.sweep_at(jst(11, 30, 9))
    assert world.digests() == []


def test_configured_day_and_hour(world: World) -> None:
    policy = world.services.policy
    world.services.policy = policy.model_copy(
        update={"digest": policy.digest.model_copy(update={"day": "tue", "hour": 7})})
    assert due_week(world.services.policy, jst(12, 1, 6, 59)).label == "2026-W47"
    assert due_week(world.services.policy, jst(12, 1, 7)).label == "2026-W48"
    world.sweep_at(jst(11, 30, 9))
    assert "2026-W47" in world.digests()[0]["blocks"][0]["text"]["text"]


def test_two_sweepers_at_once_post_one_digest(world: World) -> None:
    world.busy_week()
    now = jst(11, 30, 9)
    world.clock.set(now)
    contest = race([partial(digest_step, world.services, now)] * 2)
    assert contest.errors == []
    outcomes = contest.results
    assert sorted(outcomes) == [False, True]
    world.drain()
    assert len(world.digests()) == 1 and len(world.shared_files()) == 1
    with world.services.unit_of_work() as uow:
        keys = list(uow.session.scalars(
            select(OutboxMessage.idempotency_key).where(
                OutboxMessage.idempotency_key.like("digest:%"))))
    assert sorted(keys) == ["digest:2026-W48", "digest:2026-W48:chart"]


# ---------------------------------------------------------------------------- the upload


def chart_row(world: World) -> OutboxMessage:
    with world.services.unit_of_work() as uow:
        row = uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.FILE)).one()
        uow.session.expunge(row)
        return row


def test_a_lost_answer_to_complete_never_shares_the_chart_twice(world: World) -> None:
    world.busy_week()
    # Slack shares the file, but the answer is a 500: the outcome is unknown to the worker
    world.fake.fail("files.completeUploadExternal", status=500, after_effect=True)
    world.sweep_at(jst(11, 30, 9))
    assert len(world.shared_files()) == 1
    row = chart_row(world)
    assert (row.status, row.needs_check) == (OutboxStatus.PENDING, True)
    assert len(row.payload["file_ids"]) == 1

    world.clock.set(row.not_before)
    world.drain()  # finds the share in the channel's history and adopts it
    assert chart_row(world).status == OutboxStatus.SENT
    assert len(world.fake.calls_to("files.getUploadURLExternal")) == 1
    assert len(world.shared_files()) == 1
    uploads = [m for m in world.fake.messages(CHANNEL) if m.get("files")]
    assert len(uploads) == 1


def test_a_failed_byte_upload_is_redone_from_scratch(world: World) -> None:
    world.busy_week()
    world.fake.fail("files.upload_url", status=500)
    world.sweep_at(jst(11, 30, 9))
    assert world.shared_files() == []  # created, never shared: nobody sees anything
    row = chart_row(world)
    assert row.status == OutboxStatus.PENDING and not row.needs_check
    world.clock.set(row.not_before)
    world.drain()
    (shared,) = world.shared_files()
    assert shared["content"].startswith(PNG_SIGNATURE)
    assert len(world.fake.calls_to("files.getUploadURLExternal")) == 2
    sent = chart_row(world)
    assert sent.status == OutboxStatus.SENT and len(sent.payload["file_ids"]) == 2
    assert base64.b64decode(sent.payload["content_b64"]) == shared["content"]


# ---------------------------------------------------------------------------- the view


def test_the_view_stays_within_slack_limits_whatever_the_data(world: World) -> None:
    t = world.services.t
    figures = DigestFigures(
        week_label="2026-W48", start=jst(11, 23, 0), end=jst(11, 30, 0),
        handoffs=900, previous_handoffs=1000,
        breaches=[BreachLine("<!here>" + "x" * 500, "first_contact", f"U{i:08d}",
                             f"https://slack.com/archives/C1/p{i}") for i in range(10)],
        breach_total=4000,
        recycle_reasons=[(f"reason-{i}" * 50, i) for i in range(40)],
        feedback_count=70,
        feedback=[FeedbackLine("名前" * 300, "U0000MKT1", None) for _ in range(5)],
        reps=[RepLine(f"U{i:08d}", i, 0.5, 1, 2, 3) for i in range(300)],
    )
    message = digest_message(figures, t, TOKYO)
    assert len(message["blocks"]) <= MAX_BLOCKS
    for block in message["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"].encode("utf-16-le")) // 2 <= SECTION_LIMIT
    text = shown(message)
    assert "<!here>" not in text and t("digest.more", count=3990) in text
    assert (arrow(2, 1), arrow(1, 2), arrow(1, 1), arrow(None, 1)) == ("▲", "▼", "＝", "")


def test_japanese_digest(fake_slack: FakeSlack, sqlite_db: Database, policy: Policy) -> None:
    assert policy.language == "ja"
    clock = ManualClock(jst(11, 30, 9))
    services = make_services(fake_slack, sqlite_db, policy, clock)
    message = digest_message(
        DigestFigures("2026-W48", jst(11, 23, 0), jst(11, 30, 0), 0, 3), services.t, TOKYO)
    assert message["blocks"][0]["text"]["text"] == "週次SLAダイジェスト · 2026-W48（11/23–11/29）"
    assert "静かな週" in shown(message)


# ---------------------------------------------------------------------------- the CLI


def test_cli_dry_run_prints_the_digest_and_queues_nothing(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from handlers.cli import main
    from storage.db import make_engine

    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert main(["--config", str(EXAMPLE_POLICY), "digest", "--week", "2026-W47",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("週次SLAダイジェスト · 2026-W47（11/16–11/22）\n")
    assert "静かな週" in out and "/sla-status last-week" in out
    engine = make_engine(f"sqlite:///{operator_env}/cli.db")
    with engine.connect() as connection:
        assert connection.execute(select(OutboxMessage.id)).all() == []
    engine.dispose()

    config = ["--config", str(EXAMPLE_POLICY)]
    assert main([*config, "digest", "--week", "2026-W99"]) == 2  # the policy's language
    assert capsys.readouterr().err == "2026-W99 という週はありません\n"
    assert main([*config, "digest", "--week", "2026-W99", "--language", "en"]) == 2
    assert capsys.readouterr().err == "there is no week 2026-W99\n"
    assert main([*config, "digest", "--week", "26w4", "--language", "en"]) == 2
    assert capsys.readouterr().err == "expected an ISO week like 2026-W48, got '26w4'\n"
    assert main([*config, "digest", "--week", "2099-W01"]) == 2
    assert capsys.readouterr().err == (
        "2099-W01 はまだ終わっていません。内容を確認するには --dry-run を付けてください\n")
    assert main([*config, "digest", "--week", "2099-W01", "--language", "en"]) == 2
    assert "has not ended yet" in capsys.readouterr().err


def test_cli_posts_a_week_once_with_the_schedulers_key(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from handlers.cli import main

    monkeypatch.setenv("SLACK_API_URL", fake_slack.base_url)
    assert main(["migrate"]) == 0
    for _ in range(2):
        assert main(["--config", str(EXAMPLE_POLICY), "digest", "--week", "2020-W02"]) == 0
    out = capsys.readouterr().out  # the policy's language
    assert "2020-W02 の週次ダイジェストを C0000SALES に投稿しました" in out
    assert "2020-W02 の週次ダイジェストは投稿済みか送信待ちです" in out
    assert "posted" not in out
    assert main(["--config", str(EXAMPLE_POLICY), "digest", "--week", "2020-W02",
                 "--language", "en"]) == 0
    assert "already posted" in capsys.readouterr().out
    (posted,) = fake_slack.messages(CHANNEL)
    assert "2020-W02" in posted["blocks"][0]["text"]["text"]
    assert posted["metadata"]["event_payload"]["key"] == "digest:2020-W02"


def test_parse_week_refuses_what_is_not_an_iso_week(world: World) -> None:
    assert parse_week("2026-W53", world.services.policy.tz).label == "2026-W53"
    with pytest.raises(ValueError):
        parse_week("2026-48", world.services.policy.tz)
