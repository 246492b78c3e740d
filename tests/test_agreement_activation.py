"""SPEC 9, taking effect: an approved version becomes active at its instant, every process
follows it within a sweep, open leads are re-planned, both channels hear "vN is in effect";
with approvers the database's agreement survives any restart."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from threading import Barrier, Thread
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.agreement.activation import activation_step, in_effect_key
from bot.agreement.changes import AgreementChange, agreement_changes, describe_changes
from bot.agreement.document import agreement_document, policy_with_agreement
from bot.agreement.proposals import propose
from bot.agreement.versions import record_at_start
from bot.clock import ManualClock
from bot.i18n import Translator
from bot.mrkdwn import escape
from bot.policy import Governance, Policy, PolicyError
from bot.reminders.sweep import recompute_all
from bot.services import Services
from bot.views.agreement_notice import InEffectNotice, in_effect_message
from handlers.cli import main
from storage.models import AgreementVersion
from tests.harness import FakeSlack
from tests.harness.agreements import (
    MARKETING_APPROVER,
    SALES_APPROVER,
    approve,
    in_effect_rows,
    versions,
)
from tests.harness.bot_env import make_services, make_worker
from tests.harness.databases import Database
from tests.harness.leads import lead_row, queue
from tests.harness.policies import configured_policy, faster_first_contact


def governed(policy: Policy) -> Policy:
    return policy.model_copy(update={"governance": Governance(
        marketing_approvers=(MARKETING_APPROVER,), sales_approvers=(SALES_APPROVER,))})


def sooner_nudge(policy: Policy) -> Policy:
    """Sales nudged after 5 unclaimed business minutes instead of 15."""
    reminders = policy.reminders.model_copy(update={"unclaimed_after_business_minutes": 5})
    return policy.model_copy(update={"reminders": reminders})


def change_lines(old: Policy, new: Policy, t: Translator) -> list[str]:
    """The change list as the post shows it (its wording is ``describe_changes``')."""
    changes = [c for c in agreement_changes(old, new) if not c.operational]
    return [f"• {escape(line)}" for line in describe_changes(changes, t)]


def deliver(services: Services, clock: ManualClock, fake_slack: FakeSlack) -> None:
    worker = make_worker(services, clock, fake_slack)
    for _ in range(10):
        if worker.run_once() == 0:
            return


def posted_texts(fake_slack: FakeSlack) -> dict[str, str]:
    """Channel → the whole text of the in-effect post there (header, sections, context)."""
    posts: dict[str, str] = {}
    for call in fake_slack.calls_to("chat.postMessage"):
        blocks: Any = call.args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        texts = []
        for block in blocks or []:
            if "text" in block:
                texts.append(block["text"]["text"])
            texts += [e["text"] for e in block.get("elements", [])]
        posts[call.args["channel"]] = "\n".join(texts)
    return posts


# ------------------------------------------------------------------ the effective policy


def test_the_effective_policy_is_the_files_operations_with_the_stored_agreement(
    policy: Policy,
) -> None:
    stored = agreement_document(faster_first_contact(policy)).text
    roles = policy.roles.model_copy(update={"reps": ("U0NEWREP01",)})
    file_policy = policy.model_copy(update={"roles": roles, "language": "ja"})
    effective = policy_with_agreement(file_policy, stored)
    assert effective.agreement.first_contact_business_hours == 1  # the stored agreement
    assert (effective.roles.reps, effective.language) == (("U0NEWREP01",), "ja")  # the file's
    assert agreement_document(effective).text == stored
    with pytest.raises(PolicyError):
        policy_with_agreement(policy, '[agreement]\nfirst_contact_business_hours = "soon"\n')


# ------------------------------------------------------------------ activation


def test_an_approved_version_takes_effect_at_its_instant_once_and_every_process_follows(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    file_policy = governed(policy)
    first = make_services(fake_slack, db, file_policy, clock)
    second = make_services(fake_slack, db, file_policy, clock)  # another replica
    record_at_start(first)
    record_at_start(second)
    proposal = propose(first, governed(faster_first_contact(policy)), proposer=SALES_APPROVER)
    assert proposal.number == 2

    approve(first, 2, "marketing", MARKETING_APPROVER, clock.now())
    activation_step(first, clock.now())
    assert versions(first) == [(1, "active"), (2, "proposed")]  # one side is not enough

    tomorrow = clock.now() + timedelta(days=1)
    approve(first, 2, "sales", SALES_APPROVER, clock.now(), effective_at=tomorrow)
    activation_step(first, clock.now())
    assert versions(first) == [(1, "active"), (2, "proposed")]  # not yet its instant
    assert first.policy.agreement.first_contact_business_hours == 2

    clock.set(tomorrow)
    activation_step(first, clock.now())
    assert versions(first) == [(1, "superseded"), (2, "active")]
    assert (first.agreement_version, first.policy.agreement.first_contact_business_hours) == (
        2, 1)
    assert second.policy.agreement.first_contact_business_hours == 2  # until its next sweep
    activation_step(second, clock.now())
    assert (second.agreement_version, second.policy.agreement.first_contact_business_hours) == (
        2, 1)
    assert second.policy.roles == file_policy.roles  # operations still from its file

    activation_step(first, clock.now())
    activation_step(second, clock.now())
    assert versions(first) == [(1, "superseded"), (2, "active")]
    channels = policy.channels
    assert in_effect_rows(first) == sorted(
        in_effect_key(2, c) for c in (channels.handoff, channels.marketing_feedback))


def test_two_processes_sweeping_at_once_activate_it_once(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    processes = [make_services(fake_slack, db, governed(policy), clock) for _ in range(4)]
    record_at_start(processes[0])
    propose(processes[0], governed(faster_first_contact(policy)), proposer=SALES_APPROVER)
    approve(processes[0], 2, "marketing", MARKETING_APPROVER, clock.now())
    approve(processes[0], 2, "sales", SALES_APPROVER, clock.now(), effective_at=clock.now())
    barrier = Barrier(len(processes))
    errors: list[BaseException] = []

    def sweep(services: Services) -> None:
        try:
            barrier.wait()
            activation_step(services, clock.now())
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [Thread(target=sweep, args=(services,)) for services in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert versions(processes[0]) == [(1, "superseded"), (2, "active")]
    assert [s.agreement_version for s in processes] == [2] * len(processes)
    assert len(in_effect_rows(processes[0])) == 2


def test_every_home_opened_shows_the_new_version_once_it_is_in_effect(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    from bot.home import queue_home_open

    services = make_services(fake_slack, db, governed(policy), clock)
    record_at_start(services)
    rep, manager = policy.roles.reps[0], policy.roles.managers[0]
    queue_home_open(services, rep, "Ev-home-1")  # the rep has opened the Home; the manager not
    deliver(services, clock, fake_slack)
    assert "*SLA合意書 第1版*" in home_agreement_line(fake_slack, rep)

    propose(services, governed(faster_first_contact(policy)), proposer=SALES_APPROVER)
    deliver(services, clock, fake_slack)
    published = len(fake_slack.calls_to("views.publish"))
    assert published == 1  # a proposal changes no Home: it shows the version in force

    approve(services, 2, "marketing", MARKETING_APPROVER, clock.now())
    approve(services, 2, "sales", SALES_APPROVER, clock.now(), effective_at=clock.now())
    activation_step(services, clock.now())
    deliver(services, clock, fake_slack)
    assert "*SLA合意書 第2版*" in home_agreement_line(fake_slack, rep)
    assert [c.args["user_id"] for c in fake_slack.calls_to("views.publish")[published:]] == [rep]
    assert manager not in fake_slack.home_views  # rendered when first opened, then current

    activation_step(services, clock.now())  # nothing new in force: no refresh queued
    deliver(services, clock, fake_slack)
    assert len(fake_slack.calls_to("views.publish")) == published + 1


def home_agreement_line(fake_slack: FakeSlack, user_id: str) -> str:
    blocks = fake_slack.home_views[user_id]["blocks"]
    texts = [b["text"]["text"] for b in blocks if "text" in b]
    return next(text for text in texts if ":scroll:" in text)


def test_an_older_approved_proposal_never_replaces_a_newer_active_version(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    services = make_services(fake_slack, db, governed(policy), clock)
    record_at_start(services)
    propose(services, governed(faster_first_contact(policy)), proposer=SALES_APPROVER)
    with services.unit_of_work() as uow:  # meanwhile v3 became active (e.g. approvers removed)
        uow.agreements.add(AgreementVersion(
            number=3, policy_text=agreement_document(policy).text, status="active",
            policy_hash=agreement_document(policy).hash, created_at=clock.now()))
        version_1 = uow.agreements.by_number(1)
        assert version_1 is not None
        version_1.status = "superseded"
        uow.commit()
    approve(services, 2, "marketing", MARKETING_APPROVER, clock.now())
    approve(services, 2, "sales", SALES_APPROVER, clock.now(), effective_at=clock.now())
    activation_step(services, clock.now())
    assert versions(services) == [(1, "superseded"), (2, "proposed"), (3, "active")]


def test_open_leads_are_re_planned_under_the_new_numbers(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    services = make_services(fake_slack, db, governed(policy), clock)
    record_at_start(services)
    lead_id = queue(services)
    deliver(services, clock, fake_slack)
    recompute_all(services)
    before = lead_row(services, lead_id)
    assert before.status == "posted" and before.next_due_at is not None

    propose(services, governed(sooner_nudge(policy)), proposer=SALES_APPROVER)
    approve(services, 2, "marketing", MARKETING_APPROVER, clock.now())
    approve(services, 2, "sales", SALES_APPROVER, clock.now(), effective_at=clock.now())
    activation_step(services, clock.now())
    after = lead_row(services, lead_id)
    assert before.next_due_at - after.next_due_at == timedelta(minutes=10)


# ------------------------------------------------------------------ at start


def test_with_approvers_a_changed_file_is_not_applied_but_proposed_once(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    record_at_start(make_services(fake_slack, db, governed(policy), clock))
    changed = make_services(fake_slack, db, governed(faster_first_contact(policy)), clock)
    with caplog.at_level(logging.WARNING, logger="sla_bot"):
        assert record_at_start(changed).number == 1
    assert (changed.agreement_version, changed.policy.agreement.first_contact_business_hours) == (
        1, 2)  # the agreement in force, not the file's
    assert versions(changed) == [(1, "active"), (2, "proposed")]
    assert "differs from v1 in force and is not applied: recorded as proposal v2" in caplog.text
    with changed.unit_of_work() as uow:
        proposal = uow.agreements.by_number(2)
        assert proposal is not None and proposal.proposer == "operator"

    caplog.clear()
    again = make_services(fake_slack, db, governed(faster_first_contact(policy)), clock)
    with caplog.at_level(logging.WARNING, logger="sla_bot"):
        record_at_start(again)
    assert versions(again) == [(1, "active"), (2, "proposed")]
    assert "already recorded as proposal v2" in caplog.text
    assert in_effect_rows(again) == []


def test_restarting_with_the_old_file_never_reverts_an_approved_version(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    services = make_services(fake_slack, db, governed(policy), clock)
    record_at_start(services)
    propose(services, governed(faster_first_contact(policy)), proposer=SALES_APPROVER)
    approve(services, 2, "marketing", MARKETING_APPROVER, clock.now())
    approve(services, 2, "sales", SALES_APPROVER, clock.now(), effective_at=clock.now())
    activation_step(services, clock.now())

    restarted = make_services(fake_slack, db, governed(policy), clock)  # the old file
    assert record_at_start(restarted).number == 2
    assert restarted.policy.agreement.first_contact_business_hours == 1
    assert versions(restarted) == [(1, "superseded"), (2, "active"), (3, "proposed")]
    activation_step(restarted, clock.now())
    assert restarted.agreement_version == 2


def test_without_approvers_a_changed_file_is_a_new_version_announced_in_both_channels(
    fake_slack: FakeSlack, db: Database, policy: Policy, clock: ManualClock
) -> None:
    first = make_services(fake_slack, db, policy, clock)
    record_at_start(first)
    assert in_effect_rows(first) == []  # version 1 is recorded, not announced
    changed = make_services(fake_slack, db, faster_first_contact(policy), clock)
    assert record_at_start(changed).number == 2
    deliver(changed, clock, fake_slack)
    posts = posted_texts(fake_slack)
    assert set(posts) == {policy.channels.handoff, policy.channels.marketing_feedback}
    post = posts[policy.channels.handoff]
    assert "SLA合意書 第2版が発効しました" in post  # the example policy speaks Japanese
    assert "第1版からの改訂" in post
    lines = change_lines(policy, faster_first_contact(policy), changed.t)
    assert lines and all(line in post for line in lines)
    assert "ポリシーファイルから適用しました" in post


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_in_effect_post_names_the_version_the_changes_and_both_approvers(
    fake_slack: FakeSlack, sqlite_db: Database, policy: Policy, clock: ManualClock,
    language: str,
) -> None:
    file_policy = governed(policy).model_copy(update={"language": language})
    services = make_services(fake_slack, sqlite_db, file_policy, clock)
    record_at_start(services)
    propose(services, governed(faster_first_contact(policy)), proposer=SALES_APPROVER,
            note="Faster <first> contact & more")
    approve(services, 2, "marketing", MARKETING_APPROVER, clock.now())
    approve(services, 2, "sales", SALES_APPROVER, clock.now(), effective_at=clock.now())
    activation_step(services, clock.now())
    deliver(services, clock, fake_slack)

    posts = posted_texts(fake_slack)
    assert set(posts) == {policy.channels.handoff, policy.channels.marketing_feedback}
    post = posts[policy.channels.marketing_feedback]
    expected = {
        "en": ["The agreement v2 is in effect", "replacing v1", "*What changed*",
               f"Approved by marketing: <@{MARKETING_APPROVER}> · sales: <@{SALES_APPROVER}>"],
        "ja": ["SLA合意書 第2版が発効しました", "第1版からの改訂", "*変更点*",
               f"承認者　マーケティング：<@{MARKETING_APPROVER}>　営業：<@{SALES_APPROVER}>"],
    }[language]
    for text in expected:
        assert text in post
    lines = change_lines(policy, faster_first_contact(policy), services.t)
    assert lines and all(line in post for line in lines)
    assert "Faster &lt;first&gt; contact &amp; more" in post  # the note, escaped
    assert "roles" not in post and "governance" not in post  # operations are no vote's matter


def test_a_long_change_list_is_cut_with_a_count_of_the_rest() -> None:
    changes = [AgreementChange(f"review.rule_{i}", i, i + 1) for i in range(60)]
    for language, more in (("en", "…and 35 more changes"), ("ja", "…ほか35件の変更")):
        t = Translator(language)
        notice = InEffectNotice(
            number=4, previous=3, effective_at=datetime(2026, 11, 24, 1, 0, tzinfo=ZoneInfo("UTC")),
            changes=tuple(describe_changes(changes, t)), marketing_approvers=("U0MKT00001",),
            sales_approvers=("U0SAL00001",))
        message = in_effect_message(notice, t, ZoneInfo("Asia/Tokyo"))
        section = message["blocks"][2]["text"]["text"]
        assert len(section) <= 3000
        assert section.count("\n• ") == 25 and more in section
        one = InEffectNotice(**{**notice.__dict__, "changes": tuple(
            describe_changes(changes[:26], t))})
        text = in_effect_message(one, t, ZoneInfo("Asia/Tokyo"))["blocks"][2]["text"]["text"]
        assert ("…and 1 more change " if language == "en" else "…ほか1件の変更") in text


# ------------------------------------------------------------------ check-config


def test_check_config_says_the_files_agreement_is_not_the_one_in_force(
    operator_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = configured_policy(operator_env)
    base = config.read_text(encoding="utf-8")
    governance = (f'\n[governance]\nmarketing_approvers = ["{MARKETING_APPROVER}"]\n'
                  f'sales_approvers = ["{SALES_APPROVER}"]\n')
    config.write_text(base + governance, encoding="utf-8")
    assert main(["--config", str(config), "migrate"]) == 0
    started: list[Any] = []
    monkeypatch.setattr("handlers.server.run_until_signalled",
                        lambda server, on_started=None: started.append(server))
    assert main(["--config", str(config), "run"]) == 0  # records v1
    started.pop().services.close()
    capsys.readouterr()

    config.write_text(base.replace("first_contact_business_hours = 2",
                                   "first_contact_business_hours = 3", 1) + governance,
                      encoding="utf-8")
    assert main(["--config", str(config), "check-config", "--language", "en"]) == 0
    out = capsys.readouterr().out
    assert ("# Agreement: this file's agreement differs from v1, the one in force, and is not "
            "applied: sla-bot run records it as a proposal") in out
    assert "agreement v1 in force (defaults filled in)" in out
    assert "first_contact_business_hours = 2" in out  # what runs: v1's number

    assert main(["--config", str(config), "run"]) == 0  # records the file as proposal v2
    started.pop().services.close()
    capsys.readouterr()
    assert main(["--config", str(config), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "第2版案として登録済みで、両部門が承認すると発効します" in out
