"""TaskFuture: the handle on one task run of a flow run.

Every blocking method here works from both sides of a flow: on the Trio thread (async flows,
async tasks) it returns an awaitable; from a worker thread (the body of a sync flow, a sync task) it
blocks the thread and does the waiting on the Trio thread through `trio.from_thread`.

A future needs two things of its flow run, its started runner and its Trio token (the
`FlowRunHandle` protocol, which `FlowRun` provides), so this module does not import `_flow_run`.
Its underscore members (`_peek`, `_final_state`, `_until_submitted`, `_settle`, `_submitted`,
``_pending``, ``_settled``, ``_observed``) are the flow layer's internal interface, used by
``_wait.py``, ``_submission.py``, ``_task_run.py``, ``_future_args.py``, ``_flow_run.py`` and
``_flows.py``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, final, overload
from uuid import UUID

import trio

from ..abc import BaseTaskRunner
from ..states import Cancelled, State
from ._flow_checks import _check_timeout
from ._flow_threads import on_trio_thread

__all__ = ["FlowRunHandle", "TaskFuture"]

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    #: A task run's value type; a bare ``TaskFuture`` is ``TaskFuture[Any]``.
    R = TypeVar("R", default=Any)
else:
    from typing import TypeVar

    R = TypeVar("R")


class FlowRunHandle(Protocol):
    """What a `TaskFuture` uses of the flow run it belongs to (`FlowRun` provides it)."""

    @property
    def runner(self) -> BaseTaskRunner:
        """The flow run's own started runner: the task run is one of its calls."""
        ...

    @property
    def token(self) -> trio.lowlevel.TrioToken:
        """The Trio token through which worker threads reach the runner."""
        ...


@final
class TaskFuture(Generic[R]):
    """A handle on one task run: its key, its name, and (once it has finished) its State.

    Returned by calling or submitting a task inside a flow. On the Trio thread (async flows and
    async tasks) `wait` and `result` return awaitables; from a worker thread (sync flows and sync
    tasks) they block the thread. ``TaskFuture[R]``: a future of a task run whose function
    returns ``R`` (an async task's future is ``TaskFuture`` of what its coroutine returns); the
    annotation of `result` describes the worker-thread side. Reading the result
    (`result`, or a `wait` that returns the State) counts as looking at the task run: a flow
    only reports the failures it was not shown.
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
        self, flow_run: FlowRunHandle, key: UUID, name: str, task_name: str, pending: bool = False
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
        async with self._flow_run.runner.lend_slot():
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

    @overload
    def result(self, timeout: float | None = None, raise_on_failure: Literal[True] = True) -> R: ...

    @overload
    def result(self, timeout: float | None, raise_on_failure: bool) -> R | BaseException: ...

    @overload
    def result(
        self, timeout: float | None = None, *, raise_on_failure: bool
    ) -> R | BaseException: ...

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
