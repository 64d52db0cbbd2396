"""What the scenario properties share: hang limits, keys, settling, and reading what a call
raised out of a Crashed State or an exception group."""

from __future__ import annotations

import sys
import threading
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import outcome
import trio
import trio.testing

from ._settings import KitSettings

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "HANG",
    "MOCK_HANG",
    "Stop",
    "contains",
    "in_process_sync",
    "is_or_caused_by",
    "key",
    "leaves",
    "run_watched",
    "settle",
]


#: Real seconds after which a scenario on the real clock is judged hung (a deadlock).
HANG = 10.0
#: Virtual seconds after which a scenario on a MockClock is judged hung.
MOCK_HANG = 1e6
#: Real seconds a scenario run in a watched thread may take in all (`run_watched`).
WATCHED_HANG = HANG + 10.0


class Stop(Exception):
    """The scenario gives up (a hang was reported); unwinds the runner."""


def key(i: int) -> Hashable:
    return f"call-{i}"


def is_or_caused_by(error: BaseException | None, raised: BaseException) -> bool:
    """A Crashed State keeps what the call raised: the object itself, or, for a stray
    `trio.Cancelled`, an exception caused by it."""
    if error is raised:
        return True
    return isinstance(raised, trio.Cancelled) and error is not None and error.__cause__ is raised


def leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for e in error.exceptions for leaf in leaves(e)]
    return [error]


def contains(error: BaseException, target: BaseException) -> bool:
    """``error`` carries ``target``'s KeyboardInterrupt / SystemExit (the very objects; a
    group may travel re-wrapped, as `except*` and nurseries do)."""
    wanted = [e for e in leaves(target) if isinstance(e, KeyboardInterrupt | SystemExit)]
    found = leaves(error)
    return bool(wanted) and all(any(e is w for e in found) for w in wanted)


def in_process_sync(kit: KitSettings) -> bool:
    return kit.call_kind == "sync"


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


def run_watched(async_fn: Callable[..., Awaitable[list[str]]], *args: Any, what: str) -> list[str]:
    """``trio.run(async_fn, *args)`` in a thread of its own, for a scenario that judges
    deadlocks: its guard (`HANG`) cancels a deadlocked run, but a runner deadlocked in a
    *shielded* wait (one that no cancellation reaches) would hang ``trio.run`` for ever. If the
    run has not ended after `WATCHED_HANG` seconds it is reported as such a deadlock (``what``
    says of what) and left behind in its daemon thread; otherwise its result, or what it
    raised, is this function's."""
    result: list[outcome.Outcome[list[str]]] = []

    def run() -> None:
        result.append(outcome.capture(trio.run, async_fn, *args))

    thread = threading.Thread(target=run, name="trio-runners-kit-scenario", daemon=True)
    thread.start()
    thread.join(WATCHED_HANG)
    if not result:
        return [
            f"{what} did not end within {WATCHED_HANG} s, although the deadlock guard cancelled "
            f"them after {HANG} s: a deadlock in a shielded wait, which no cancellation reaches"
        ]
    return result[0].unwrap()
