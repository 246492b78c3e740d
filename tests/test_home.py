"""The App Home, end to end: signed ``app_home_opened`` events to the running bot, the real
outbox worker run by hand, and the fake Slack's published Home views as people would see them.

Deadlines are real (business hours in Asia/Tokyo from the example policy): the injected clock
is moved past them instead of sleeping.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from bot.i18n import format_datetime
from bot.ids import Action
from bot.views.blocks import utf16_len
from bot.views.home import OWNERS_SHOWN, UNCLAIMED_SHOWN
from storage.models import Lead, LeadStatus, OutboxMessage, OutboxStatus
from storage.outbox_kind import OutboxKind
from tests.harness.bot_env import Env, claim_by
from tests.harness.leads import queue
from tests.harness.people import CHANNEL, MANAGER, MARKETER, REP1, REP2
from tests.harness.touch import form, submit
from tests.harness.waiting import eventually

LEAD_ACTIONS = [a.value for a in (Action.LOG_TOUCH, Action.CONVERT, Action.RECYCLE,
                                  Action.DETAILS)]
TOKYO_10AM = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # Tue 24 Nov 10:00 in Tokyo
_event_ids = itertools.count(1)


@pytest.fixture
def home_env(any_env: Env) -> Env:
    """The bot on each kind of database."""
    return any_env


# ------------------------------------------------------------------------------ helpers


def post(env: Env, external_id: str, name: str, company: str = "Example KK") -> tuple[int, str]:
    """A lead handed off to the channel now (the clock's time): its id and message ts."""
    contact = {"name": name, "email": f"{external_id}@example.co.jp", "title": "営業部長"}
    firm = {"name": company, "industry": "manufacturing", "employees": 250}
    lead_id = queue(env.services, external_id, contact=contact, company=firm)
    env.drain()
    lead = env.lead(lead_id)
    assert lead.status == LeadStatus.POSTED and lead.message_ts
    return lead_id, lead.message_ts


def publishes(env: Env, user: str) -> list[dict[str, Any]]:
    """The views published to ``user``'s Home so far, oldest first (failed attempts too)."""
    return [c.args["view"] for c in env.fake.calls_to("views.publish")
            if c.args.get("user_id") == user]


def send_open(env: Env, user: str, *, tab: str = "home") -> None:
    """``user`` opens a tab of the app; waits until the listener queued the Home."""
    before = len(home_rows(env, user))
    body = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": tab}
    assert env.slack.event(body, event_id=f"EvHome{next(_event_ids)}").status == 200
    eventually(lambda: len(home_rows(env, user)) > before)


def open_home(env: Env, user: str) -> dict[str, Any]:
    """``user`` opens the Home tab; the worker publishes it; returns what the user sees."""
    before = len(publishes(env, user))
    send_open(env, user)
    env.drain()
    assert len(publishes(env, user)) == before + 1
    return env.fake.home_views[user]


def texts(view: dict[str, Any]) -> list[str]:
    """The text of every block, in order (sections, headers, context lines)."""
    found: list[str] = []
    for block in view["blocks"]:
        if "text" in block:
            found.append(block["text"]["text"])
        for element in block.get("elements", []):
            if element.get("type") == "mrkdwn":
                found.append(element["text"])
    return found


def section_after(view: dict[str, Any], header: str) -> list[str]:
    """The texts of the blocks under the header ``header`` up to the next header."""
    out: list[str] = []
    inside = False
    for block in view["blocks"]:
        if block["type"] == "header":
            inside = block["text"]["text"] == header
            continue
        if inside and block["type"] in ("section", "context"):
            text = block.get("text") or block["elements"][0]
            out.append(text["text"])
    return out


def lead_sections(view: dict[str, Any]) -> list[str]:
    """The rep's own leads: the section before each lead's buttons, in order."""
    blocks = view["blocks"]
    return [blocks[i - 1]["text"]["text"] for i, block in enumerate(blocks)
            if block["type"] == "actions"]


def headers(view: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]


def fmt(env: Env, at: datetime) -> str:
    return format_datetime(at, env.services.t.language, env.services.policy.tz)


def set_clock(env: Env, at: datetime) -> None:
    env.clock.set(at)


def seed(env: Env, rows: list[dict[str, Any]]) -> None:
    """Many leads at once, straight into the database (the Home only reads them)."""
    now = env.clock.now()
    base = {
        "source": "hubspot", "qualified_at": now - timedelta(hours=2), "received_at": now,
        "extra": {}, "qualification": {}, "touch_count": 0, "updated_at": now,
        "channel_id": CHANNEL, "company_name": "Bulk KK", "owner_id": None, "claimed_at": None,
        "first_touch_at": None, "posted_at": None, "message_ts": None,
    }
    with env.services.unit_of_work() as uow:
        uow.session.execute(insert(Lead.__table__), [{**base, **row} for row in rows])
        uow.commit()


def count_statements(env: Env, action: Callable[[], None]) -> int:
    """How many SQL statements this thread ran during ``action``."""
    me = threading.get_ident()
    seen = [0]

    def count(*_: Any) -> None:
        if threading.get_ident() == me:
            seen[0] += 1

    event.listen(env.services.engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        event.remove(env.services.engine, "before_cursor_execute", count)
    return seen[0]


def home_rows(env: Env, user: str) -> list[OutboxMessage]:
    with env.services.unit_of_work() as uow:
        rows = uow.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == OutboxKind.HOME, OutboxMessage.channel == user)
            .order_by(OutboxMessage.id)
        ).all()
        uow.session.expunge_all()
        return list(rows)


# -------------------------------------------------------------------------------- a rep


def test_a_reps_home_lists_open_leads_by_next_deadline_overdue_first(home_env: Env) -> None:
    env, t = home_env, home_env.services.t
    set_clock(env, TOKYO_10AM)
    touched, touched_ts = post(env, "home-touched", "Touched Person")
    claim_by(env, touched, touched_ts, REP1)
    assert submit(env, touched, REP1, form()).status == 200
    eventually(lambda: env.lead(touched).touch_count == 1)
    set_clock(env, TOKYO_10AM + timedelta(minutes=5))
    late, late_ts = post(env, "home-late", "Late Person")
    claim_by(env, late, late_ts, REP1)
    set_clock(env, TOKYO_10AM + timedelta(minutes=35))
    soon, soon_ts = post(env, "home-soon", "Soon Person")
    claim_by(env, soon, soon_ts, REP1)
    other, other_ts = post(env, "home-other", "Someone Else's")
    claim_by(env, other, other_ts, REP2)

    # 12:20 in Tokyo: Late Person's first contact (2 business hours after 10:05) has passed.
    now = TOKYO_10AM + timedelta(hours=2, minutes=20)
    set_clock(env, now)
    view = open_home(env, REP1)

    assert headers(view)[0] == t("home.mine_title", count="3")
    sections = lead_sections(view)
    assert [s.split("\n")[0] for s in sections] == [
        "*" + t("handoff.header", name=n, company="Example KK") + "*"
        for n in ("Late Person", "Soon Person", "Touched Person")
    ]
    late_due = env.lead(late).posted_at + timedelta(hours=2)  # same business day
    minutes = int((now - late_due).total_seconds() // 60)
    assert 14 <= minutes <= 15  # the worker's pacing moves the clock by seconds
    assert t("home.overdue.first_contact", late=t("home.duration.minutes", count=minutes),
             due=fmt(env, late_due)) in sections[0]
    soon_due = env.lead(soon).posted_at + timedelta(hours=2)
    assert t("home.due.first_contact", due=fmt(env, soon_due)) in sections[1]
    decision = env.lead(touched).posted_at + timedelta(days=7)
    assert t("home.due.decision", due=fmt(env, decision)) in sections[2]
    assert t("lead_status.working") in sections[2] and t.plural("home.touches", 1) in \
        sections[2]
    assert t.plural("home.touches", 0) in sections[0]
    assert f"https://slack.com/archives/{CHANNEL}/p{late_ts.replace('.', '')}" in sections[0]
    assert "Someone Else" not in json.dumps(view, ensure_ascii=False)
    actions = [b for b in view["blocks"] if b["type"] == "actions"]
    assert [[e["action_id"] for e in b["elements"]] for b in actions] == [LEAD_ACTIONS] * 3
    assert [{e["value"] for e in b["elements"]} for b in actions] == [
        {str(late)}, {str(soon)}, {str(touched)}
    ]
    assert len({b["block_id"] for b in actions}) == 3

    # Two hours later both first contacts are overdue, counted in hours now.
    set_clock(env, TOKYO_10AM + timedelta(hours=4, minutes=20))
    sections = lead_sections(open_home(env, REP1))
    assert t("home.overdue.first_contact", late=t("home.duration.hours", count=2),
             due=fmt(env, late_due)) in sections[0]
    assert t("home.overdue.first_contact", late=t("home.duration.hours", count=1),
             due=fmt(env, soon_due)) in sections[1]
    assert "Touched Person" in sections[2]


def test_an_empty_home_says_what_to_do(home_env: Env) -> None:
    env, t = home_env, home_env.services.t
    view = open_home(env, REP2)
    assert headers(view) == [t("home.mine_title", count="0")]
    assert t("home.mine_empty", channel=f"<#{CHANNEL}>") in texts(view)
    assert not [b for b in view["blocks"] if b["type"] == "actions"]

    marketer = open_home(env, MARKETER)
    assert t("home.not_a_rep", channel=f"<#{CHANNEL}>") in texts(marketer)


def test_the_messages_tab_publishes_nothing(home_env: Env) -> None:
    env = home_env
    body = {"type": "app_home_opened", "user": REP1, "channel": f"D{REP1}", "tab": "messages"}
    assert env.slack.event(body, event_id="EvMessagesTab").status == 200
    open_home(env, REP2)  # a later event
    env.drain()
    assert publishes(env, REP1) == [] and home_rows(env, REP1) == []


# ---------------------------------------------------------------------------- a manager


def test_a_manager_sees_the_team_by_owner_and_unclaimed_oldest_first(home_env: Env) -> None:
    env, t = home_env, home_env.services.t
    set_clock(env, TOKYO_10AM)
    ids: dict[str, tuple[int, str]] = {}
    for minute, name in enumerate(["Rep1 First", "Rep1 Second", "Rep2 Only", "Waiting Oldest",
                                   "Waiting Newest"]):
        set_clock(env, TOKYO_10AM + timedelta(minutes=10 * minute))
        ids[name] = post(env, f"team-{minute}", name)
    claim_by(env, *ids["Rep2 Only"], REP2)
    claim_by(env, *ids["Rep1 Second"], REP1)
    claim_by(env, *ids["Rep1 First"], REP1)
    set_clock(env, TOKYO_10AM + timedelta(hours=1))

    view = open_home(env, MANAGER)
    team_title = t("home.team_title", count="3")
    unclaimed_title = t("home.unclaimed_title", count="2")
    assert headers(view) == [team_title, unclaimed_title]  # a manager who owns nothing
    rep1, rep2 = section_after(view, team_title)
    assert rep1.startswith(t("home.team_owner", owner=f"<@{REP1}>", count="2"))
    assert rep1.index("Rep1 First") < rep1.index("Rep1 Second")
    assert rep2.startswith(t("home.team_owner", owner=f"<@{REP2}>", count="1"))
    assert "Rep2 Only" in rep2 and "Waiting" not in rep1 + rep2
    (waiting,) = section_after(view, unclaimed_title)
    assert waiting.index("Waiting Oldest") < waiting.index("Waiting Newest")
    posted = env.lead(ids["Waiting Oldest"][0]).posted_at
    assert t("home.handed_off", at=fmt(env, posted)) in waiting
    assert not [b for b in view["blocks"] if b["type"] == "actions"]

    # A manager who claims a lead sees it as their own too, and it is no longer unclaimed.
    claim_by(env, *ids["Waiting Oldest"], MANAGER)
    view = env.fake.home_views[MANAGER]  # refreshed by the claim, without opening
    assert headers(view) == [t("home.mine_title", count="1"), t("home.team_title", count="4"),
                             t("home.unclaimed_title", count="1")]
    assert "Waiting Oldest" in lead_sections(view)[0]
    assert f"<@{MANAGER}>" in " ".join(section_after(view, t("home.team_title", count="4")))
    (waiting,) = section_after(view, t("home.unclaimed_title", count="1"))
    assert "Waiting Newest" in waiting and "Waiting Oldest" not in waiting


def test_the_team_counts_overdue_leads_per_owner(home_env: Env) -> None:
    env, t = home_env, home_env.services.t
    set_clock(env, TOKYO_10AM)
    claim_by(env, *post(env, "od-1", "Late One"), REP1)
    claim_by(env, *post(env, "od-2", "Late Two"), REP1)
    set_clock(env, TOKYO_10AM + timedelta(hours=5))
    view = open_home(env, MANAGER)
    (rep1,) = section_after(view, t("home.team_title", count="2"))
    assert rep1.startswith(t("home.team_owner_overdue", owner=f"<@{REP1}>", count="2",
                             overdue="2"))


# ------------------------------------------------------------------------ refreshing


def test_claiming_refreshes_the_claimers_and_the_managers_homes(home_env: Env) -> None:
    env, t = home_env, home_env.services.t
    lead_id, ts = post(env, "refresh-1", "Fresh Lead")
    before = open_home(env, MANAGER)
    assert "Fresh Lead" in " ".join(section_after(before, t("home.unclaimed_title", count="1")))

    claim_by(env, lead_id, ts, REP1)  # drives the outbox worker

    mine = env.fake.home_views[REP1]
    assert len(publishes(env, REP1)) == 1
    assert "Fresh Lead" in lead_sections(mine)[0]
    manager = env.fake.home_views[MANAGER]
    assert len(publishes(env, MANAGER)) == 2
    (rep1,) = section_after(manager, t("home.team_title", count="1"))
    assert f"<@{REP1}>" in rep1 and "Fresh Lead" in rep1
    assert t("home.unclaimed_empty") in texts(manager)
    assert publishes(env, REP2) == []


def test_a_home_owed_while_slack_is_down_is_published_when_it_is_back(home_env: Env) -> None:
    env = home_env
    lead_id, ts = post(env, "outage-1", "Outage Lead")
    env.fake.fail("views.publish", status=500, times=2)
    claim_by(env, lead_id, ts, REP1)  # the Home refreshes it owes (rep, manager) fail
    assert env.fake.home_views == {}
    (row,) = home_rows(env, REP1)
    assert row.status == OutboxStatus.PENDING and row.last_error

    env.clock.advance(timedelta(minutes=5))
    env.drain()
    assert "Outage Lead" in lead_sections(env.fake.home_views[REP1])[0]
    assert "Outage Lead" in " ".join(texts(env.fake.home_views[MANAGER]))


def test_a_pending_refresh_is_covered_by_a_newer_render(home_env: Env) -> None:
    """Slack refuses the Home once; a claim meanwhile owes another: one publish covers both."""
    env = home_env
    first, first_ts = post(env, "coalesce-1", "First Lead")
    second, second_ts = post(env, "coalesce-2", "Second Lead")
    env.fake.fail("views.publish", status=500, times=2)
    claim_by(env, first, first_ts, REP1)
    assert len(publishes(env, REP1)) == 1 and env.fake.home_views == {}  # refused

    claim_by(env, second, second_ts, REP1)  # its render also covers the refused one
    shown = " ".join(lead_sections(env.fake.home_views[REP1]))
    assert "First Lead" in shown and "Second Lead" in shown
    env.clock.advance(timedelta(minutes=10))
    env.drain()
    for user in (REP1, MANAGER):  # the refused refreshes were not sent again
        assert len(publishes(env, user)) == 2
        assert [r.status for r in home_rows(env, user)] == [OutboxStatus.SKIPPED,
                                                            OutboxStatus.SENT]


# ------------------------------------------------------------------------ user text


def test_lead_names_are_escaped_everywhere(home_env: Env) -> None:
    env, t = home_env, home_env.services.t
    claim_by(env, *post(env, "evil-1", "<!channel>", company="<@U0000REP2> & Co"), REP1)
    post(env, "evil-2", "<!here>", company="<https://evil.example|click>")

    for view in (open_home(env, REP1), open_home(env, MANAGER)):
        shown = " ".join(texts(view))
        for raw in ("<!channel>", "<!here>", "<@U0000REP2>", "<https://evil"):
            assert raw not in shown
        assert "&lt;!channel&gt;" in shown and "&lt;@U0000REP2&gt; &amp; Co" in shown
    assert "&lt;!here&gt;" in " ".join(
        section_after(env.fake.home_views[MANAGER], t("home.unclaimed_title", count="1"))
    )


# ------------------------------------------------------------------------------ scale


def test_hundreds_of_open_leads_stay_within_slacks_limits(home_env: Env) -> None:
    env, t = home_env, home_env.services.t
    now = env.clock.now()
    mine = [
        {"external_id": f"bulk-{i}", "status": LeadStatus.CLAIMED.value, "owner_id": MANAGER,
         "contact_name": f"<!channel> Bulk {i} " + "長" * 200, "posted_at": now - timedelta(
             minutes=i), "claimed_at": now, "message_ts": f"1700000001.{i:06d}"}
        for i in range(300)
    ]
    others = [
        {"external_id": f"other-{i}", "status": LeadStatus.WORKING.value,
         "owner_id": f"U0000X{i:03d}", "contact_name": f"Other {i}", "posted_at": now,
         "first_touch_at": now, "touch_count": 1, "message_ts": f"1700000002.{i:06d}"}
        for i in range(OWNERS_SHOWN + 19)
    ]
    unclaimed = [
        {"external_id": f"wait-{i}", "status": LeadStatus.POSTED.value,
         "contact_name": f"Waiting {i} " + "&" * 280, "posted_at": now - timedelta(minutes=i),
         "message_ts": f"1700000003.{i:06d}"}
        for i in range(UNCLAIMED_SHOWN + 30)
    ]
    seed(env, mine + others + unclaimed)

    started = time.perf_counter()
    view = open_home(env, MANAGER)
    elapsed = time.perf_counter() - started

    blocks = view["blocks"]
    assert len(blocks) <= 100
    for text in texts(view):
        assert utf16_len(text) <= 3000
    assert all(utf16_len(h) <= 150 for h in headers(view))
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(block_ids) == len(set(block_ids))
    shown = len(lead_sections(view))
    assert shown >= 20
    assert t("home.more_mine", count=str(300 - shown)) in texts(view)
    assert t("home.more_owners", count="20") in texts(view)  # 32 owners, 12 shown
    (waiting,) = section_after(view, t("home.unclaimed_title", count="40"))
    listed = waiting.count("• ")
    assert 0 < listed <= UNCLAIMED_SHOWN
    assert waiting.endswith(t("home.more", count=str(40 - listed)))
    assert "Waiting 39 " in waiting and "Waiting 0 " not in waiting  # oldest first
    assert "<!channel>" not in json.dumps(view, ensure_ascii=False)
    assert elapsed < 5, f"publishing a 370-lead Home took {elapsed:.2f}s"


def test_the_home_costs_the_same_queries_for_3_leads_or_300(home_env: Env) -> None:
    env = home_env
    now = env.clock.now()

    def leads(prefix: str, n: int) -> list[dict[str, Any]]:
        return [{"external_id": f"{prefix}-{i}", "status": LeadStatus.CLAIMED.value,
                 "owner_id": MANAGER if i % 2 else REP1, "contact_name": f"Lead {i}",
                 "posted_at": now, "message_ts": f"1700000004.{i:06d}"} for i in range(n)]

    def publish() -> int:
        env.clock.advance(timedelta(seconds=5))  # no channel still paced from the last publish
        send_open(env, MANAGER)
        statements = count_statements(env, env.drain)
        assert len(lead_sections(env.fake.home_views[MANAGER])) > 0
        return statements

    seed(env, leads("few", 3))
    few = publish()
    seed(env, leads("many", 297))
    assert publish() == few


def test_log_touch_from_the_home_opens_the_touch_modal(home_env: Env) -> None:
    env = home_env
    lead_id, ts = post(env, "button-1", "Button Lead")
    claim_by(env, lead_id, ts, REP1)
    home = env.fake.home_views[REP1]
    (actions,) = [b for b in home["blocks"] if b["type"] == "actions"]
    button = actions["elements"][0]
    assert button["action_id"] == Action.LOG_TOUCH.value
    response = env.slack.block_action(
        button["action_id"], button["value"], user_id=REP1, block_id=actions["block_id"],
        container_type="view", view={"id": home["id"], "type": "home"},
    )
    assert response.status == 200
    (call,) = env.fake.wait_for("views.open")
    assert call.args["view"]["private_metadata"] == str(lead_id)
