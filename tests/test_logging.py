"""The log carries ids, never personal data, at every level; no value can forge a line.

The real bot is driven through every path personal data takes, with the product's own log
setup (``handlers.logging_setup.configure``, what ``sla-bot run`` installs) at DEBUG, and its
output is searched for marked values.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from bot.clock import ManualClock
from bot.csv_import import import_csv
from bot.ids import Action, Callback
from bot.policy import Policy
from handlers import logging_setup
from tests.harness import FakeSlack, SlackRequests, http_post
from tests.harness.adapters import ZAPIER, envelope, mapped, vendor_services, zap
from tests.harness.adapters import send as send_mautic
from tests.harness.bot_env import Env, claim_by, make_worker, start_bot
from tests.harness.databases import Database
from tests.harness.feedback import deliver, reply
from tests.harness.intake import post
from tests.harness.leads import EXAMPLE
from tests.harness.people import CHANNEL, MARKETER, REP1
from tests.harness.policies import adapter_policy
from tests.harness.settings import ROOT, SIGNING_SECRET
from tests.harness.touch import form

MAIL = "pii-marker-7731@example.com"
NAME = "Pxmarkname Pxmarkfamily"
PHONE = "+81-90-7731-0042"
NOTE = "pxmarknote about the budget"
#: how each marked value may appear in a log: raw, inside a form body, inside JSON
MARKS = ("pii-marker-7731", "Pxmarkname", "Pxmarkfamily", "7731-0042", "pxmarknote")
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")


@pytest.fixture
def product_log() -> Iterator[io.StringIO]:
    """The product's log setup at DEBUG into a buffer; the logging state restored after."""
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level
                         for name in logging_setup.LIBRARY_FLOORS}
    stream = io.StringIO()
    handler = logging_setup.configure("DEBUG", stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
def marked_env(
    product_log: io.StringIO, fake_slack: FakeSlack, db: Database, policy: Policy,
    clock: ManualClock,
) -> Iterator[Env]:
    """The bot (Mautic and a generic mapping enabled) on each database, logging at DEBUG."""
    services = vendor_services(fake_slack, db, adapter_policy(mapping=[ZAPIER]), clock)
    server = start_bot(services)
    slack = SlackRequests(f"{server.url}/slack/events", SIGNING_SECRET)
    yield Env(services, server, slack, fake_slack, clock, make_worker(services, clock, fake_slack))
    server.stop()


def marked_lead(external_id: str, **changes: Any) -> dict[str, Any]:
    contact = {**EXAMPLE["contact"], "name": NAME, "email": MAIL, "phone": PHONE}
    return {**EXAMPLE, "external_id": external_id, "source": MAIL, "contact": contact, **changes}


def marked_csv(tmp_path: Path) -> Path:
    header = (ROOT / "samples" / "leads.csv").read_text(encoding="utf-8").splitlines()[0]
    columns = header.split(",")
    row = dict.fromkeys(columns, "")
    row.update(external_id="csv-7731", source=MAIL, qualified_at="2026-11-24T09:12:00+09:00",
               contact_name=NAME, contact_email=MAIL, contact_phone=PHONE,
               company_name="Example KK", company_industry="manufacturing",
               company_employees="250", score="72", activity_1_type="demo_request",
               activity_1_at="2026-11-23T16:45:00+09:00", activity_1_detail=NOTE)
    path = tmp_path / "marked.csv"
    path.write_text(header + "\n" + ",".join(row[c] for c in columns) + "\n", encoding="utf-8")
    return path


def test_no_path_logs_personal_data_even_at_debug(
    marked_env: Env, product_log: io.StringIO, tmp_path: Path
) -> None:
    env = marked_env
    # /webhooks/mql: accepted (the source is an email), a duplicate, a rejected body
    accepted = post(env.bot, marked_lead("ext-7731"))
    assert accepted.status == 202, accepted.body
    assert post(env.bot, marked_lead("ext-7731")).json()["status"] == "duplicate"
    assert post(env.bot, marked_lead("ext-7732", score="lots " + MAIL)).status == 400
    # vendor webhooks: a generic mapping (its ids are emails) and Mautic
    record = zap(record_id=MAIL, person=MAIL)
    record["person"].update({"e-mail": MAIL, "first": {"value": "Pxmarkname"},
                             "last": {"value": "Pxmarkfamily"}})
    assert mapped(env.bot, {"leads": [record]}).status == 202
    mautic = json.dumps(envelope("mautic.lead_post_save_new")).replace("john@doe.name", MAIL)
    assert send_mautic(env.bot, mautic.encode()).status == 202
    # Slack requests that fail the signature check, carrying the marks
    now = str(int(time.time()))
    for body in (f"command=%2Fsla-status&text={MAIL}&user_id=U1",
                 json.dumps({"type": "event_callback", "event": {"text": NAME}})):
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=" + "0" * 64}
        assert http_post(env.slack.events_url, body, headers).status == 401
    # the outbox worker posts the hand-offs (Slack API bodies), a rep claims and logs a touch
    env.drain()
    lead_id = accepted.json()["lead_id"]
    ts = env.lead(lead_id).message_ts
    assert ts
    claim_by(env, lead_id, ts, REP1)
    answer = env.slack.view_submission(Callback.TOUCH_MODAL.value, form(note=NOTE),
                                       user_id=REP1, private_metadata=str(lead_id))
    assert answer.status == 200 and not answer.body, answer.body
    env.drain()
    # thread feedback: a marketer's reply in the lead's thread
    deliver(env, reply(CHANNEL, ts, MARKETER, f"{NAME} asked to call {PHONE}"))
    env.drain()
    # CSV import
    assert import_csv(env.services, marked_csv(tmp_path)).exit_code == 0

    logged = product_log.getvalue()
    assert f"lead {lead_id} accepted" in logged  # the log was on, at every step
    assert "POST /webhooks/map/zapier 202" in logged and "POST /webhooks/mautic 202" in logged
    leaked = [mark for mark in MARKS if mark in logged]
    assert leaked == [], f"personal data in the log: {leaked}\n{logged}"
    assert Action.CLAIM  # the claim went through the real button


def test_a_newline_in_a_value_forges_no_log_line(
    marked_env: Env, product_log: io.StringIO
) -> None:
    forged = "\n2026-11-24 10:00:00,000 INFO sla_bot: forged"
    assert post(marked_env.bot, marked_lead("ext-forge", source="x" + forged)).status == 202
    assert mapped(marked_env.bot, {"leads": []}, name=quote("x" + forged)).status == 404
    logging.getLogger("sla_bot").info("tab\tesc\x1b[31m bidi\u202eevil %s", "\r\n\x85\u2028")

    lines = product_log.getvalue().splitlines()
    starts = [line for line in lines if RECORD_START.match(line)]
    assert not [line for line in starts if "forged" in line], "\n".join(lines)
    assert all(RECORD_START.match(line) or line.startswith("    | ") for line in lines)
    assert not [line for line in lines if re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e\u2028]",
                                                    line)]
    assert "/webhooks/map/(unknown) 404" in "\n".join(lines)
    assert any(r"bidi\u202eevil \r\n\x85\u2028" in line for line in lines)
