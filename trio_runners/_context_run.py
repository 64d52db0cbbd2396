"""Running a coroutine in a `contextvars.Context` of its own, inside the current Trio task.

Trio gives each task a copy of its spawner's context; a call that the sequential runner runs
inside ``submit`` (in the submitter's own task) gets a copy the same way through `in_context`,
so what the call sets stays its own, as it would in a task of its own.
"""

from __future__ import annotations

import contextvars
import types
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["in_context"]

T = TypeVar("T")


@types.coroutine
def in_context(
    context: contextvars.Context, coro: Coroutine[Any, Any, T]
) -> Generator[Any, Any, T]:
    """Await ``coro`` with ``context`` as the current context each time it runs.

    Each step of ``coro`` runs inside ``context.run``; what ``coro`` yields to Trio (its traps)
    passes through unchanged, and what Trio sends or throws in (a value, `trio.Cancelled`,
    `KeyboardInterrupt`, `GeneratorExit`) is handed to ``coro`` unchanged: cancellation,
    checkpoints and exceptions are exactly those of awaiting ``coro`` directly.
    """
    step: Any = coro.send
    value: Any = None
    while True:
        try:
            yielded = context.run(step, value)
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            value = yield yielded
            step = coro.send
        except BaseException as thrown:  # handed on to the coroutine, never kept
            step, value = coro.throw, thrown
