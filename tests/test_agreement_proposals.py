"""Proposing a new agreement and approving it (SPEC 9), end to end: a proposal recorded and
posted to both channels through the outbox, then signed button presses and modal
submissions to the running bot, on SQLite and PostgreSQL, in English and Japanese.

The approvals are the point: only the approvers of each side count, on the open proposal
only, once per person; whatever a client sends back (a forged version id, a stale button)
changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from threading import Barrier, Thread
from typing import Any

import pytest
import tomli_w
from sqlalchemy import func, select

from bot.agreement.proposals import propose
from bot.agreement.versions import OPERATOR, record_at_start
from bot.clock import ManualClock
from bot.i18n import format_datetime
from bot.ids import Action, Callback, ProposalBlock
from bot.lifecycle import Surface
from bot.policy import Policy, load_policy, parse_policy
from bot.workflow import claim, log_touch
from handlers import cli
from storage.models import AgreementStatus, AgreementVersion, OutboxMessage
from tests.harness import FakeSlack, HttpResponse, plain_text_input, state_values
from tests.harness.blocks import action_ids, shown
from tests.harness.bot_env import Env, start
from tests.harness.databases import Database
from tests.harness.leads import queue
from tests.harness.people import CHANNEL, REP1
from tests.harness.policies import EXAMPLE_POLICY
from tests.harness.waiting import eventually

MARKETING = "C0000MKTG"
MKT_APPROVER, SALES_APPROVER, BOTH = "U0000MKTA", "U0000SLSA", "U0000BOTH"
BUTTONS = [a.value for a in (Action.PROPOSAL_APPROVE, Action.PROPOSAL_REQUEST_CHANGES,
                             Action.PROPOSAL_WITHDRAW)]


def governed(policy: Policy, *, language: str = "en", effective: str = "immediately",
             **governance: Any) -> Policy:
    data = policy.model_dump(mode="json", exclude_none=True)
    data["language"] = language
    data["governance"] = {"marketing_approvers": [MKT_APPROVER, BOTH],
                          "sales_approvers": [SALES_APPROVER, BOTH], "effective": effective,
                          **governance}
    return parse_policy(data)


def changed(policy: Policy, first_contact: float = 1) -> Policy:
    """The spec's example change: first contact 2 → 1 h, the webinar rule gone, a closed day."""
    data = policy.model_dump(mode="json", exclude_none=True)
    data["agreement"]["first_contact_business_hours"] = first_contact
    rules = data["mql_definition"]["behaviour"]["rules"]
    data["mql_definition"]["behaviour"]["rules"] = [r for r in rules
                                                    if r.get("label") != "ウェビナー参加"]
    data["calendar"]["closed_dates"] = ["2026-12-28"]
    return parse_policy(data)


def running(fake: FakeSlack, database: Database, policy: Policy, clock: ManualClock) -> Env:
    env = start(fake, database, policy, clock)
    record_at_start(env.services)  # v1, active
    return env


@pytest.fixture
def env(fake_slack: FakeSlack, db: Database, policy: Policy,
        clock: ManualClock) -> Iterator[Env]:
    bot = running(fake_slack, db, governed(policy), clock)
    yield bot
    bot.bot.stop()


@pytest.fixture
def ja_env(fake_slack: FakeSlack, sqlite_db: Database, policy: Policy,
           clock: ManualClock) -> Iterator[Env]:
    bot = running(fake_slack, sqlite_db, governed(policy, language="ja"), clock)
    yield bot
    bot.bot.stop()


# ---------------------------------------------------------------------------- helpers


def posts(env: Env, channel: str) -> list[dict[str, Any]]:
    return [m for m in env.fake.messages(channel) if "agreement." in json.dumps(m)
            or "合意書" in m.get("text", "") or "Agreement" in m.get("text", "")]


def version(env: Env, number: int) -> AgreementVersion:
    with env.services.unit_of_work() as uow:
        row = uow.session.scalars(
            select(AgreementVersion).where(AgreementVersion.number == number)).one()
        uow.session.expunge(row)
        return row


def approvals(env: Env, version_id: int) -> list[tuple[str, str]]:
    with env.services.unit_of_work() as uow:
        return [(a.user_id, a.side) for a in uow.agreements.approvals(version_id)]


def outbox_rows(env: Env) -> int:
    with env.services.unit_of_work() as uow:
        return uow.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def press(env: Env, action: Action, value: str, user: str, name: str,
          ts: str = "1.0") -> HttpResponse:
    url = env.fake.response_url(name, channel=CHANNEL, message_ts=ts, user=user)
    return env.slack.block_action(action.value, value, user_id=user, channel_id=CHANNEL,
                                  message_ts=ts, response_url=url)


def answer(env: Env, name: str) -> str:
    eventually(lambda: len(env.answers(name)) == 1)
    return env.answers(name)[0]


def proposed(env: Env, **kwargs: Any) -> int:
    """A proposal of the spec's example change, posted; its version id."""
    proposer = kwargs.pop("proposer", OPERATOR)
    result = propose(env.services, changed(env.services.policy, **kwargs),
                     proposer=proposer, note="Faster first contact")
    assert result.recorded
    env.drain()
    assert result.version_id is not None
    return result.version_id


# ---------------------------------------------------------------------------- proposing


def test_a_proposal_is_recorded_and_posted_to_both_channels_with_its_changes(env: Env) -> None:
    result = propose(env.services, changed(env.services.policy), proposer=OPERATOR,
                     note="<!channel> faster")
    assert (result.recorded, result.number, result.superseded) == (True, 2, None)
    v2 = version(env, 2)
    assert (v2.status, v2.effective_at, v2.proposer) == (AgreementStatus.PROPOSED, None, OPERATOR)
    assert version(env, 1).status == AgreementStatus.ACTIVE  # nothing takes effect yet
    env.drain()
    for channel in (CHANNEL, MARKETING):
        (post,) = env.fake.messages(channel)
        text = shown(post)
        assert "Sales: first contact within 2 → 1 business hours" in text
        assert "MQL definition: rule 'ウェビナー参加' removed" in text
        assert "Calendar: 2026-12-28 closed" in text
        assert "&lt;!channel&gt; faster" in text and "<!channel>" not in text
        assert "*Marketing:* waiting for approval" in text
        assert action_ids(post) == BUTTONS
        assert {e["value"] for b in post["blocks"] if b["type"] == "actions"
                for e in b["elements"]} == {str(v2.id)}


def test_the_same_agreement_as_in_force_or_already_proposed_records_nothing(env: Env) -> None:
    same = propose(env.services, env.services.policy, proposer=OPERATOR, note=None)
    assert (same.recorded, same.outcome, same.number) == (False, "same_as_active", 1)
    proposed(env)
    rows = outbox_rows(env)
    again = propose(env.services, changed(env.services.policy), proposer=OPERATOR, note=None)
    assert (again.recorded, again.outcome, again.number) == (False, "same_as_open", 2)
    assert outbox_rows(env) == rows
    with env.services.unit_of_work() as uow:
        assert uow.agreements.latest_number() == 2


def test_a_newer_proposal_supersedes_the_open_one_and_its_buttons_go(env: Env) -> None:
    first = proposed(env)
    result = propose(env.services, changed(env.services.policy, first_contact=1.5),
                     proposer=OPERATOR, note=None)
    assert (result.number, result.superseded) == (3, 2)
    env.drain()
    assert version(env, 2).status == AgreementStatus.SUPERSEDED
    old, new = env.fake.messages(CHANNEL)
    assert "edited" in old and "Superseded by proposal v3." in shown(old)
    assert action_ids(old) == [] and action_ids(new) == BUTTONS
    assert "2 → 1.5 business hours" in shown(new)

    assert press(env, Action.PROPOSAL_APPROVE, str(first), SALES_APPROVER, "old").status == 200
    assert answer(env, "old") == env.services.t("agreement.proposal.error.superseded_by",
                                                number=2, newer=3)
    assert approvals(env, first) == []


def test_the_impact_on_last_months_leads_is_replayed_under_the_proposal(
    env: Env, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 10, 20, 1, 0, tzinfo=UTC))  # Tue 20 Oct 10:00 JST
    webinar_only = queue(env.services, "hubspot-1", qualified_at="2026-10-20T09:00:00+09:00",
                         activities=[{"type": "webinar", "at": "2026-10-19T10:00:00+09:00"}])
    pricing = queue(env.services, "hubspot-2", qualified_at="2026-10-20T09:00:00+09:00",
                    activities=[{"type": "page_view", "at": "2026-10-19T10:00:00+09:00",
                                 "detail": "/pricing"}])
    env.drain()
    claim(env.services, pricing, REP1, surface=Surface.BUTTON)
    clock.advance(timedelta(minutes=90))  # on time for 2 business hours, late for 1
    log_touch(env.services, pricing, REP1, kind="call", outcome="connected", note=None)
    assert webinar_only != pricing
    clock.set(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    result = propose(env.services, changed(env.services.policy), proposer=OPERATOR, note=None)
    assert result.impact is not None
    assert (result.impact.month, result.impact.qualified, result.impact.not_qualified) == (
        "2026-10", 2, 1)
    assert (result.impact.handed_off, result.impact.late_now,
            result.impact.late_proposed) == (1, 0, 1)
    env.drain()
    text = shown(env.fake.messages(CHANNEL)[-1])
    assert "2 leads qualified; 1 of them would not have qualified" in text
    assert "First contacts late: 0 → 1 of 1 lead handed off" in text


# ---------------------------------------------------------------------------- approving


def test_one_approver_of_each_side_approves_and_the_version_gets_its_instant(env: Env) -> None:
    vid = proposed(env)
    t = env.services.t
    assert press(env, Action.PROPOSAL_APPROVE, str(vid), MKT_APPROVER, "m1").status == 200
    assert answer(env, "m1") == t("agreement.proposal.approved", number=2, side="marketing")
    assert press(env, Action.PROPOSAL_APPROVE, str(vid), MKT_APPROVER, "m2").status == 200
    assert answer(env, "m2") == t("agreement.proposal.already_approved", number=2,
                                  side="marketing")
    assert approvals(env, vid) == [(MKT_APPROVER, "marketing")]
    assert version(env, 2).effective_at is None

    assert press(env, Action.PROPOSAL_APPROVE, str(vid), SALES_APPROVER, "s1").status == 200
    assert "Both sides have approved" in answer(env, "s1")
    v2 = version(env, 2)
    assert v2.effective_at == env.clock.now() and v2.status == AgreementStatus.PROPOSED
    env.drain()
    for channel in (CHANNEL, MARKETING):
        (post,) = env.fake.messages(channel)
        assert f"*Marketing:* <@{MKT_APPROVER}>" in shown(post)
        assert f"*Sales:* <@{SALES_APPROVER}>" in shown(post)
        assert "Approved by both sides: takes effect" in shown(post)
        assert action_ids(post) == [Action.PROPOSAL_WITHDRAW.value]


def test_both_sides_pressing_approve_at_the_same_instant(env: Env) -> None:
    """Each approver double-clicks while the other side approves: four presses at once. The
    agreement lock orders them: two approvals, the instant set by whichever came second, no
    press answered with an error."""
    vid = proposed(env)
    presses = [(MKT_APPROVER, "mA"), (MKT_APPROVER, "mB"), (SALES_APPROVER, "sA"),
               (SALES_APPROVER, "sB")]
    barrier = Barrier(len(presses))
    statuses: dict[str, int] = {}
    errors: list[BaseException] = []

    def press_at_once(user: str, name: str) -> None:
        try:
            barrier.wait()
            statuses[name] = press(env, Action.PROPOSAL_APPROVE, str(vid), user, name).status
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [Thread(target=press_at_once, args=each) for each in presses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and statuses == {name: 200 for _, name in presses}
    answered = {name: answer(env, name) for _, name in presses}  # the listeners run after ack

    assert sorted(approvals(env, vid)) == [(MKT_APPROVER, "marketing"),
                                           (SALES_APPROVER, "sales")]
    v2 = version(env, 2)
    assert v2.effective_at == env.clock.now() and v2.status == AgreementStatus.PROPOSED
    t = env.services.t
    at = format_datetime(env.clock.now(), t.language, env.services.policy.tz)
    for user, code in ((MKT_APPROVER, "marketing"), (SALES_APPROVER, "sales")):
        side = t(f"agreement.proposal.side_name_{code}")
        mine = sorted(answered[name] for who, name in presses if who == user)
        new = [a for a in mine if a != t("agreement.proposal.already_approved", number=2,
                                         side=side)]
        assert len(new) == 1, mine  # one press recorded, the other one harmless
        assert new[0] in (t("agreement.proposal.approved", number=2, side=side),
                          t("agreement.proposal.approved_complete", number=2, side=side, at=at))
    completed = [name for name, text in answered.items() if "Both sides have approved" in text]
    assert len(completed) == 1  # the instant was set once, by the second side's approval


def test_an_approver_on_both_lists_cannot_approve_for_both_sides(env: Env) -> None:
    vid = proposed(env)
    press(env, Action.PROPOSAL_APPROVE, str(vid), BOTH, "b1")
    answer(env, "b1")
    press(env, Action.PROPOSAL_APPROVE, str(vid), BOTH, "b2")
    answer(env, "b2")
    assert approvals(env, vid) == [(BOTH, "marketing")]
    assert version(env, 2).effective_at is None


def test_next_business_day_takes_effect_at_the_next_opening(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock
) -> None:
    env = running(fake_slack, sqlite_db, governed(policy, effective="next_business_day"), clock)
    try:
        vid = proposed(env)
        for user, name in ((MKT_APPROVER, "m"), (SALES_APPROVER, "s")):
            press(env, Action.PROPOSAL_APPROVE, str(vid), user, name)
            answer(env, name)
        # approved Tuesday 24 Nov 10:00 JST: in effect Wednesday 25 Nov 09:00 JST
        assert version(env, 2).effective_at == datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
    finally:
        env.bot.stop()


@pytest.mark.parametrize("value", ["abc", "", "999", "1²", "99999999999"])
def test_forged_button_values_are_refused_and_change_nothing(env: Env, value: str) -> None:
    proposed(env)
    rows = outbox_rows(env)
    assert press(env, Action.PROPOSAL_APPROVE, value, SALES_APPROVER, "forged").status == 200
    assert answer(env, "forged") == env.services.t("agreement.proposal.error.unknown")
    assert outbox_rows(env) == rows


def test_the_active_version_cannot_be_approved(env: Env) -> None:
    proposed(env)
    active = version(env, 1)
    press(env, Action.PROPOSAL_APPROVE, str(active.id), SALES_APPROVER, "active")
    assert answer(env, "active") == env.services.t("agreement.proposal.error.active", number=1)
    assert approvals(env, active.id) == []


def test_someone_who_is_not_an_approver_is_refused(env: Env) -> None:
    vid = proposed(env)
    for action in (Action.PROPOSAL_APPROVE, Action.PROPOSAL_REQUEST_CHANGES,
                   Action.PROPOSAL_WITHDRAW):
        name = f"rep-{action.value}"
        press(env, action, str(vid), REP1, name)
        assert answer(env, name) == env.services.t("agreement.proposal.error.not_approver")
    assert approvals(env, vid) == [] and version(env, 2).status == AgreementStatus.PROPOSED
    assert env.fake.calls_to("views.open") == []


# ---------------------------------------------------------------------------- changes, withdraw


def comment_values(text: str | None) -> dict[str, Any]:
    return state_values(plain_text_input(ProposalBlock.COMMENT.value,
                                         ProposalBlock.COMMENT.value, text))


def test_request_changes_needs_a_comment_and_posts_it_escaped_in_both_threads(env: Env) -> None:
    vid = proposed(env)
    press(env, Action.PROPOSAL_REQUEST_CHANGES, str(vid), SALES_APPROVER, "rc")
    (opened,) = env.fake.wait_for("views.open")
    modal = opened.args["view"]
    modal = json.loads(modal) if isinstance(modal, str) else modal
    assert modal["callback_id"] == Callback.PROPOSAL_CHANGES_MODAL.value
    assert modal["private_metadata"] == str(vid)

    for blank in ("", "   \n "):
        refused = env.slack.view_submission(
            Callback.PROPOSAL_CHANGES_MODAL.value, comment_values(blank),
            user_id=SALES_APPROVER, private_metadata=str(vid), view_id="V-blank")
        assert refused.json()["errors"] == {
            ProposalBlock.COMMENT.value: env.services.t("agreement.proposal.error.comment_empty")}
    rows = outbox_rows(env)
    forged = env.slack.view_submission(
        Callback.PROPOSAL_CHANGES_MODAL.value, comment_values("keep 2 h"), user_id=REP1,
        private_metadata=str(vid), view_id="V-rep")
    assert forged.json()["errors"] == {
        ProposalBlock.COMMENT.value: env.services.t("agreement.proposal.error.not_approver")}
    stale = env.slack.view_submission(
        Callback.PROPOSAL_CHANGES_MODAL.value, comment_values("keep 2 h"),
        user_id=SALES_APPROVER, private_metadata="1", view_id="V-active")
    assert "errors" in stale.json()
    assert outbox_rows(env) == rows

    ok = env.slack.view_submission(
        Callback.PROPOSAL_CHANGES_MODAL.value, comment_values("<!channel> keep *2 h*"),
        user_id=SALES_APPROVER, private_metadata=str(vid), view_id="V-ok")
    assert ok.status == 200 and "errors" not in ok.body
    env.drain()
    for channel in (CHANNEL, MARKETING):
        (post,) = env.fake.messages(channel)
        (reply,) = env.fake.thread(channel, post["ts"])
        assert reply["text"].startswith(f"<@{SALES_APPROVER}> requested changes to proposal v2")
        assert reply["text"].splitlines()[1].startswith(">")
        assert "&lt;!channel&gt; keep *2 h*" in reply["text"] and "<!channel>" not in reply["text"]
    assert version(env, 2).status == AgreementStatus.PROPOSED


def test_withdraw_is_for_the_proposer_or_any_approver_of_a_file_proposal(env: Env) -> None:
    result = propose(env.services, changed(env.services.policy), proposer=MKT_APPROVER,
                     note=None)
    env.drain()
    vid = str(result.version_id)
    press(env, Action.PROPOSAL_WITHDRAW, vid, SALES_APPROVER, "other")
    assert answer(env, "other") == env.services.t("agreement.proposal.error.not_proposer")
    press(env, Action.PROPOSAL_WITHDRAW, vid, MKT_APPROVER, "mine")
    assert answer(env, "mine") == env.services.t("agreement.proposal.withdrawn", number=2)
    assert version(env, 2).status == AgreementStatus.WITHDRAWN
    press(env, Action.PROPOSAL_APPROVE, vid, SALES_APPROVER, "late")
    assert answer(env, "late") == env.services.t("agreement.proposal.error.withdrawn", number=2)
    env.drain()
    (post,) = env.fake.messages(CHANNEL)
    assert f"Withdrawn by <@{MKT_APPROVER}>." in shown(post) and action_ids(post) == []

    file_proposal = propose(env.services, changed(env.services.policy, first_contact=1.5),
                            proposer=OPERATOR, note=None)
    press(env, Action.PROPOSAL_WITHDRAW, str(file_proposal.version_id), SALES_APPROVER, "op")
    answer(env, "op")
    assert version(env, 3).status == AgreementStatus.WITHDRAWN


def test_an_update_waits_for_its_post(env: Env) -> None:
    """An approval queued before the post is sent updates the post once it has its ts."""
    result = propose(env.services, changed(env.services.policy), proposer=OPERATOR, note=None)
    press(env, Action.PROPOSAL_APPROVE, str(result.version_id), MKT_APPROVER, "early")
    answer(env, "early")
    env.drain()
    assert env.fake.calls_to("chat.update") == []  # the update waits for the post's ts
    env.clock.advance(timedelta(seconds=10))
    env.drain()
    assert len(env.fake.calls_to("chat.update")) == 2  # one per channel
    (post,) = env.fake.messages(CHANNEL)
    assert f"*Marketing:* <@{MKT_APPROVER}>" in shown(post)
    with env.services.unit_of_work() as uow:
        statuses = set(uow.session.scalars(select(OutboxMessage.status)))
    assert statuses <= {"sent"}


# ---------------------------------------------------------------------------- Japanese


def test_in_japanese(ja_env: Env) -> None:
    env = ja_env
    vid = proposed(env)
    (post,) = env.fake.messages(MARKETING)
    text = shown(post)
    assert "SLA合意書 第2版案" in text
    assert "営業：初回接触は2→1営業時間以内" in text
    assert "MQL定義：ルール「ウェビナー参加」を削除" in text
    assert "営業カレンダー：2026-12-28を休業日に追加" in text
    assert "*マーケティング：* 承認待ち" in text
    assert [e["text"]["text"] for b in post["blocks"] if b["type"] == "actions"
            for e in b["elements"]] == ["承認する", "修正を依頼する", "取り下げる"]
    press(env, Action.PROPOSAL_APPROVE, str(vid), SALES_APPROVER, "ja")
    assert answer(env, "ja") == "第2版案を営業側として承認しました。"
    press(env, Action.PROPOSAL_APPROVE, str(vid), REP1, "ja-rep")
    assert answer(env, "ja-rep").startswith(
        "SLA合意書の改訂案を承認したり修正を依頼したりできるのは")


# ---------------------------------------------------------------------------- the CLI


def _write(path: Path, policy: Policy) -> Path:
    path.write_text(tomli_w.dumps(policy.model_dump(mode="json", exclude_none=True)),
                    encoding="utf-8")
    return path


def test_cli_propose(operator_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from storage import migrate
    from storage.db import make_engine

    base = governed(load_policy(EXAMPLE_POLICY), language="ja")
    config = _write(operator_env / "sla.toml", base)
    engine = make_engine(f"sqlite:///{operator_env}/cli.db")
    migrate.upgrade(engine)
    engine.dispose()

    bad = operator_env / "bad.toml"
    bad.write_text(config.read_text(encoding="utf-8").replace(
        "first_contact_business_hours = 2", "first_contact_business_hours = -1"), "utf-8")
    assert cli.main(["--config", str(config), "agreement", "propose", str(bad)]) == 2
    err = capsys.readouterr().err
    # check-config's per-key lines, in the policy's language
    assert "agreement.first_contact_business_hours: 0より大きい値にしてください" in err
    assert "✗" in err

    assert cli.main(["--config", str(config), "agreement", "propose", str(config)]) == 1
    assert "何も記録していません" in capsys.readouterr().out

    proposal = _write(operator_env / "new.toml", changed(base))
    assert cli.main(["--config", str(config), "agreement", "propose", str(proposal),
                     "--note", "速く"]) == 0
    out = capsys.readouterr().out
    # the bot never ran: the file's agreement became v1 in force, the proposal v2
    assert "SLA合意書の第2版案を記録しました。" in out
    assert "営業：初回接触は2→1営業時間以内" in out
    assert "先月は対象となるリードがなかったため" in out  # not "0 of 0"
    assert "C0000SALES" in out and "C0000MKTG" in out
    assert cli.main(["--config", str(config), "agreement", "propose", str(proposal)]) == 1
    assert "すでに第2版案として承認待ち" in capsys.readouterr().out
    engine = make_engine(f"sqlite:///{operator_env}/cli.db")
    with engine.connect() as connection:
        statuses = connection.exec_driver_sql(
            "SELECT number, status FROM agreement_versions ORDER BY number").all()
    engine.dispose()
    assert [tuple(row) for row in statuses] == [(1, "active"), (2, "proposed")]
