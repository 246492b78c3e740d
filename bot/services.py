"""What every request and job needs, built once at start and handed around explicitly.

Handlers receive this through Bolt's context (``services`` parameter); nothing is global, so
tests build as many independent bots as they like.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.clock import Clock
from bot.i18n import Translator
from bot.policy import Policy
from bot.roles import Directory
from bot.settings import Settings
from bot.user_agent import slack_client
from storage.db import make_engine, make_session_factory
from storage.unit_of_work import UnitOfWork, UnitOfWorkFactory, unit_of_work_factory


@dataclass
class Services:
    settings: Settings
    policy: Policy
    clock: Clock
    engine: Engine
    uow: UnitOfWorkFactory
    slack: WebClient
    #: set when work was queued in the outbox, so this process's worker posts it at once
    outbox_ready: threading.Event = field(default_factory=threading.Event)
    #: set when the process is shutting down, so long passes (a sweep catching up on
    #: thousands of due leads, the start-up re-plan) stop between batches instead of
    #: holding the shutdown up; what they leave is still due and the next pass takes it
    stopping: threading.Event = field(default_factory=threading.Event)
    #: the number of the agreement version ``policy`` carries (SPEC 9); the sweep compares it
    #: with the active version and swaps ``policy`` when another process activated a new one
    agreement_version: int | None = None
    t: Translator = field(init=False)

    def __post_init__(self) -> None:
        self.t = Translator(self.policy.language)

    def unit_of_work(self) -> UnitOfWork:
        return self.uow()

    @cached_property
    def directory(self) -> Directory:
        """Who holds which role; one per process so user-group lookups are cached."""
        return Directory(self.policy, self.slack, self.clock)

    def close(self) -> None:
        self.engine.dispose()


def build_services(
    settings: Settings,
    policy: Policy,
    clock: Clock,
    *,
    engine: Engine | None = None,
    slack: WebClient | None = None,
) -> Services:
    engine = engine or make_engine(settings.database_url)
    slack = slack or slack_client(
        token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10
    )
    return Services(
        settings=settings,
        policy=policy,
        clock=clock,
        engine=engine,
        uow=unit_of_work_factory(make_session_factory(engine)),
        slack=slack,
    )
