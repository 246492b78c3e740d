"""``sla-bot demo``: a scripted day, week and month of the real bot, in a terminal, without Slack.

Everything that runs is the product: the Bolt app and HTTP server, the intake webhook, the
sweep steps the scheduler runs, the outbox worker and the database code, on a throwaway SQLite
file. Only Slack is a stand-in (``bot.sandbox.fake_slack`` on 127.0.0.1) and people are played
by the script, which sends what Slack would send — signed ``block_actions``,
``view_submission``, slash commands and events — and reads back what the bot sent to print it
per surface (``bot.sandbox.render``).

Time is a ``ManualClock`` the script moves from one thing-that-happens to the next (the
leads' own ``next_due_at``, as the sweep stores it), pausing ``delta / speed`` real seconds on
the way, at most ``MAX_PAUSE_S`` per step: nights and quiet stretches fly by. The outbox
worker's pacing (one message per second per channel) moves the same clock instead of sleeping.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TextIO

from bot.agreement.proposals import post_key, propose
from bot.agreement.versions import record_at_start
from bot.clock import ManualClock
from bot.i18n import format_datetime
from bot.ids import Action, Command, ConvertBlock, ProposalBlock, RecycleBlock, TouchBlock
from bot.outbox.worker import OutboxWorker
from bot.policy import Governance, Policy, Tier
from bot.reporting.digest import digest_key, due_week
from bot.reporting.digest import due_at as digest_due_at
from bot.reporting.periods import month, week_of
from bot.reporting.review import due_at as review_due_at
from bot.reporting.review import due_month, review_key
from bot.sandbox.fake_slack import Call, FakeSlack
from bot.sandbox.render import Names, Rendered, mrkdwn_text, render_call, render_modal
from bot.sandbox.slack_requests import HttpResponse, SlackRequests, http_post
from bot.scheduler import default_steps, sweep
from bot.services import Services, build_services
from bot.settings import Settings
from bot.user_agent import slack_client
from storage import migrate
from storage.db import make_engine
from storage.models import Lead, OutboxStatus
from storage.outbox_kind import OutboxKind

__all__ = ["DEFAULT_SPEED", "DemoError", "RunningBot", "run_demo"]

#: simulated seconds per real second: an hour of the working day goes by in a second
DEFAULT_SPEED = 3600.0
#: the longest real pause for one step of simulated time (a weekend is not worth waiting for)
MAX_PAUSE_S = 0.4
SETTLE_TIMEOUT_S = 20.0
#: Tuesday morning, in the policy's time zone
START = (2026, 11, 24, 9, 50)
#: how long before the demo's start its agreement (version 1) has been in force
AGREED_BEFORE_START = timedelta(weeks=4)
#: surface kinds (``Rendered.surface``) → their names under ``demo.surface`` in the catalog
_SURFACE_KEYS = {"DM": "dm", "App Home": "home"}
#: proxies would capture the stand-in's loopback traffic (slack_sdk ignores NO_PROXY)
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
MQL_PATH = "/webhooks/mql"
OUTCOME_PATH = "/webhooks/outcome"
#: the CRM's ids of the first day's hot lead and of the recycled lead's colleague
HOT_ID, COUSIN_ID = "hubspot-20391", "hubspot-20395"

class DemoError(RuntimeError):
    """The script could not go on (the bot did not answer as expected)."""


class RunningBot(Protocol):
    """What the demo needs of the running server (``handlers.server.BotServer``)."""

    @property
    def url(self) -> str: ...

    listeners: ThreadPoolExecutor

    def stop(self) -> None: ...


#: starts the real server for ``services`` with ``worker`` as its outbox worker
StartBot = Callable[[Services, OutboxWorker], RunningBot]


@dataclass
class DemoLead:
    lead_id: int
    company: str

    @property
    def label(self) -> str:
        return self.company


@dataclass(frozen=True)
class DemoProposal:
    version_id: int
    number: int


@dataclass(frozen=True)
class Cast:
    rep1: str
    rep2: str
    manager: str
    marketer: str


# ------------------------------------------------------------------------------ setup


def _people(value: tuple[str, ...] | str, fallback: list[str]) -> list[str]:
    """Ids from a policy role list; a user group plays the demo's own people."""
    if isinstance(value, str) or not value:
        return fallback
    return list(value)


def demo_policy(policy: Policy, language: str | None) -> tuple[Policy, Cast, dict[str, list[str]]]:
    """The policy as the demo runs it: no outbound webhook (no network), enough people, the
    cast's marketer and manager as the agreement's approvers.

    Returns the policy, who plays whom, and the members the stand-in gives any user group.
    """
    roles = policy.roles
    away = set(roles.away)
    reps = [r for r in _people(roles.reps, ["U0DEMOREP1", "U0DEMOREP2"]) if r not in away]
    reps += [r for r in ("U0DEMOREP1", "U0DEMOREP2") if r not in reps][: max(0, 2 - len(reps))]
    managers = _people(roles.managers, ["U0DEMOMGR1"])
    marketers = _people(roles.marketers, ["U0DEMOMKT1"])
    groups: dict[str, list[str]] = {}
    update: dict[str, Any] = {}
    for name, value, members in (("reps", roles.reps, reps), ("managers", roles.managers,
                                  managers), ("marketers", roles.marketers, marketers)):
        if isinstance(value, str):
            groups[value] = members
        elif list(value) != members:
            update[name] = tuple(dict.fromkeys([*value, *members]))
    cast = Cast(reps[0], reps[1], managers[0], marketers[0])
    # the cast's marketer and manager approve for their sides; approved means in effect
    governance = Governance(marketing_approvers=(cast.marketer,),
                            sales_approvers=(cast.manager,), effective="immediately")
    changes: dict[str, Any] = {"outbound_webhook": None, "governance": governance}
    if update:
        changes["roles"] = roles.model_copy(update=update)
    if language:
        changes["language"] = language
    return policy.model_copy(update=changes), cast, groups


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def lead_payload(policy: Policy, now: datetime, *, external_id: str, contact: str,
                 company: str, tier: Tier | None = None, qualified: bool = True,
                 qualified_minutes_ago: int = 30) -> dict[str, Any]:
    """A lead that meets (or clearly misses) the policy's MQL definition, whatever it is."""
    definition = policy.mql_definition
    firm = definition.firmographics
    employees = firm.min_employees or 250
    if firm.max_employees is not None:
        employees = min(max(employees, 250), firm.max_employees)
    else:
        employees = max(employees, 250)
    keyword = firm.title_keywords[0] if firm.title_keywords else "Head of Sales"
    title = keyword if not keyword.isascii() or " " in keyword else f"Sales {keyword}"
    activities: list[dict[str, Any]] = []
    if qualified:
        wanted = max(definition.behaviour.min_rules_matched, 2)
        for i, rule in enumerate(definition.behaviour.rules[:wanted]):
            for j in range(rule.min_count):
                at = now - timedelta(days=2 + i, hours=j)
                activities.append({"type": rule.type, "at": _iso(at),
                                   "detail": rule.detail_contains or rule.label or rule.type})
        if tier is not None:
            for kind in tier.activity_types:
                activities.append({"type": kind, "at": _iso(now - timedelta(hours=1)),
                                   "detail": "demo request form"})
    score = max(72, definition.min_score or 0, (tier.min_score or 0) if tier else 0)
    return {
        "external_id": external_id,
        "source": "hubspot",
        "qualified_at": _iso(now - timedelta(minutes=qualified_minutes_ago)),
        "contact": {"name": contact, "title": title, "email": f"{external_id}@example.com"},
        "company": {"name": company, "industry": (firm.industries or ("manufacturing",))[0],
                    "employees": employees if qualified else 5},
        "score": score if qualified else 0,
        "activities": activities,
    }


class _Recorder:
    """Every call the stand-in answered, stamped with the simulated time it happened."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.pending: list[tuple[datetime, Call]] = []
        self.lock = threading.Lock()

    def __call__(self, call: Call) -> None:
        with self.lock:
            self.pending.append((self.clock.now(), call))

    def take(self) -> list[tuple[datetime, Call]]:
        with self.lock:
            taken, self.pending = self.pending, []
            return taken


# ------------------------------------------------------------------------------ the stage


class Stage:
    """The running bot, the stand-in, the clock and the transcript: what the script acts on."""

    def __init__(self, services: Services, bot: RunningBot, fake: FakeSlack, clock: ManualClock,
                 recorder: _Recorder, names: Names, out: TextIO, speed: float,
                 listener_threads: int) -> None:
        self.services, self.bot, self.fake, self.clock = services, bot, fake, clock
        self.recorder, self.names, self.out, self.speed = recorder, names, out, speed
        self.listener_threads = listener_threads
        self.t = services.t
        self.slack = SlackRequests(f"{bot.url}/slack/events",
                                   services.settings.slack_signing_secret)
        self.steps = default_steps()
        self.triggers: dict[str, str] = {}
        self.home_wanted: set[str] = set()
        self.seen: dict[str, int] = {}
        #: brief: an updated message shows what changed, a copy in another channel is named
        self.brief = False
        self._messages_shown: dict[tuple[str, str], tuple[str, ...]] = {}
        self._modals_shown: set[str] = set()
        self._last_shown: tuple[Rendered, str] | None = None
        self._ids = itertools.count(1)
        self._tty = out.isatty()

    @property
    def policy(self) -> Policy:
        """The policy in force now: an agreement taking effect swaps ``services.policy``."""
        return self.services.policy

    # -------------------------------------------------------------- output

    def when(self, at: datetime | None = None) -> str:
        return format_datetime(at or self.clock.now(), self.policy.language, self.policy.tz)

    def say(self, key: str, **params: Any) -> None:
        text = self.t(f"demo.{key}", **params)
        line = f"▶ {self.when()}  {text}"
        self.out.write("\n" + (f"\033[1m{line}\033[0m" if self._tty else line) + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        self.out.write(f"  {text}\n")

    def flush(self) -> None:
        """Print every surface the bot changed since the last flush, in order."""
        for at, call in self.recorder.take():
            if call.method == "views.publish":
                user = str(call.args.get("user_id"))
                if user not in self.home_wanted:
                    continue
                self.home_wanted.discard(user)
            args, cut = call.args, False
            if self.brief and call.method == "chat.postMessage" and self._is_report(call, at):
                args, cut = self._deals_only(call.args)
            shown = render_call(
                call.method, args, call.response, at=self.when(at), names=self.names,
                thread_title=self.thread_title, response_target=self.fake.response_url_target,
                trigger_user=self.triggers.get, t=self.t,
            )
            if shown is None:
                continue
            if cut:
                shown = Rendered(shown.surface, shown.header, (*shown.lines, "…"))
            briefly = self._briefly(call, shown) if self.brief else shown
            self._messages_shown[_message_key(call)] = shown.lines
            if call.method == "views.open":
                self._modals_shown.add(_view_title(call))
            self.show(briefly)
        self.out.flush()

    def _is_report(self, call: Call, at: datetime) -> bool:
        """Whether ``call`` posted the weekly digest or the monthly review pack (the latest
        due at ``at``: a sweep posts no other), as the outbox row that sent it says."""
        channel, ts = _message_key(call)
        with self.services.unit_of_work() as uow:
            key = uow.outbox.key_of_result(channel, ts)
            uow.rollback()
        return key in (digest_key(due_week(self.policy, at)),
                       review_key(due_month(self.policy, at)))

    def _deals_only(self, args: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """A report's title and its deals section, and whether anything was left out: in
        brief, a digest or review pack shows what the deal outcomes add to it."""
        mark = "\x00"
        lead_ins = (f"*{self.t('review.deals')}*",
                    self.t("digest.deals", won=mark, revenue=mark, lost=mark,
                           rate=mark).partition(mark)[0])
        blocks = list(args.get("blocks") or [])
        kept = [b for i, b in enumerate(blocks)
                if i == 0 or str((b.get("text") or {}).get("text", "")).startswith(lead_ins)]
        return {**args, "blocks": kept}, len(kept) < len(blocks)

    def _briefly(self, call: Call, shown: Rendered) -> Rendered:
        """``shown`` in brief: a message the reader saw already shows its first line and the
        lines that changed; the same message just shown in another channel only its header;
        a new message that repeats one shown before (a lead's card in a DM) its first line; a
        modal opened before empty again only its header."""
        channel, ts = _message_key(call)
        lines = shown.lines
        before = self._messages_shown.get((channel, ts))
        if call.method == "chat.update" and before is not None and lines:
            lines = (lines[0], "…", *(line for line in lines[1:] if line not in before))
        elif call.method == "chat.postMessage" and len(lines) > 2 and any(
                key[1] and set(lines[1:]) <= set(seen)
                for key, seen in self._messages_shown.items()):
            lines = (lines[0], "…")
        elif call.method == "views.open" and _view_title(call) in self._modals_shown:
            lines = ("…",)
        previous, self._last_shown = self._last_shown, (shown, channel)
        if (previous is not None and previous[0].surface == shown.surface
                and previous[0].lines == shown.lines and previous[1] != channel):
            same = self.t("demo.frame.same_as", channel=self.names.channel(previous[1]))
            return Rendered(shown.surface, shown.header + same, ())
        return Rendered(shown.surface, shown.header, lines)

    def show(self, shown: Rendered, *, counted: bool = True) -> None:
        if counted:  # a submitted modal is the same surface again, not another one
            self.seen[shown.surface] = self.seen.get(shown.surface, 0) + 1
        bold = (lambda s: f"\033[1m{s}\033[0m") if self._tty else str
        self.out.write("\n" + shown.text(bold=bold) + "\n")

    def thread_title(self, channel: str, ts: str) -> str:
        """A thread is named by its parent's header (the lead), else its first line."""
        message = self._message(channel, ts)
        if message is None:
            return ""
        headers = [b for b in message.get("blocks", []) if b.get("type") == "header"]
        text = (headers[0]["text"]["text"] if headers
                else str(message.get("text") or "").partition("\n")[0])
        text = mrkdwn_text(text, self.names)
        return text if len(text) <= 50 else text[:49] + "…"

    def _message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The top-level message ``ts`` of ``channel``, as the stand-in holds it now."""
        for message in self.fake.messages(channel):
            if message.get("ts") == ts:
                return message
        return None

    # -------------------------------------------------------------- time

    def pause(self, delta: timedelta) -> None:
        if self.speed > 0 and delta > timedelta(0):
            time.sleep(min(delta.total_seconds() / self.speed, MAX_PAUSE_S))

    def settle(self) -> None:
        """Wait until every listener handed work has finished and the outbox is delivered."""
        barrier = threading.Barrier(self.listener_threads)
        waits = [self.bot.listeners.submit(barrier.wait, SETTLE_TIMEOUT_S)
                 for _ in range(self.listener_threads)]
        try:
            for wait in waits:
                wait.result(timeout=SETTLE_TIMEOUT_S + 5)
        except (threading.BrokenBarrierError, TimeoutError) as e:
            raise DemoError(f"the bot's listeners did not finish within {SETTLE_TIMEOUT_S:.0f} s"
                            f" ({type(e).__name__})") from e
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while self._outbox_due():
            if time.monotonic() > deadline:
                raise DemoError("the outbox did not drain: is the stand-in refusing posts?")
            time.sleep(0.01)

    def _outbox_due(self) -> bool:
        now = self.clock.now()
        with self.services.unit_of_work() as uow:
            found = uow.outbox.any_due(now)
            uow.rollback()
        return found

    def sweep(self) -> None:
        sweep(self.services, self.steps)
        self.settle()
        self.flush()

    def _next_due(self, now: datetime) -> datetime | None:
        """The next instant a sweep has something to do: a lead's, or a report's."""
        with self.services.unit_of_work() as uow:
            found = uow.notices.next_due_after(now)
            uow.rollback()
        tz = self.policy.tz
        week_end = due_week(self.policy, now).end.astimezone(tz)
        month_end = due_month(self.policy, now).end.astimezone(tz)
        return min([at for at in (
            found,
            digest_due_at(self.policy, week_of(week_end.date(), tz)),
            review_due_at(self.policy, month(month_end.year, month_end.month, tz)),
        ) if at is not None])

    def until(self, target: datetime, *, narrate: bool = False) -> None:
        """Let time pass to ``target``, stopping wherever a lead has something due."""
        target = target.astimezone(self.policy.tz)
        if narrate:
            self.say("time_passes", until=self.when(target))
        self.sweep()
        while self.clock.now() < target:
            now = self.clock.now()
            due = self._next_due(now)
            step = target if due is None or due > target else due
            self.pause(step - now)
            if self.clock.now() < step:
                self.clock.set(step)
            self.sweep()

    def local_now(self) -> datetime:
        """Now in the policy's time zone (as a CRM in Tokyo would write it)."""
        return self.clock.now().astimezone(self.policy.tz)

    def at(self, hour: int, minute: int = 0, *, days: int = 0) -> datetime:
        """A wall time on the demo's day (``days`` later), in the policy's time zone."""
        start = datetime(*START, tzinfo=self.policy.tz)
        day = start.date() + timedelta(days=days)
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.policy.tz)

    # -------------------------------------------------------------- what people do

    def lead(self, lead_id: int) -> Lead:
        with self.services.unit_of_work() as uow:
            lead = uow.leads.get(lead_id)
            if lead is None:
                raise DemoError(f"lead {lead_id} is not stored")
            uow.detach(lead)
            return lead

    def webhook(self, payload: dict[str, Any],
                path: str = MQL_PATH) -> tuple[int, dict[str, Any]]:
        """``payload`` posted to the bot's webhook ``path`` as the MA tool or CRM would."""
        token = self.services.settings.intake_token or ""
        response = http_post(
            f"{self.bot.url}{path}", json.dumps(payload, ensure_ascii=False),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        return response.status, response.json()

    def snapshot(self, lead: DemoLead,
                 action: Action) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
        """The button as the handoff message shows it now: label, element, block id, message."""
        row = self.lead(lead.lead_id)
        if not row.message_ts or not row.channel_id:
            raise DemoError(f"{lead.label} was not handed off")
        message = self._message(row.channel_id, row.message_ts)
        if message is None:
            raise DemoError(f"message {row.message_ts} is not in {row.channel_id}")
        return (*_button(message, action, lead.label), message)

    def press(self, user: str, lead: DemoLead, action: Action,
              seen: tuple[str, dict[str, Any], str, dict[str, Any]] | None = None) -> str:
        """``user`` presses a button of the lead's handoff message; returns the trigger id.

        ``seen`` is the button and message as ``user``'s screen still showed them (from
        ``snapshot``): a press on a message that changed meanwhile, as in a real race.
        """
        label, element, block_id, message = seen or self.snapshot(lead, action)
        key = "press_stale" if seen else "press"
        self.say(key, user=self.names.user(user), button=label, company=lead.label)
        row = self.lead(lead.lead_id)
        return self._click(user, str(row.channel_id), str(row.message_ts), message, element,
                           block_id)

    def press_proposal(self, user: str, proposal: DemoProposal, channel: str,
                       action: Action) -> str:
        """``user`` presses a button of the proposal's post in ``channel``; the trigger id."""
        with self.services.unit_of_work() as uow:
            row = uow.outbox.by_key(post_key(proposal.version_id, channel))
            ts = row.result_ts if row is not None else None
            uow.rollback()
        message = self._message(channel, ts) if ts else None
        if ts is None or message is None:
            raise DemoError(f"proposal v{proposal.number} was not posted in {channel}")
        label, element, block_id = _button(message, action, f"v{proposal.number}")
        self.say("agreement.press", user=self.names.user(user), button=label,
                 number=proposal.number, channel=self.names.channel(channel))
        return self._click(user, channel, ts, message, element, block_id)

    def _click(self, user: str, channel: str, ts: str, message: dict[str, Any],
               element: dict[str, Any], block_id: str) -> str:
        """Slack's ``block_actions`` for ``element`` of ``message``, signed; the trigger id."""
        n = next(self._ids)
        trigger = f"{n}.demo-trigger"
        self.triggers[trigger] = user
        url = self.fake.response_url(f"press-{n}", channel=channel, message_ts=ts, user=user)
        response = self.slack.block_action(
            str(element.get("action_id")), str(element.get("value", "")), user_id=user,
            channel_id=channel, message=message, block_id=block_id, trigger_id=trigger,
            response_url=url, action={"text": element.get("text")},
        )
        self._ok(response)
        self.settle()
        self.flush()
        return trigger

    def submit(self, user: str, trigger: str, chosen: dict[str, Any]) -> None:
        """``user`` fills in the modal opened by ``trigger`` and submits it."""
        opened = [c for c in self.fake.calls_to("views.open")
                  if c.args.get("trigger_id") == trigger and c.response and c.response.get("ok")]
        if not opened:
            raise DemoError("no modal opened")
        view = dict(opened[-1].response["view"])  # type: ignore[index]
        title = str((view.get("title") or {}).get("text", ""))
        self.say("submit", user=self.names.user(user), title=title)
        values = state_for(view.get("blocks") or [], chosen)
        filled = {**view, "blocks": with_answers(view.get("blocks") or [], values)}
        self.show(render_modal(filled, at=self.when(), names=self.names, user=user, t=self.t,
                               filled=True), counted=False)
        response = self.slack.view_submission(
            str(view["callback_id"]), values, user_id=user,
            private_metadata=str(view.get("private_metadata", "")), view_id=str(view["id"]),
            trigger_id=f"{next(self._ids)}.demo-trigger",
            view={"blocks": view.get("blocks"), "title": view.get("title")},
        )
        self._ok(response)
        if response.body and response.json().get("response_action") == "errors":
            raise DemoError(f"the modal refused the demo's answers: {response.body}")
        self.settle()
        self.flush()

    def event(self, event: dict[str, Any]) -> None:
        self._ok(self.slack.event(event, event_id=f"EvDemo{next(self._ids):05d}"))
        self.settle()
        self.flush()

    def command(self, user: str, command: Command, text: str = "") -> None:
        self.say("command", user=self.names.user(user), command=f"{command.value} {text}".strip())
        n = next(self._ids)
        channel = self.policy.channels.handoff
        url = self.fake.response_url(f"command-{n}", channel=channel, user=user)
        before = len(self.fake.calls_to("response_url"))
        self._ok(self.slack.slash_command(command.value, text, user_id=user, channel_id=channel,
                                          response_url=url, trigger_id=f"{n}.demo-trigger"))
        self.settle()
        try:
            self.fake.wait_for("response_url", before + 1, SETTLE_TIMEOUT_S)
        except AssertionError as e:
            raise DemoError(f"{command.value} was never answered") from e
        self.flush()

    @staticmethod
    def _ok(response: HttpResponse) -> None:
        if response.status != 200:
            raise DemoError(f"the bot answered HTTP {response.status}: {response.body[:200]}")


def _message_key(call: Call) -> tuple[str, str]:
    """The channel and ts of the message ``call`` posted or updated."""
    return (str(call.args.get("channel") or ""),
            str(call.args.get("ts") or (call.response or {}).get("ts") or ""))


def _view_title(call: Call) -> str:
    """The title of the modal ``call`` opened."""
    view = call.args.get("view")
    title = view.get("title") if isinstance(view, dict) else None
    return str(title.get("text", "")) if isinstance(title, dict) else ""


def _button(message: dict[str, Any], action: Action,
            about: str) -> tuple[str, dict[str, Any], str]:
    """The button ``action`` of ``message``: its label, element and block id."""
    for block in message.get("blocks", []):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action.value:
                label = str(element.get("text", {}).get("text", action.value))
                return label, element, str(block.get("block_id", ""))
    raise DemoError(f"{about}: no {action.value} button on the message")


def with_answers(blocks: list[dict[str, Any]], values: dict[str, Any]) -> list[dict[str, Any]]:
    """The modal's blocks with the submitted answers as initial values, to show what was sent
    (Slack shows a person their own typing; the demo's reader sees it this way)."""
    out: list[dict[str, Any]] = []
    for block in blocks:
        state = values.get(str(block.get("block_id", "")), {})
        element = block.get("element") or {}
        answer = state.get(element.get("action_id", "")) if block.get("type") == "input" else None
        if not answer:
            out.append(block)
            continue
        element = dict(element)
        if answer.get("selected_option"):
            element["initial_option"] = answer["selected_option"]
        if answer.get("selected_options"):
            element["initial_options"] = answer["selected_options"]
        if answer.get("selected_date"):
            element["initial_date"] = answer["selected_date"]
        if answer.get("value"):
            element["initial_value"] = answer["value"]
        out.append({**block, "element": element})
    return out


def state_for(blocks: list[dict[str, Any]], chosen: dict[str, Any]) -> dict[str, Any]:
    """``view.state.values`` as Slack builds it from a person's answers to a modal's inputs.

    ``chosen`` maps a block id to the value(s) typed or picked; a choice that the modal does
    not offer falls back to its first option, as a person would pick something that is there.
    """
    values: dict[str, dict[str, Any]] = {}
    for block in blocks:
        if block.get("type") != "input":
            continue
        element = block.get("element") or {}
        kind, action_id = element.get("type"), element.get("action_id", "")
        wanted = chosen.get(block.get("block_id", ""))
        options = list(element.get("options") or [])
        for group in element.get("option_groups") or []:
            options += group.get("options", [])

        def option(value: Any, options: list[dict[str, Any]] = options) -> dict[str, Any] | None:
            found = [o for o in options if o.get("value") == value]
            return found[0] if found else (options[0] if options and value is not None else None)

        state: dict[str, Any] = {"type": kind}
        if kind in ("static_select", "radio_buttons"):
            state["selected_option"] = option(wanted)
        elif kind == "checkboxes":
            picked = wanted if isinstance(wanted, list) else []
            state["selected_options"] = [o for o in options if o.get("value") in picked]
        elif kind == "users_select":
            state["selected_user"] = wanted
        elif kind == "datepicker":
            state["selected_date"] = wanted
        else:
            state["value"] = None if wanted is None else str(wanted)
        values.setdefault(str(block.get("block_id", "")), {})[action_id] = state
    return values


# ------------------------------------------------------------------------------ the script


def play(stage: Stage, cast: Cast) -> None:
    """A Tuesday of hand-offs, the rest of the week's decisions, Monday's digest, then the
    agreement revised by both sides, and the deals closing until the month's review."""
    t, policy, names = stage.t, stage.policy, stage.names
    start = stage.at(*START[3:])
    stage.clock.set(start)
    stage.sweep()

    # 09:50 marketing automation sends three MQLs
    stage.say("intake", count=3)
    hot_tier = policy.tiers[0] if policy.tiers else None
    now = stage.clock.now()
    leads: dict[str, DemoLead] = {}
    for key, external_id, contact, company, tier, qualified, ago in (
        ("hot", HOT_ID, t("demo.people.contact_hot"), t("demo.people.company_hot"),
         hot_tier, True, 5),
        ("ordinary", "hubspot-20392", t("demo.people.contact_ordinary"),
         t("demo.people.company_ordinary"), None, True, 60),
        ("cold", "hubspot-20393", t("demo.people.contact_cold"), t("demo.people.company_cold"),
         None, False, 10),
    ):
        payload = lead_payload(policy, now, external_id=external_id, contact=contact,
                               company=company, tier=tier, qualified=qualified,
                               qualified_minutes_ago=ago)
        status, answer = stage.webhook(payload)
        stage.note(t(f"demo.kind.{key}") + f" · {company}: HTTP {status} "
                   + json.dumps(answer, ensure_ascii=False))
        if status != 202:
            raise DemoError(f"the webhook refused the demo lead: {answer}")
        leads[key] = DemoLead(int(answer["lead_id"]), company)
        tier_name = stage.lead(leads[key].lead_id).tier if key == "hot" else None
        if tier_name:  # said with its own lead, before the hand-off frames are printed
            stage.note("  " + t("demo.tier", company=company, tier=tier_name))
        if key != "cold" and answer.get("status") != "queued":
            raise DemoError(t("demo.not_qualified", reasons="; ".join(answer.get("reasons", []))))
    stage.settle()
    stage.flush()
    hot, ordinary = leads["hot"], leads["ordinary"]

    # a rep claims the hot lead; a second rep is too late
    stage.until(stage.at(9, 58))
    as_rep2_saw_it = stage.snapshot(hot, Action.CLAIM)
    stage.press(cast.rep1, hot, Action.CLAIM)
    stage.press(cast.rep2, hot, Action.CLAIM, seen=as_rep2_saw_it)

    # nobody claims the ordinary lead for a while: the channel is nudged
    stage.until(stage.at(10, 20), narrate=True)
    stage.press(cast.rep2, ordinary, Action.CLAIM)

    # the first touch on the hot lead
    stage.until(stage.at(10, 30))
    trigger = stage.press(cast.rep1, hot, Action.LOG_TOUCH)
    stage.submit(cast.rep1, trigger, {TouchBlock.KIND.value: "call",
                                      TouchBlock.OUTCOME.value: "connected",
                                      TouchBlock.NOTE.value: t("demo.notes.touch_hot")})

    # the ordinary lead waits: a reminder, then a breach escalated to the manager
    stage.until(stage.at(12, 10), narrate=True)

    stage.say("home", user=names.user(cast.manager))
    stage.home_wanted.add(cast.manager)
    stage.event({"type": "app_home_opened", "user": cast.manager,
                 "channel": f"D{cast.manager}", "tab": "home"})

    stage.until(stage.at(13, 0))
    trigger = stage.press(cast.rep2, ordinary, Action.LOG_TOUCH)
    stage.submit(cast.rep2, trigger, {TouchBlock.KIND.value: "email",
                                      TouchBlock.OUTCOME.value: "no_answer",
                                      TouchBlock.NOTE.value: t("demo.notes.touch_ordinary")})

    # Thursday: one SQL, one recycle, and marketing answers in the thread
    stage.until(stage.at(11, 0, days=2), narrate=True)
    trigger = stage.press(cast.rep1, hot, Action.CONVERT)
    stage.submit(cast.rep1, trigger, {
        ConvertBlock.BANT.value: ["budget", "authority", "need", "timeline"],
        ConvertBlock.AMOUNT.value: "1200000",
        ConvertBlock.NOTE.value: t("demo.notes.convert"),
    })

    stage.until(stage.at(15, 0, days=2))
    trigger = stage.press(cast.rep2, ordinary, Action.RECYCLE)
    reasons = policy.recycle.reasons
    stage.submit(cast.rep2, trigger, {
        RecycleBlock.REASON.value: "no_need_now" if "no_need_now" in reasons else reasons[0],
        RecycleBlock.NOTE.value: t("demo.notes.recycle"),
        RecycleBlock.FEWER_TOUCHES.value: t("demo.notes.fewer_touches"),
    })

    stage.until(stage.at(15, 30, days=2))
    row = stage.lead(ordinary.lead_id)
    text = t("demo.notes.marketer_reply")
    stage.say("reply", user=names.user(cast.marketer), company=ordinary.label)
    message = stage.fake.post_as_user(str(row.channel_id), cast.marketer, text,
                                      thread_ts=row.message_ts)
    title = stage.thread_title(str(row.channel_id), str(row.message_ts))
    stage.show(Rendered(
        "thread", f"{stage.when()} · "
        + t("demo.frame.thread", title=title, channel=names.channel(row.channel_id)),
        (f"{names.user(cast.marketer)}: {text}",)))
    stage.event({**message, "type": "message", "channel": row.channel_id,
                 "channel_type": "channel"})
    with stage.services.unit_of_work() as uow:
        kept = len(uow.feedback.for_lead(ordinary.lead_id))
        uow.rollback()
    stage.note(t("demo.feedback_kept", count=kept))

    stage.until(stage.at(16, 0, days=2))
    stage.command(cast.manager, Command.SLA_STATUS)

    # next Monday: the weekly digest
    monday = stage.at(policy.digest.hour, 0, days=(7 - stage.at(9).weekday()) % 7 or 7)
    stage.until(monday, narrate=True)

    revise_agreement(stage, cast)
    close_deals(stage, cast, hot, ordinary)


def revise_agreement(stage: Stage, cast: Cast) -> None:
    """The agreement revised in Slack (SPEC 9): marketing proposes a faster first contact and
    a shorter decision window, sales asks to keep the window, the revised proposal is approved
    by both sides and takes effect on the next sweep; the next lead is handed off under it."""
    t, names, policy = stage.t, stage.names, stage.policy
    sales, marketing = policy.channels.handoff, policy.channels.marketing_feedback
    terms = policy.agreement
    hours = terms.first_contact_business_hours / 2
    faster = policy.model_copy(update={"agreement": terms.model_copy(update={
        "first_contact_business_hours": int(hours) if hours.is_integer() else hours})})
    days = terms.decision_days - 2 if terms.decision_days > 2 else terms.decision_days + 1
    first = faster.model_copy(update={"agreement": faster.agreement.model_copy(
        update={"decision_days": days})})

    stage.brief = True
    stage.until(stage.clock.now() + timedelta(minutes=30))
    stage.say("agreement.propose", user=names.user(cast.marketer))
    proposal = _propose(stage, first, cast.marketer, t("demo.notes.proposal"))
    trigger = stage.press_proposal(cast.manager, proposal, sales,
                                   Action.PROPOSAL_REQUEST_CHANGES)
    stage.submit(cast.manager, trigger,
                 {ProposalBlock.COMMENT.value: t("demo.notes.change_request")})

    stage.until(stage.clock.now() + timedelta(minutes=30))
    stage.say("agreement.revise", user=names.user(cast.marketer), number=proposal.number)
    revised = _propose(stage, faster, cast.marketer, t("demo.notes.revised"))
    stage.press_proposal(cast.marketer, revised, marketing, Action.PROPOSAL_APPROVE)
    stage.press_proposal(cast.manager, revised, sales, Action.PROPOSAL_APPROVE)

    sweep_at = stage.clock.now() + timedelta(seconds=policy.reminders.sweep_interval_seconds)
    stage.say("agreement.sweep", at=stage.when(sweep_at), number=revised.number)
    stage.until(sweep_at)
    if stage.services.agreement_version != revised.number:
        raise DemoError(f"agreement v{revised.number} did not take effect")

    stage.until(stage.clock.now() + timedelta(minutes=30))
    stage.say("agreement.next_lead", number=revised.number)
    company = t("demo.people.company_next")
    payload = lead_payload(stage.policy, stage.clock.now(), external_id="hubspot-20394",
                           contact=t("demo.people.contact_next"), company=company,
                           qualified_minutes_ago=10)
    status, answer = stage.webhook(payload)
    stage.note(t("demo.kind.ordinary") + f" · {company}: HTTP {status} "
               + json.dumps(answer, ensure_ascii=False))
    if status != 202 or answer.get("status") != "queued":
        raise DemoError(f"the webhook refused the demo lead: {answer}")
    stage.settle()
    stage.flush()


def close_deals(stage: Stage, cast: Cast, won: DemoLead, recycled: DemoLead) -> None:
    """The end of the story (SPEC 10): another contact of the recycled lead's company becomes
    an SQL; the CRM reports the first day's SQL won a week after its conversion and the
    newcomer lost to a competitor, each through ``POST /webhooks/outcome``; on the 1st the
    monthly review pack posts with its funnel."""
    t = stage.t
    stage.brief = True
    stage.say("deals.begin")
    stage.until(stage.at(10, 0, days=7), narrate=True)
    stage.say("deals.cousin", company=recycled.label)
    payload = lead_payload(stage.policy, stage.clock.now(), external_id=COUSIN_ID,
                           contact=t("demo.people.contact_cousin"), company=recycled.label,
                           qualified_minutes_ago=15)
    status, answer = stage.webhook(payload)
    stage.note(t("demo.kind.ordinary") + f" · {recycled.label}: HTTP {status} "
               + json.dumps(answer, ensure_ascii=False))
    if status != 202 or answer.get("status") != "queued":
        raise DemoError(f"the webhook refused the demo lead: {answer}")
    stage.settle()
    stage.flush()
    cousin = DemoLead(int(answer["lead_id"]), recycled.label)

    stage.until(stage.at(10, 10, days=7))
    stage.press(cast.rep2, cousin, Action.CLAIM)
    stage.until(stage.at(10, 20, days=7))
    trigger = stage.press(cast.rep2, cousin, Action.LOG_TOUCH)
    stage.submit(cast.rep2, trigger, {TouchBlock.KIND.value: "call",
                                      TouchBlock.OUTCOME.value: "connected",
                                      TouchBlock.NOTE.value: t("demo.notes.touch_cousin")})
    stage.until(stage.at(10, 40, days=7))
    trigger = stage.press(cast.rep2, cousin, Action.CONVERT)
    stage.submit(cast.rep2, trigger, {
        ConvertBlock.BANT.value: ["budget", "authority", "need", "timeline"],
        ConvertBlock.AMOUNT.value: "800000",
        ConvertBlock.NOTE.value: t("demo.notes.convert_cousin"),
    })

    # a week after its conversion the first day's SQL is won, as the CRM reports it
    converted = stage.lead(won.lead_id).decided_at
    closed = (converted or stage.clock.now()) + timedelta(weeks=1)
    stage.until(closed.astimezone(stage.policy.tz), narrate=True)
    stage.say("deals.won", company=won.label)
    _outcome(stage, {"external_id": HOT_ID, "outcome": "won", "amount": 1200000,
                     "currency": "JPY", "closed_at": _iso(stage.local_now()),
                     "deal_id": "crm-deal-77"})

    stage.until(stage.at(16, 0, days=10))
    stage.say("deals.lost", company=cousin.label)
    _outcome(stage, {"external_id": COUSIN_ID, "outcome": "lost", "amount": 800000,
                     "currency": "JPY", "reason": "competitor", "note": t("demo.notes.lost"),
                     "closed_at": _iso(stage.local_now()), "deal_id": "crm-deal-81"})

    # the 1st of the next month: the review pack of the month the deals closed in
    local = stage.local_now()
    first = review_due_at(stage.policy, month(local.year, local.month, stage.policy.tz))
    stage.say("deals.review", until=stage.when(first))
    stage.until(first)


def _outcome(stage: Stage, payload: dict[str, Any]) -> None:
    """The CRM's outcome webhook, the request and the bot's answer printed."""
    stage.note(f"POST {OUTCOME_PATH} " + json.dumps(payload, ensure_ascii=False))
    status, answer = stage.webhook(payload, OUTCOME_PATH)
    stage.note(f"HTTP {status} " + json.dumps(answer, ensure_ascii=False))
    if status != 202 or answer.get("status") != "recorded":
        raise DemoError(f"the outcome webhook refused the demo's deal: {answer}")
    stage.settle()
    stage.flush()


def _propose(stage: Stage, policy: Policy, proposer: str, note: str) -> DemoProposal:
    """``sla-bot agreement propose`` as the CLI runs it; the bot posts it to both channels."""
    result = propose(stage.services, policy, proposer=proposer, note=note)
    if not result.recorded or result.version_id is None or result.number is None:
        raise DemoError(f"the proposal was not recorded ({result.outcome})")
    stage.settle()
    stage.flush()
    return DemoProposal(result.version_id, result.number)


# ------------------------------------------------------------------------------ entry point


@contextlib.contextmanager
def _no_proxy() -> Iterator[None]:
    """The demo talks to 127.0.0.1 only: a configured HTTP(S) proxy must not capture that."""
    saved = {name: os.environ.pop(name) for name in PROXY_VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def run_demo(policy: Policy, *, start_bot: StartBot, listener_threads: int,
             language: str | None = None, speed: float = DEFAULT_SPEED,
             out: TextIO | None = None, source: str = "policy") -> dict[str, int]:
    """Play the demo; returns how many of each surface were shown. ``DemoError`` on failure."""
    out = out or sys.stdout
    policy, cast, groups = demo_policy(policy, language)
    clock = ManualClock(datetime(*START, tzinfo=policy.tz))
    recorder = _Recorder(clock)
    with _no_proxy(), tempfile.TemporaryDirectory(prefix="sla-bot-demo-") as scratch, \
            FakeSlack(on_call=recorder) as fake:
        url = f"sqlite:///{Path(scratch) / 'demo.db'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        settings = Settings(
            slack_bot_token="xoxb-demo-not-a-real-token",
            slack_signing_secret=secrets.token_hex(16),
            intake_token=secrets.token_hex(16),
            database_url=url, slack_api_url=fake.base_url, port=0, host="127.0.0.1",
            log_level="WARNING",
        )
        slack = slack_client(token=settings.slack_bot_token, base_url=fake.base_url, timeout=5)
        services = build_services(settings, policy, clock, engine=engine, slack=slack)
        _record_agreement(services, clock)
        users = {cast.rep1: "rep1", cast.rep2: "rep2", cast.manager: "manager",
                 cast.marketer: "marketer"}
        names = Names(
            users={uid: services.t(f"demo.people.{role}") for uid, role in users.items()},
            channels={policy.channels.handoff: "sales",
                      policy.channels.marketing_feedback: "marketing",
                      **({policy.channels.digest: "sla-digest"}
                         if policy.channels.digest not in (None, policy.channels.handoff)
                         else {})},
        )
        for uid, name in names.users.items():
            fake.set_user(uid, name=name, tz=policy.calendar.timezone)
        for cid, name in names.channels.items():
            fake.set_channel(cid, name=name)
        for group, members in groups.items():
            fake.set_usergroup(group, members)
        _mark_history_posted(services)
        worker = OutboxWorker(services, client=slack_client(
            token=settings.slack_bot_token, base_url=fake.base_url, timeout=5,
            retry_handlers=[]), sleep=lambda s: clock.advance(timedelta(seconds=s)))
        bot = start_bot(services, worker)
        stage = Stage(services, bot, fake, clock, recorder, names, out, speed, listener_threads)
        try:
            out.write(services.t("demo.title", policy=source) + "\n")
            out.write(services.t(
                "demo.cast", rep1=names.user(cast.rep1), rep2=names.user(cast.rep2),
                manager=names.user(cast.manager), marketer=names.user(cast.marketer),
                sales=names.channel(policy.channels.handoff),
                marketing=names.channel(policy.channels.marketing_feedback),
                tz=policy.calendar.timezone) + "\n")
            play(stage, cast)
            if fake.errors:
                raise DemoError("the Slack stand-in failed:\n" + "\n".join(fake.errors))
            out.write("\n" + services.t("demo.done", surfaces=services.t("demo.separator").join(
                f"{services.t(f'demo.surface.{_SURFACE_KEYS.get(k, k)}')} {v}"
                for k, v in stage.seen.items())) + "\n")
            out.flush()
            return dict(stage.seen)
        finally:
            bot.stop()


def _record_agreement(services: Services, clock: ManualClock) -> None:
    """The policy's agreement recorded as ``run`` records it (version 1, in force), some weeks
    before the demo begins: the demo's week is not the week the agreement changed."""
    begins = clock.now()
    clock.set(begins - AGREED_BEFORE_START)
    record_at_start(services)
    clock.set(begins)


def _mark_history_posted(services: Services) -> None:
    """The demo's workspace starts as if the bot had been running: the digest and the review
    pack already due at its start count as posted, so the first sweep does not post an empty
    week and month (a fresh install would, once)."""
    now = services.clock.now()
    with services.unit_of_work() as uow:
        for key in (digest_key(due_week(services.policy, now)),
                    review_key(due_month(services.policy, now))):
            row = uow.outbox.enqueue(key=key, kind=OutboxKind.MESSAGE, now=now, payload={})
            if row is not None:
                row.status = OutboxStatus.SENT
                row.sent_at = now
        uow.commit()
