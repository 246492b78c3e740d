"""Races: calls run in threads of their own and released at once by a barrier, as replicas,
retried deliveries or concurrent sweeps meet in production."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from threading import Barrier, Lock, Thread
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Race(Generic[T]):
    #: what the calls returned, in the order they finished
    results: list[T] = field(default_factory=list)
    #: what the calls raised (a test says which, if any, it expects)
    errors: list[BaseException] = field(default_factory=list)


def race(calls: Sequence[Callable[[], T]], timeout: float = 60) -> Race[T]:
    """Each call in its own thread, all released together: what they returned and raised.

    A call still running after ``timeout`` seconds fails the test instead of hanging it.
    """
    barrier = Barrier(len(calls))
    outcome: Race[T] = Race()
    lock = Lock()

    def run(call: Callable[[], T]) -> None:
        try:
            barrier.wait(timeout)
            result = call()
        except BaseException as exc:  # collected for the test to assert on
            with lock:
                outcome.errors.append(exc)
        else:
            with lock:
                outcome.results.append(result)

    threads = [Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), f"a racer ran over {timeout} s"
    return outcome
