"""Waiting on several task runs at once: `wait` and `as_completed`, as in `concurrent.futures`.

Both work from both sides of a flow: on the Trio thread (async flows, async tasks) they return an
awaitable (or an async iterator); from a worker thread (the body of a sync flow, a sync task) they
block the thread and do the waiting on the Trio thread through `trio.from_thread`. They listen
through the runner's own `as_completed`, so they never poll.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Iterator
from typing import Any, Final, final

import trio

from ..abc import BaseTaskRunner
from ..states import State
from ._flow_checks import _check_timeout
from ._flow_threads import on_trio_thread
from ._futures import FlowRunHandle, TaskFuture

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "as_completed",
    "wait",
]

FIRST_COMPLETED: Final = "FIRST_COMPLETED"
FIRST_EXCEPTION: Final = "FIRST_EXCEPTION"
ALL_COMPLETED: Final = "ALL_COMPLETED"
_RETURN_WHEN = (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED)


def _flow_run_of(futures: list[TaskFuture]) -> FlowRunHandle:
    runs = {id(f._flow_run): f._flow_run for f in futures}
    if len(runs) != 1:
        raise ValueError("wait() and as_completed() take futures of one flow run at a time")
    return next(iter(runs.values()))


def _check_futures(futures: Iterable[TaskFuture]) -> list[TaskFuture]:
    unique = list(dict.fromkeys(futures))
    for future in unique:
        if not isinstance(future, TaskFuture):
            raise TypeError(f"expected TaskFuture objects, got {type(future).__name__}")
    return unique


def wait(
    futures: Iterable[TaskFuture],
    timeout: float | None = None,
    return_when: str = ALL_COMPLETED,
) -> Any:
    """Wait for task runs, like `concurrent.futures.wait`; returns ``(done, not_done)`` sets.

    ``return_when``: `ALL_COMPLETED` (default), `FIRST_COMPLETED` (as soon as one is done), or
    `FIRST_EXCEPTION` (as soon as one ends in a State other than Completed, else when all are
    done). After ``timeout`` seconds it returns what is done so far. On the Trio thread it returns
    an awaitable (a checkpoint); from a worker thread it blocks. Waiting from inside a task lends
    the task's worker slot back, as `BaseTaskRunner.wait` does. Cancelling the waiter (or the
    timeout) does not affect the task runs.

    Raises:
      TypeError: ``timeout`` is not a number; an item of ``futures`` is not a `TaskFuture`.
      ValueError: unknown ``return_when``, a negative or NaN ``timeout``, or futures of several
        flow runs.
    """
    if return_when not in _RETURN_WHEN:
        raise ValueError(f"return_when must be one of {_RETURN_WHEN}, not {return_when!r}")
    _check_timeout(timeout)
    unique = _check_futures(futures)
    if on_trio_thread():
        return _wait(unique, timeout, return_when)
    if not unique:
        return set(), set()
    token = _flow_run_of(unique).token
    return trio.from_thread.run(_wait, unique, timeout, return_when, trio_token=token)


async def _wait(
    futures: list[TaskFuture], timeout: float | None, return_when: str
) -> tuple[set[TaskFuture], set[TaskFuture]]:
    if futures:
        _flow_run_of(futures)
    # Listening to every future at once, and counting what the listener delivered: a runner may
    # release a State once it has been delivered.
    states: dict[TaskFuture, State[Any]] = {}
    with trio.move_on_after(math.inf if timeout is None else timeout):
        async with _AsCompleted(futures, None) as finished:
            while finished._remaining:
                future, state = await finished._next_state()
                states[future] = state
                if return_when == FIRST_COMPLETED:
                    break
                if return_when == FIRST_EXCEPTION and not state.is_completed():
                    break
    await trio.lowlevel.checkpoint()
    done = {f for f in futures if f in states or f._peek() is not None}
    return done, set(futures) - done


def as_completed(futures: Iterable[TaskFuture], timeout: float | None = None) -> _AsCompleted:
    """Iterate over futures as their task runs finish (finished ones first).

    A plain iterator from a worker thread (sync flows, sync tasks: ``for f in as_completed(...)``)
    and an async iterator on the Trio thread (``async for f in as_completed(...)``). Each step is
    a checkpoint on the Trio side, lends the caller's worker slot back while it waits (inside a
    task), and never polls. ``timeout`` bounds the whole iteration, counted from its first step.

    Raises (from a step):
      TimeoutError: ``timeout`` seconds passed before every task run finished.
      TypeError: ``timeout`` is not a number, or an item is not a `TaskFuture` (raised at once).
      ValueError: ``timeout`` is negative or NaN, or futures of several flow runs (raised at
        once).
    """
    _check_timeout(timeout)
    unique = _check_futures(futures)
    if unique:
        _flow_run_of(unique)
    return _AsCompleted(unique, timeout)


@final
class _AsCompleted:
    """Iterator (sync and async) returned by `as_completed`."""

    def __init__(self, futures: list[TaskFuture], timeout: float | None) -> None:
        self._futures: dict[Hashable, TaskFuture] = {f.key: f for f in futures}
        self._remaining = len(futures)
        self._timeout = timeout
        self._deadline: float | None = None
        self._states: Any = None  # the runner's AsCompleted, made on the Trio thread
        self._stash: list[tuple[Hashable, State[Any]]] = []

    # -- async side
    def __aiter__(self) -> _AsCompleted:
        return self

    async def __anext__(self) -> TaskFuture:
        """The next finished future. A checkpoint."""
        if self._remaining == 0:
            await trio.lowlevel.checkpoint()
            raise StopAsyncIteration
        future, _ = await self._next_state()
        return future

    async def _next_state(self) -> tuple[TaskFuture, State[Any]]:
        """The next finished future and its State (``_remaining`` must be > 0). A checkpoint.

        Raises:
          TimeoutError: the iteration's ``timeout`` passed first.
        """
        runner = next(iter(self._futures.values()))._flow_run.runner
        if self._deadline is None:
            self._deadline = (
                math.inf if self._timeout is None else trio.current_time() + self._timeout
            )
        with trio.move_on_at(self._deadline):
            if self._states is None:
                await self._listen(runner)
            if not self._stash:
                # The runner's as_completed lends a worker slot back while it waits in a call.
                self._stash.append(await self._states.__anext__())
        if not self._stash:
            await trio.lowlevel.checkpoint()
            raise TimeoutError(f"{self._remaining} task run(s) unfinished after {self._timeout} s")
        key, state = self._stash.pop()
        self._remaining -= 1
        await trio.lowlevel.checkpoint()
        return self._futures[key], state

    async def _listen(self, runner: BaseTaskRunner) -> None:
        # Task runs still in the submission pump are not the runner's yet: wait for them first.
        for future in self._futures.values():
            if future._pending:
                await future._until_submitted()
        keys = []
        for key, future in self._futures.items():
            if future._settled is not None:  # never reached the runner
                self._stash.append((key, future._settled))
            else:
                keys.append(key)
        self._states = runner.as_completed(keys)

    async def aclose(self) -> None:
        """Stop listening early. A checkpoint."""
        self._remaining = 0
        if self._states is not None:
            await self._states.aclose()
        else:
            await trio.lowlevel.checkpoint()

    async def __aenter__(self) -> _AsCompleted:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- sync side (worker threads)
    def __iter__(self) -> Iterator[TaskFuture]:
        return self

    def __next__(self) -> TaskFuture:
        if self._remaining == 0:
            raise StopIteration
        token = next(iter(self._futures.values()))._flow_run.token
        try:
            return trio.from_thread.run(self.__anext__, trio_token=token)
        except StopAsyncIteration:  # pragma: no cover (remaining is checked above)
            raise StopIteration from None
