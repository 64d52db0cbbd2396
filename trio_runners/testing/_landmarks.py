"""The schedules every timed property (and the state machine) plays first, before any it
draws: its *landmarks*.

A drawn schedule finds a bug with some probability per example; a landmark finds the bug it is
made for in every run. Each landmark is the smallest schedule that shows one kind of bug the
kit exists to catch (the three it found in Prefect 2's runners among them): the enclosing scope
cancelled while a call runs after the block has ended (a ``start()`` that swallows the
cancellation exits normally), the same while ``submit`` runs the call (a sequential runner's
``submit`` that swallows it returns normally), a wait that times out on a running call (a
``wait`` that raises for it), a call that fails (a runner that retries it), one call more than
``max_workers`` at once; for the state machine, steps that cancel an ``as_completed`` step, a
waiter and a queued call at the moment it matters. Landmarks use only what the kit's class
declares (no ``cancel()`` without capability ``cancel``, no more calls than ``max_calls``),
and times in the units of the drawn schedules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from hypothesis import example

from ._machine_model import RULES, Raw
from ._settings import KitSettings
from .strategies import CallSpec, Schedule, WaitSpec

__all__ = [
    "bound",
    "cancellation",
    "exactly_once",
    "fitting",
    "machine",
    "memory",
    "none",
    "played_first",
    "sequential",
    "wait",
]


def cancellation(cls: type[KitSettings]) -> list[Schedule]:
    """The enclosing scope cancelled after the block ended and while it sleeps, an exception
    in the block, a finished call then the scope; ``cancel()`` and ``cancel_all()`` of a running
    call where declared."""
    found = [
        # The scope is cancelled while the call runs and the block has ended (start() is
        # waiting for the call): only the call's cancellation can leave start().
        Schedule((CallSpec(2.0),), scope_cancel_at=1.0),
        # The same while the block still sleeps before its second submit.
        Schedule((CallSpec(2.0), CallSpec(1.0, submit_delay=1.0)), scope_cancel_at=0.5),
        # An exception raised in the block while a call runs.
        Schedule((CallSpec(2.0),), raise_at=1.0),
        # A finished call, then the scope: the finished call keeps its State.
        Schedule((CallSpec(0.0), CallSpec(2.0, submit_delay=0.5)), scope_cancel_at=1.0),
    ]
    if cls.supports_cancel:
        found.append(Schedule((CallSpec(2.0, cancel_after=1.0), CallSpec(1.0))))
    if cls.supports_cancel_all:
        found.append(Schedule((CallSpec(0.0), CallSpec(2.0)), cancel_all_at=1.0))
    return found


def wait(cls: type[KitSettings]) -> list[Schedule]:
    """Waits that time out on a running call, poll it, and get its State in time."""
    # On call 0 (runs 2): a wait that times out while it runs, a poll, a wait begun later that
    # gets the State within its timeout; on call 1 (fails after 1): a wait that gets the State.
    waits = (
        WaitSpec(0, 0.0, 1.0),
        WaitSpec(0, 0.0, 0.0),
        WaitSpec(0, 1.0, 2.0),
        WaitSpec(1, 0.0, 3.0),
    )
    return [Schedule((CallSpec(2.0), CallSpec(1.0, fails=True)), waits)]


def exactly_once(cls: type[KitSettings]) -> list[Schedule]:
    """A call that fails among calls that return."""
    return [Schedule((CallSpec(1.0, fails=True), CallSpec(0.0), CallSpec(1.0)))]


def sequential(cls: type[KitSettings]) -> list[Schedule]:
    """Calls with unequal durations and a failure; the scope cancelled during the first."""
    return [
        Schedule((CallSpec(1.0), CallSpec(0.0), CallSpec(1.0, fails=True))),
        Schedule((CallSpec(2.0), CallSpec(1.0)), scope_cancel_at=1.0),
    ]


def bound(cls: type[KitSettings]) -> list[Schedule]:
    """One call more than ``max_workers`` at once; two more with unequal durations."""
    k = cls.max_workers or 1
    # One call more than the workers, all submitted at once; then two more than the workers
    # with different durations, so that a worker frees while others still run. (No more
    # calls than a schedule may hold.)
    return [
        Schedule(tuple(CallSpec(1.0) for _ in range(min(k + 1, cls.max_calls)))),
        Schedule(tuple(CallSpec(float(1 + i % 2)) for i in range(min(k + 2, cls.max_calls)))),
    ]


def memory(cls: type[KitSettings]) -> list[Schedule]:
    """A slow consumer that releases each State, the first one late."""
    return [
        Schedule(
            (CallSpec(0.0), CallSpec(1.0), CallSpec(0.0, fails=True)),
            consumer_delays=(1.0, 0.0, 0.0),
        )
    ]


def _step(rule: str, pick: int = 0, t1: int = 0, t2: int = 0) -> Raw:
    """The state machine's step that means ``rule`` (read as `Raw` bytes: see
    ``_Machine._interpret``; ``t1``/``t2`` are time and timeout bytes, ``pick`` an index)."""
    return Raw(RULES.index(rule), pick, t1, t2, False)


def machine(cls: type[KitSettings]) -> list[tuple[frozenset[str], list[Raw]]]:
    """The state machine's landmarks (no rule switched off): an ``as_completed`` step cancelled
    by its timeout while it waits (the next step must still get the item); a waiter cancelled
    by its own scope (``statistics().waiters`` back down); a queued call cancelled while a
    submit waits for room (with ``max_pending``: the submit returns at once)."""
    runs_2 = _step("submit", t1=1)  # a call of duration 2 (time byte 2), submitted at once
    as_completed = [
        runs_2,
        _step("as_completed"),  # over call 0
        _step("next_item", t2=3),  # a step with timeout 1: it times out
        _step("advance", t1=3),  # to time 3: call 0 ended at 2
        _step("next_item"),  # no timeout: it must get call 0
    ]
    waiter = [
        runs_2,
        _step("wait", t2=3),  # wait(call 0) in a scope with a deadline 1 later
        _step("advance", t1=3),
    ]
    # Four calls of duration 2, one queued call cancelled (call 1: pick 2 of 5 from the newest).
    room = [runs_2] * 4 + [_step("cancel", pick=2), _step("advance", t1=3)]
    return [(frozenset(), steps) for steps in (as_completed, waiter, room)]


def fitting(
    make: Callable[[type[KitSettings]], list[Schedule]],
) -> Callable[[type[KitSettings]], list[Schedule]]:
    """``make``, keeping the landmarks that fit in the kit class's ``max_calls``."""

    def landmarks(cls: type[KitSettings]) -> list[Schedule]:
        return [s for s in make(cls) if len(s.calls) <= cls.max_calls]

    return landmarks


T = TypeVar("T", bound=Callable[..., Any])


def played_first(test: T, landmarks: Iterable[Any], name: str | None = None) -> T:
    """``test`` (a ``@given`` test) that plays each of ``landmarks`` first, as an explicit
    example: its argument ``name``, or its only positional argument."""
    for landmark in landmarks:
        test = (example(landmark) if name is None else example(**{name: landmark}))(test)
    return test


def none(cls: type[KitSettings]) -> list[Schedule]:
    """No landmark."""
    return []
