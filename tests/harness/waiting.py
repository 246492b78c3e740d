"""Waiting for an effect that happens on another thread or process, with a bound."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 5.0, *, every: float = 0.01,
               context: Callable[[], str] | None = None) -> T:
    """Poll ``check`` until it returns something truthy, and return that.

    Listeners run after ``ack()`` and the outbox worker on its own thread: wait for their effect
    instead of sleeping blindly. ``context`` adds what would explain a timeout (a process's log).
    """
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            detail = f"\n{context()}" if context is not None else ""
            raise AssertionError(f"condition not met within {timeout}s{detail}")
        time.sleep(every)
    return result

