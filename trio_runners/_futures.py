"""TaskFuture, `wait` and `as_completed`: handles on the task runs of a flow run.

Every blocking method here works from both sides of a flow: on the Trio thread (async flows,
async tasks) it returns an awaitable; from a worker thread (the body of a sync flow, a sync task) it
blocks the thread and does the waiting on the Trio thread through `trio.from_thread`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast, final
from uuid import UUID

import trio

from ._base import BaseTaskRunner
from ._states import Cancelled, State

if TYPE_CHECKING:
    from ._flow_run import FlowRun

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "TaskFuture",
    "as_completed",
    "wait",
]

T = TypeVar("T")

FIRST_COMPLETED: Final = "FIRST_COMPLETED"
FIRST_EXCEPTION: Final = "FIRST_EXCEPTION"
ALL_COMPLETED: Final = "ALL_COMPLETED"
_RETURN_WHEN = (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED)


def on_trio_thread() -> bool:
    """True on the thread that runs a Trio loop (where blocking would freeze the loop)."""
    return trio.lowlevel.in_trio_run()


def check_number(option: str, value: object) -> float:
    """``value`` if it is a real number: an ``int``, a ``float`` (or another `numbers.Real`), but
    not a ``bool``.

    Raises:
      TypeError: it is not; the message names ``option`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{option} must be an int or a float, not {value!r} ({type(value).__name__})"
        )
    return cast(float, value)


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and not check_number("timeout", timeout) >= 0:
        raise ValueError(f"timeout must be None or a number >= 0, not {timeout!r}")


@final
class TaskFuture:
    """A handle on one task run: its key, its name, and (once it has finished) its State.

    Returned by calling or submitting a task inside a flow. On the Trio thread (async flows and
    async tasks) `wait` and `result` return awaitables; from a worker thread (sync flows and sync
    tasks) they block the thread. Reading the result (`result`, or a `wait` that returns the
    State) counts as looking at the task run: a flow only reports the failures it was not shown.
    """

    __slots__ = (
        "_flow_run",
        "_observed",
        "_on_submit",
        "_pending",
        "_settled",
        "finished_at",
        "key",
        "name",
        "started_at",
        "task_name",
    )

    def __init__(
        self, flow_run: FlowRun, key: UUID, name: str, task_name: str, pending: bool = False
    ) -> None:
        self._flow_run = flow_run
        #: True while the task run waits in the flow run's `SubmissionPump` (not yet submitted).
        self._pending = pending
        self._on_submit: trio.Event | None = None  # made by a waiter while pending
        #: The State of a task run that never reached the runner (cancelled or refused).
        self._settled: State[Any] | None = None
        #: The runner key of this task run (a fresh `uuid.uuid4()`).
        self.key = key
        #: The task run's name, ``<task name>-<n>`` (n counts the task's runs in this flow run).
        self.name = name
        self.task_name = task_name
        self._observed = False
        #: Trio clock readings around the task's attempts (None until started / finished).
        self.started_at: float | None = None
        self.finished_at: float | None = None

    def __repr__(self) -> str:
        state = self._peek()
        shown = "running" if state is None else state.type.value.lower()
        return f"<TaskFuture {self.name} {shown}>"

    @property
    def runner(self) -> BaseTaskRunner:
        """The runner of the flow run this task run belongs to."""
        return self._flow_run.runner

    @property
    def duration(self) -> float | None:
        """Seconds (Trio clock) from the first attempt's start to the task run's end; None if
        it never started or has not ended."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def _peek(self) -> State[Any] | None:
        # A State is recorded once and never changes, so reading it from another thread is safe.
        settled = self._settled
        if settled is not None:
            return settled
        try:
            return self._flow_run.runner.state(self.key)
        except KeyError:  # released by the runner
            return None

    @property
    def state(self) -> State[Any] | None:
        """The task run's final State, or None while it is unfinished. Never blocks; reading it
        does not count as looking at the result."""
        return self._peek()

    def done(self) -> bool:
        """True once the task run has its final State. Never blocks; not a checkpoint."""
        return self._peek() is not None

    def cancel(self) -> bool:
        """Cancel the task run (see `BaseTaskRunner.cancel`); its State becomes Cancelled unless
        it had finished. Returns True if it was unfinished. Not a checkpoint."""
        if on_trio_thread():
            return self._cancel()
        return trio.from_thread.run_sync(self._cancel, trio_token=self._flow_run.token)

    def _cancel(self) -> bool:
        if self._pending:  # never submitted: it never will be
            self._settle(Cancelled("cancelled by TaskFuture.cancel() before it was submitted"))
            return True
        if self._settled is not None:
            return False
        return self._flow_run.runner.cancel(self.key)

    # -- the submission pump (Trio thread)
    def _submitted(self) -> None:
        """The pump is done with this task run: it is the runner's now (or settled)."""
        self._pending = False
        event = self._on_submit
        if event is not None:
            self._on_submit = None
            event.set()

    def _settle(self, state: State[Any]) -> None:
        """End a task run that never reached the runner."""
        if self._settled is None:
            self._settled = state
        self._submitted()

    async def _until_submitted(self) -> None:
        """Wait until the pump has handed this task run to the runner (lending the caller's
        worker slot back, as a wait on the runner does)."""
        event = self._on_submit
        if event is None:
            event = self._on_submit = trio.Event()
        async with self._flow_run.runner._slot_lent():
            await event.wait()

    async def _wait_state(self, timeout: float | None = None) -> State[Any] | None:
        if self._pending:
            deadline = math.inf if timeout is None else trio.current_time() + timeout
            with trio.move_on_at(deadline):
                await self._until_submitted()
            if self._pending:
                return None
            if timeout is not None:
                timeout = max(0.0, deadline - trio.current_time())
        if self._settled is not None:
            await trio.lowlevel.checkpoint()
            return self._settled
        # runner.wait lends the caller's worker slot when called from one of the runner's calls.
        return await self._flow_run.runner.wait(self.key, timeout)

    async def _final_state(self) -> State[Any]:
        """Wait for the final State, as long as it takes. A checkpoint.

        Raises:
          RuntimeError: the runner released the State before this wait began; or the runner
            broke its contract (``wait`` without a timeout returned None).
        """
        if self._pending:
            await self._until_submitted()  # (it returns once the pump is done with this run)
        settled = self._settled
        if settled is not None:
            await trio.lowlevel.checkpoint()
            return settled
        try:
            state = await self._flow_run.runner.wait(self.key)
        except KeyError:  # the key was registered before the future was handed out
            raise RuntimeError(
                f"the State of task run {self.name!r} was released from the runner before it "
                "was waited for"
            ) from None
        if state is None:
            raise RuntimeError(
                f"{self._flow_run.runner!r}.wait({self.key!r}) returned None without a timeout"
            )
        return state

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for the final State; None if ``timeout`` seconds pass first.

        On the Trio thread this returns an awaitable (a checkpoint; cancelling the waiter does
        not affect the task run). From a worker thread it blocks.

        Raises:
          TypeError: ``timeout`` is not a number.
          ValueError: ``timeout`` is negative or NaN.
        """
        _check_timeout(timeout)
        if on_trio_thread():
            return self._await_wait(timeout)
        state = self._peek()
        if state is None:
            state = trio.from_thread.run(self._wait_state, timeout, trio_token=self._flow_run.token)
        if state is not None:
            self._observed = True
        return state

    async def _await_wait(self, timeout: float | None) -> State[Any] | None:
        state = await self._wait_state(timeout)
        if state is not None:
            self._observed = True
        return state

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        """Wait for the task run and return its value (or raise what ended it).

        Completed: the value. Failed/Crashed: the exception is raised (returned with
        ``raise_on_failure=False``). Cancelled: `CancelledRun`. On the Trio thread this returns an
        awaitable (a checkpoint); from a worker thread it blocks. Cancelling the waiter (or a
        timeout) does not affect the task run.

        Raises:
          TimeoutError: the task run did not finish within ``timeout`` seconds.
          TypeError: ``timeout`` is not a number.
          ValueError: ``timeout`` is negative or NaN.
        """
        _check_timeout(timeout)
        if on_trio_thread():
            return self._await_result(timeout, raise_on_failure)
        return self._unwrap(self.wait(timeout), timeout, raise_on_failure)

    async def _await_result(self, timeout: float | None, raise_on_failure: bool) -> Any:
        return self._unwrap(await self._await_wait(timeout), timeout, raise_on_failure)

    def _unwrap(
        self, state: State[Any] | None, timeout: float | None, raise_on_failure: bool
    ) -> Any:
        if state is None:
            raise TimeoutError(f"task run {self.name!r} did not finish within {timeout} s")
        return state.result(raise_on_failure)


def _flow_run_of(futures: list[TaskFuture]) -> FlowRun:
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
