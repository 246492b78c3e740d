"""SPEC 9, reading the agreement: ``sla-bot agreement`` prints a version as a document (text or
Markdown, English or Japanese); ``/sla-agreement`` and the App Home show its headline with a
button that opens the whole text in a paged modal; the digest and the review name the
versions. Every number comes from the version's policy. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.agreement.reading import agreement_view
from bot.agreement.versions import record_at_start
from bot.clock import ManualClock
from bot.home import queue_home_open
from bot.i18n import Translator
from bot.ids import Action, Callback, Command
from bot.outbox.worker import OutboxWorker
from bot.policy import BehaviourRule, Policy, load_policy
from bot.reporting.digest import build_digest, parse_week
from bot.reporting.review import build_review, parse_month
from bot.services import Services, build_services
from bot.settings import load_settings
from bot.views.agreement import (
    MARKDOWN,
    PAGE_BLOCKS,
    SLACK,
    AgreementHeadline,
    AgreementView,
    agreement_document_content,
    agreement_pages,
    document_markdown,
    document_text,
)
from handlers.cli import main
from storage.models import AgreementApproval
from tests.harness import FakeSlack
from tests.harness.bot_env import Env, make_services, make_worker, start
from tests.harness.databases import Database
from tests.harness.details import assert_within_modal_limits
from tests.harness.leads import queue
from tests.harness.people import MANAGER, MARKETER, REP1
from tests.harness.policies import configured_policy, faster_first_contact
from tests.harness.waiting import eventually

OUTSIDER = "U0000OUTS1"  # in the workspace, in no role: may read the agreement all the same


def approve(services: Services, number: int, *approvals: tuple[str, str]) -> None:
    """Approvals as the proposal flow records them: who, which side."""
    with services.unit_of_work() as uow:
        version = next(v for v, _ in uow.agreements.history() if v.number == number)
        for user_id, side in approvals:
            uow.session.add(AgreementApproval(version_id=version.id, user_id=user_id, side=side,
                                              approved_at=services.clock.now()))
        uow.commit()


def two_versions(services: Services, clock: ManualClock) -> None:
    """v1 from the file on Tue 24 Nov 10:00 JST; v2 (first contact 2 → 1 h) approved by both
    sides, in effect from Thu 26 Nov 10:00 JST."""
    record_at_start(services)
    clock.advance(timedelta(days=2))
    changed = make_like(services, faster_first_contact(services.policy))
    record_at_start(changed)
    approve(services, 2, (MARKETER, "marketing"), (MANAGER, "sales"))


def make_like(services: Services, policy: Policy) -> Services:
    return build_services(services.settings, policy, services.clock, engine=services.engine,
                          slack=services.slack)


# ------------------------------------------------------------------------------ the CLI


def test_the_cli_prints_the_version_in_effect_as_text_and_markdown_in_both_languages(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(configured_policy(operator_env))
    assert main(["--config", config, "migrate"]) == 0
    clock = ManualClock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    services = build_services(load_settings(), load_policy(config), clock)
    try:
        two_versions(services, clock)
    finally:
        services.close()
    capsys.readouterr()

    assert main(["--config", config, "agreement", "--language", "en"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[:4] == [
        "SLA agreement v2",
        "================",
        "In effect since 2026-11-26 10:00",
        f"Approved by {MARKETER} (marketing), {MANAGER} (sales)",
    ]
    for expected in (
        "1. Shared language: what an MQL and an SQL are",
        "        - 料金ページ閲覧: Page view containing “/pricing”",  # the label as written
        "    - Behaviour: at least 1 of these 4 within the last 90 days",
        "    - Score: at least 30",
        "    - “hot”: Demo request in the history → first contact within 1 business hour",
        "- SQL definition: the rep has confirmed Budget, Authority, Need, Timeline (BANT)",
        "2. Marketing's promises",
        "- Hand off each MQL to sales within 24 hours of qualifying (calendar time)",
        "- First contact within 1 business hour of hand-off",  # v2's number, not the file's
        "- Closed every year: 29 Dec – 3 Jan",
        "- The owner is reminded 30 minutes before the first-contact deadline",
        "- Weekly digest: every Monday at 09:00, for the week before",
        "- went with a competitor",
        "8. Change history",
        "- Agreement v1: in effect since 2026-11-24 10:00 (superseded)",
        "- Agreement v2: in effect since 2026-11-26 10:00 (active)",
    ):
        assert expected in lines, expected
    assert out.index("- Agreement v1:") < out.index("- Agreement v2:")

    assert main(["--config", config, "agreement", "--version", "1", "--language", "en"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("SLA agreement v1\n")
    assert "Status: superseded" in first and "Agreement v2:" not in first
    assert "- First contact within 2 business hours of hand-off" in first.splitlines()
    assert "no approvers are configured, so no vote was needed" in first

    assert main(["--config", config, "agreement", "--format", "markdown",
                 "--language", "en"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith(
        "# SLA agreement v2\n\nIn effect since 2026-11-26 10:00  \n")
    assert f"Approved by `{MARKETER}` (marketing), `{MANAGER}` (sales)  " in markdown
    assert "\n## 3. Sales' promises\n\n- First contact within 1 business hour of hand-off\n" \
        in markdown
    assert "\n    - 料金ページ閲覧: Page view containing “/pricing”\n" in markdown

    assert main(["--config", config, "agreement"]) == 0  # the policy's language: Japanese
    japanese = capsys.readouterr().out.splitlines()
    assert japanese[0] == "SLA合意書 第2版"
    for expected in (
        "施行日：2026年11月26日 10:00",
        f"承認者：{MARKETER}（マーケティング）、{MANAGER}（営業）",
        "1. 共通の定義（MQLとSQL）",
        "        - 料金ページ閲覧：ページ閲覧（「/pricing」を含む）",
        "- 引き渡しから1営業時間以内に初回接触",
        "- 毎年の休業期間：12月29日〜1月3日",
        "- 週次ダイジェスト：毎週月曜 09:00に前週分を投稿",
        "- 第1版：2026年11月24日 10:00施行（改訂済み）",
    ):
        assert expected in japanese, expected
    assert main(["--config", config, "agreement", "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("# SLA合意書 第2版\n")


def test_a_version_never_recorded_is_a_clear_error(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(configured_policy(operator_env))
    assert main(["--config", config, "migrate"]) == 0
    capsys.readouterr()
    assert main(["--config", config, "agreement", "--version", "7", "--language", "en"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == ("There is no agreement v7: sla-bot agreement "
                                    "history lists the versions.")
    assert main(["--config", config, "agreement", "--version", "7"]) == 2
    assert capsys.readouterr().err.startswith("SLA合意書の第7版は記録されていません。")
    for bad in ("0", "-1", "two", "١"):
        with pytest.raises(SystemExit) as exit_:
            main(["--config", config, "agreement", "--version", bad])
        assert exit_.value.code == 2
        assert "expected a version number like 3" in capsys.readouterr().err


def test_before_any_version_is_recorded_the_running_policy_is_printed(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(configured_policy(operator_env))
    assert main(["--config", config, "migrate"]) == 0
    capsys.readouterr()
    assert main(["--config", config, "agreement", "--language", "en"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "SLA agreement (as the bot runs it now)"
    assert out[2].startswith("Not recorded as a version yet")
    assert "- First contact within 2 business hours of hand-off" in out
    assert "- No version recorded yet." in out


def test_every_number_comes_from_the_policy(policy: Policy) -> None:
    """A policy unlike the example's: each changed number shows, in both languages."""
    changed = policy.model_copy(update={
        "agreement": policy.agreement.model_copy(update={
            "first_contact_business_hours": 1.5, "handoff_within_hours": 1, "min_touches": 3,
            "decision_days": 10, "bant_required": ("budget", "need"),
            "max_open_leads_per_rep": 12, "mql_monthly_target": 1234}),
        "tiers": (),
        "reminders": policy.reminders.model_copy(update={
            "quiet_hours": False, "first_contact_before_minutes": (10, 45),
            "first_contact_at_percent": (50,), "decision_before_business_days": 0}),
        "digest": policy.digest.model_copy(update={"enabled": False}),
        "review": policy.review.model_copy(update={"post_on_day": 3}),
        "calendar": policy.calendar.model_copy(update={
            "working_days": ("mon", "wed"), "holidays": None,
            "working_hours": ((time(9), time(12)), (time(13), time(17, 30))),
            "annual_closures": ()}),
        "recycle": policy.recycle.model_copy(update={"reasons": ("no_budget", "our_own_code")}),
    })
    headline = AgreementHeadline(None, None, None, True)
    text = document_text(agreement_document_content(
        AgreementView(headline, changed), Translator("en"), changed.tz)).splitlines()
    for expected in (
        "- Hand off 1,234 MQLs a month",
        "- Hand off each MQL to sales within 1 hour of qualifying (calendar time)",
        "- First contact within 1.5 business hours of hand-off",
        "- At least 3 touches before recycling a lead",
        "- A decision, SQL or recycle, within 10 days of hand-off",
        "- At most 12 open leads per rep",
        "- Priority tiers: none",
        "- SQL definition: the rep has confirmed Budget, Need (BANT)",
        "- Working days: Mon, Wed",
        "- Business hours: 09:00–12:00, 13:00–17:30",
        "- Public holidays: not taken into account",
        "- Annual closures: none",
        "- The owner is reminded 45, 10 minutes before the first-contact deadline",
        "- The owner is also reminded when 50 % of the first-contact window has passed",
        "- No reminder before the decision deadline",
        "- Reminders go out at any hour",
        "- Weekly digest: off",
        "- Monthly review pack: on day 3 of each month, for the month before",
        "- no budget",
        "- our_own_code",  # an operator's own reason, as written
    ):
        assert expected in text, expected
    japanese = document_text(agreement_document_content(
        AgreementView(headline, changed), Translator("ja"), changed.tz)).splitlines()
    for expected in ("- 引き渡しから1.5営業時間以内に初回接触", "- 月1,234件のMQLを営業に引き渡す",
                     "- 営業日：月・水", "- 担当者1人あたりの対応中リードは12件まで",
                     "- 週次ダイジェスト：停止中"):
        assert expected in japanese, expected


def test_public_holidays_are_named_by_their_country(policy: Policy) -> None:
    """「日本の祝日は休業」, not a bare code; a country without a name in the catalog keeps its
    code, a region follows as its code; the change list names them the same way."""
    from bot.agreement.changes import agreement_changes, describe_changes

    def holidays_line(language: str, calendar: dict[str, Any]) -> str:
        changed = policy.model_copy(update={"calendar": policy.calendar.model_copy(
            update=calendar)})
        lines = document_text(agreement_document_content(
            AgreementView(AgreementHeadline(None, None, None, True), changed),
            Translator(language), changed.tz)).splitlines()
        return next(line for line in lines if "holidays" in line or "祝日" in line)

    assert policy.calendar.holidays == "JP"
    assert holidays_line("en", {}) == "- Public holidays of Japan: closed"
    assert holidays_line("ja", {}) == "- 日本の祝日は休業"
    us_ca = {"holidays": "US", "holiday_subdivision": "CA"}
    assert holidays_line("en", us_ca) == "- Public holidays of the United States (CA): closed"
    assert holidays_line("ja", us_ca) == "- 米国（CA）の祝日は休業"
    assert holidays_line("ja", {"holidays": "NO"}) == "- NOの祝日は休業"  # no name: the code

    moved = policy.model_copy(update={"calendar": policy.calendar.model_copy(
        update={"holidays": "SG"})})
    changes = [c for c in agreement_changes(policy, moved) if not c.operational]
    assert describe_changes(changes, Translator("ja")) == [
        "営業カレンダー：祝日の国 日本→シンガポール"]
    assert describe_changes(changes, Translator("en")) == [
        "Calendar: public holidays of Japan → Singapore"]


def test_the_agreement_is_named_one_way_in_japanese() -> None:
    """「SLA合意書」「第2版」「第2版案」 throughout, never 合意 v2 / 合意書 v2 / 提案 v2; and
    "agreement v2" throughout in English, never "version 2"."""
    from bot.i18n import catalog

    def agreement_texts(language: Any) -> dict[str, str]:
        return {key: text for key, text in catalog(language).items()
                if key.startswith(("agreement.", "cli.agreement.", "cli.check.agreement",
                                   "cli.check.effective_policy_in_force", "cli.preview.source"))
                or (key.startswith(("digest.", "review.", "home.")) and "agreement" in key)}

    japanese = agreement_texts("ja")
    assert len(japanese) > 100
    for key, text in japanese.items():
        assert "v{" not in text and "バージョン一覧" not in text, key
        assert "合意 " not in text and not text.startswith("合意が"), key
    english = agreement_texts("en")
    for key, text in english.items():
        assert "version {number}" not in text.casefold(), key


def test_markdown_escapes_what_the_policy_says(policy: Policy) -> None:
    rules = (BehaviourRule(type="page_view", label="*Pricing* [page] #1"),)
    behaviour = policy.mql_definition.behaviour.model_copy(update={"rules": rules})
    definition = policy.mql_definition.model_copy(update={"behaviour": behaviour})
    odd = policy.model_copy(update={"mql_definition": definition})
    markdown = document_markdown(agreement_document_content(
        AgreementView(AgreementHeadline(None, None, None, True), odd), Translator("en"),
        odd.tz, MARKDOWN))
    assert r"\*Pricing\* \[page\] \#1: Page view" in markdown


# ------------------------------------------------------------------------------ Slack


@pytest.fixture(params=["en", "ja"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def env(fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock,
        language: str) -> Iterator[Env]:
    running = start(fake_slack, db, policy.model_copy(update={"language": language}), clock)
    two_versions(running.services, clock)
    yield running
    running.bot.stop()


def long_policy(policy: Policy, rules: int = 200) -> Policy:
    """So many behaviour rules that the document needs several modal pages."""
    behaviour = policy.mql_definition.behaviour.model_copy(update={"rules": tuple(
        BehaviourRule(type="page_view", detail_contains=f"/docs/{i:03d}",
                      label=f"製品ドキュメント閲覧 {i:03d} <!channel> " + "長" * 40)
        for i in range(rules))})
    definition = policy.mql_definition.model_copy(update={"behaviour": behaviour})
    return policy.model_copy(update={"mql_definition": definition})


@pytest.fixture
def long_env(fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock,
             language: str) -> Iterator[Env]:
    running = start(fake_slack, db, long_policy(policy).model_copy(
        update={"language": language}), clock)
    two_versions(running.services, clock)
    yield running
    running.bot.stop()


def ask(env: Env, user: str) -> dict[str, Any]:
    return env.command(Command.SLA_AGREEMENT, user)


def shown(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_sla_agreement_answers_anyone_with_the_summary_and_the_button(
    env: Env, language: str
) -> None:
    t = env.services.t
    answer = ask(env, OUTSIDER)
    assert answer["response_type"] == "ephemeral"
    text = shown(answer["blocks"])
    assert answer["blocks"][0]["text"]["text"] == t("agreement.document.title", number=2)
    if language == "en":
        assert "In effect since 2026-11-26 10:00" in text
        assert f"Approved by <@{MARKETER}> (marketing), <@{MANAGER}> (sales)" in text
        assert "• First contact within 1 business hour of hand-off" in text
        assert "• Hand off 100 MQLs a month" in text
    else:
        assert "施行日：2026年11月26日 10:00" in text
        assert f"承認者：<@{MARKETER}>（マーケティング）、<@{MANAGER}>（営業）" in text
        assert "• 引き渡しから1営業時間以内に初回接触" in text
    (button,) = answer["blocks"][-1]["elements"]
    assert (button["action_id"], button["value"]) == (Action.AGREEMENT_OPEN.value, "2")
    assert button["text"]["text"] == t("agreement.slack.open")


def open_modal(env: Env, user: str, value: str, count: int = 1) -> dict[str, Any]:
    """Press the open button (as on the summary) and return the view Slack opened."""
    url = env.fake.response_url(f"open-{count}", user=user)
    assert env.slack.block_action(Action.AGREEMENT_OPEN.value, value, user_id=user,
                                  response_url=url, trigger_id=f"trig-open-{count}").status == 200
    calls = env.fake.wait_for("views.open", count)
    response = calls[count - 1].response
    assert response is not None and response["ok"]
    view = response["view"]
    assert view["callback_id"] == Callback.AGREEMENT_MODAL.value
    return view


def press_in_modal(env: Env, view: dict[str, Any], action: Action,
                   **changes: Any) -> int:
    """Press Previous / Next in ``view`` (its metadata forged by ``changes``); the HTTP status."""
    sent = {key: view[key] for key in ("id", "hash", "callback_id", "private_metadata")}
    sent.update(changes)
    return env.slack.block_action(action.value, action.value, user_id=OUTSIDER,
                                  container_type="view", view=sent).status


def test_the_modal_opens_on_page_1_and_turns_pages_within_slacks_limits(long_env: Env) -> None:
    env = long_env
    view = open_modal(env, OUTSIDER, "2")
    sent = [env.fake.calls_to("views.open")[0].args["view"]]
    content = agreement_document_content(agreement_view(env.services), env.services.t,
                                         env.services.policy.tz, SLACK)
    pages = len(agreement_pages(content))
    assert pages >= 3
    assert json.loads(view["private_metadata"]) == {"version": 2, "page": 0}
    seen = [view]
    for page in range(1, pages):
        assert press_in_modal(env, seen[-1], Action.AGREEMENT_NEXT) == 200
        (update,) = env.fake.wait_for("views.update", page)[page - 1:]
        assert update.response is not None and update.response["ok"], update.response
        seen.append(update.response["view"])
        sent.append(update.args["view"])
        assert json.loads(seen[-1]["private_metadata"]) == {"version": 2, "page": page}
    for page_view in sent:
        assert_within_modal_limits(page_view)
        assert len(page_view["blocks"]) <= PAGE_BLOCKS + 3
        assert "<!channel>" not in shown(page_view["blocks"])  # labels are escaped
    text = "".join(shown(v["blocks"]) for v in seen)
    assert "製品ドキュメント閲覧 000" in text and "製品ドキュメント閲覧 199" in text
    assert env.services.t("agreement.document.s_history") in text
    last_buttons = [e["action_id"] for e in seen[-1]["blocks"][-1]["elements"]]
    assert last_buttons == [Action.AGREEMENT_PREVIOUS.value]
    first_buttons = [e["action_id"] for e in seen[0]["blocks"][-1]["elements"]]
    assert first_buttons == [Action.AGREEMENT_NEXT.value]
    assert seen[1]["blocks"][-2]["elements"][0]["text"] == env.services.t(
        "agreement.slack.page", page=2, pages=pages)

    assert press_in_modal(env, seen[-1], Action.AGREEMENT_PREVIOUS) == 200
    updates = env.fake.wait_for("views.update", pages)
    back = updates[-1].response
    assert back is not None
    assert json.loads(back["view"]["private_metadata"])["page"] == pages - 2


@pytest.mark.parametrize("metadata", [
    '{"version": 2, "page": 998}',  # past the last page
    '{"version": 2, "page": -2}',
    '{"version": 2, "page": true}',
    '{"version": 2, "page": 0, "extra": 1}',
    '{"version": "2", "page": 0}',
    "not json",
    "",
])
def test_a_forged_page_is_refused_and_nothing_is_updated(long_env: Env, metadata: str) -> None:
    env = long_env
    view = open_modal(env, OUTSIDER, "2")
    assert press_in_modal(env, view, Action.AGREEMENT_NEXT, private_metadata=metadata) == 200
    assert press_in_modal(env, view, Action.AGREEMENT_PREVIOUS) == 200  # page 0: no page -1
    assert press_in_modal(env, view, Action.AGREEMENT_NEXT,
                          callback_id=Callback.DETAILS_MODAL.value) == 200
    # a genuine press afterwards is served: the refusals above were handled, not queued
    assert press_in_modal(env, view, Action.AGREEMENT_NEXT) == 200
    (update,) = env.fake.wait_for("views.update", 1)
    assert json.loads(update.args["view"]["private_metadata"])["page"] == 1
    assert len(env.fake.calls_to("views.update")) == 1


def test_a_forged_version_opens_nothing(env: Env) -> None:
    for index, value in enumerate(("99", "abc", "2; drop")):
        url = env.fake.response_url(f"bad-{index}", user=OUTSIDER)
        assert env.slack.block_action(Action.AGREEMENT_OPEN.value, value, user_id=OUTSIDER,
                                      response_url=url).status == 200
    eventually(lambda: len([c for c in env.fake.calls_to("response_url")
                            if str(c.args.get("_name", "")).startswith("bad-")]) == 3)
    texts = [c.args["text"] for c in env.fake.calls_to("response_url")
             if str(c.args.get("_name", "")).startswith("bad-")]
    assert env.services.t("agreement.document.not_found", number=99) in texts
    assert env.fake.calls_to("views.open") == []
    # version 1 can still be opened by its number
    view = open_modal(env, OUTSIDER, "1")
    assert env.services.t("agreement.document.title", number=1) in shown(view["blocks"])


def test_the_home_shows_the_agreement_line_and_its_button_opens_the_modal(
    env: Env, language: str
) -> None:
    queue_home_open(env.services, REP1, "Ev-home-1")
    env.drain()
    home = env.fake.home_views[REP1]
    (line,) = [b for b in home["blocks"] if b.get("accessory", {}).get("action_id")
               == Action.AGREEMENT_OPEN.value]
    assert home["blocks"][1] is line  # right under the "updated" line
    if language == "en":
        assert line["text"]["text"] == (
            ":scroll: *SLA agreement v2* · in effect since 2026-11-26 10:00 · "
            f"Approved by <@{MARKETER}> (marketing), <@{MANAGER}> (sales)")
    else:
        assert line["text"]["text"] == (
            ":scroll: *SLA合意書 第2版*　2026年11月26日 10:00施行　"
            f"承認者：<@{MARKETER}>（マーケティング）、<@{MANAGER}>（営業）")
    button = line["accessory"]
    assert env.slack.block_action(
        button["action_id"], button["value"], user_id=REP1, container_type="view",
        view={"id": home["id"], "type": "home"}).status == 200
    (call,) = env.fake.wait_for("views.open")
    assert call.args["view"]["callback_id"] == Callback.AGREEMENT_MODAL.value
    assert json.loads(call.args["view"]["private_metadata"]) == {"version": 2, "page": 0}


def test_a_version_recorded_from_the_file_reads_as_such_on_the_home(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    running = start(fake_slack, db, policy.model_copy(update={"language": "en"}), clock)
    try:
        record_at_start(running.services)
        queue_home_open(running.services, MANAGER, "Ev-home-2")
        running.drain()
        texts = shown(fake_slack.home_views[MANAGER]["blocks"])
        assert ":scroll: *SLA agreement v1* · in effect since 2026-11-24 10:00 · taken from " \
               "the policy file" in texts
    finally:
        running.bot.stop()


# ------------------------------------------------------------------------------ digest, review


def drain(worker: OutboxWorker) -> None:
    for _ in range(50):
        if worker.run_once() == 0:
            return
    raise AssertionError("the outbox never drained")


@pytest.fixture
def db_services(fake_slack: FakeSlack, db: Database, policy: Policy,
                clock: ManualClock) -> Services:
    return make_services(fake_slack, db, policy.model_copy(update={"language": "en"}), clock)


def test_the_digest_names_a_version_that_took_effect_in_its_week(
    db_services: Services, clock: ManualClock
) -> None:
    services = db_services
    two_versions(services, clock)  # v1 on 24 Nov, v2 on 26 Nov: both in 2026-W48
    text = build_digest(services, parse_week("2026-W48", services.policy.tz)).as_text()
    assert "The agreement changed: agreement v1, in effect since Tue 24 Nov 10:00." in text
    assert "The agreement changed: agreement v2, in effect since Thu 26 Nov 10:00." in text
    assert "Read it with /sla-agreement." in text
    quiet = build_digest(services, parse_week("2026-W49", services.policy.tz)).as_text()
    assert "The agreement changed" not in quiet
    ja = make_like(services, services.policy.model_copy(update={"language": "ja"}))
    assert "SLA合意書が改訂されました：第2版（11/26(木) 10:00施行）" in build_digest(
        ja, parse_week("2026-W48", ja.policy.tz)).as_text()


def test_the_review_shows_the_months_versions_and_figures_per_version(
    db_services: Services, clock: ManualClock, fake_slack: FakeSlack
) -> None:

    services = db_services
    worker = make_worker(services, clock, fake_slack)
    record_at_start(services)
    queue(services, "under-v1-a")
    queue(services, "under-v1-b")
    drain(worker)
    clock.advance(timedelta(days=2))
    record_at_start(make_like(services, faster_first_contact(services.policy)))
    queue(services, "under-v2")
    drain(worker)

    november = build_review(services, parse_month("2026-11", services.policy.tz))
    figures = november.figures
    assert [h.number for h in figures.agreement_versions] == [1, 2]
    assert [(f.number, f.handed_off) for f in figures.by_agreement] == [(1, 2), (2, 1)]
    text = november.as_text()
    assert "The agreement changed during the month: leads handed off under each version" in text
    assert "• Agreement v1 (since Tue 24 Nov 10:00) · 2 handed off · first contact on time" in text
    assert "• Agreement v2 (since Thu 26 Nov 10:00) · 1 handed off · first contact on time" in text

    clock.advance(timedelta(days=10))
    december = build_review(services, parse_month("2026-12", services.policy.tz))
    assert [h.number for h in december.figures.agreement_versions] == [2]
    assert december.figures.by_agreement == ()
    assert "In force all month: agreement v2 (since Thu 26 Nov 10:00)." in \
        december.as_text()
    ja = make_like(services, services.policy.model_copy(update={"language": "ja"}))
    assert "今月はSLA合意書が改訂されました。" in build_review(
        ja, parse_month("2026-11", ja.policy.tz)).as_text()
