"""One call of a flow: its runner, its Trio token, its task runs; and the flow layer's errors."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, final

import trio

from ._base import BaseTaskRunner
from ._states import Cancelled, Crashed, State, state_for_base_exception

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

if TYPE_CHECKING:
    from ._futures import TaskFuture

__all__ = [
    "FlowRun",
    "FlowRunFailed",
    "SubmissionPump",
    "TaskTimeout",
    "UpstreamFailed",
    "current_flow_run",
]

#: The flow run whose body (or one of whose tasks) is executing in this task or thread.
current_flow_run: ContextVar[FlowRun | None] = ContextVar(
    "trio_runners_current_flow_run", default=None
)


@final
class FlowRun:
    """Bookkeeping for one call of a flow: its own started runner and its task runs."""

    __slots__ = (
        "_counters",
        "_names_lock",
        "children",
        "finished",
        "flow_name",
        "futures",
        "pump",
        "runner",
        "token",
    )

    def __init__(self, flow_name: str, runner: BaseTaskRunner, token: trio.lowlevel.TrioToken):
        self.flow_name = flow_name
        self.runner = runner
        self.token = token
        self.futures: list[TaskFuture] = []
        #: Cancel scopes of subflow runs still running; cancelled when this run ends.
        self.children: set[trio.CancelScope] = set()
        self.finished = False
        #: Hands task runs submitted from the body's thread to the runner (None: not running).
        self.pump: SubmissionPump | None = None
        self._counters: dict[str, int] = {}
        self._names_lock = threading.Lock()  # names are drawn on the Trio thread and the body's

    def next_name(self, task_name: str) -> str:
        """``<task name>-<n>``: n counts this task's runs in this flow run, from 0."""
        with self._names_lock:
            n = self._counters.get(task_name, 0)
            self._counters[task_name] = n + 1
        return f"{task_name}-{n}"

    def unseen_failures(self) -> list[tuple[TaskFuture, State[object]]]:
        """Task runs that ended Failed or Crashed and whose result nobody looked at."""
        failures = []
        for future in self.futures:
            state = future.state
            if future._observed or state is None:
                continue
            if state.is_failed() or state.is_crashed():
                failures.append((future, state))
        return failures


@final
class SubmissionPump:
    """Submits, in FIFO order, the task runs that a flow body's worker thread hands over.

    The body's thread never waits for the Trio thread to submit: `put` appends to a queue and,
    only when the pump is idle, wakes it with one ``TrioToken.run_sync_soon``. A single Trio task
    (`run`) takes the queue in batches and awaits ``runner.submit`` for each task run in turn, so
    the runner sees the task runs in the order the body made them (the order is the queue's, not
    the scheduler's). Until the pump has submitted a task run its future is *pending*
    (`TaskFuture._pending`); waiting on it first waits for the submission. A submission that
    fails before the runner registered the call ends the future Crashed (or Cancelled).
    """

    def __init__(self, runner: BaseTaskRunner, token: trio.lowlevel.TrioToken) -> None:
        self._runner = runner
        self._token = token
        self._lock = threading.Lock()
        self._queue: list[tuple[TaskFuture, Callable[[], Any]]] = []
        self._kicked = False  # a wake-up is on its way to the Trio thread (or the pump is busy)
        self._closed = False
        self._wakeup = trio.Event()
        self._finished = trio.Event()

    def put(self, future: TaskFuture, call: Callable[[], Any]) -> None:
        """From a worker thread: queue ``call`` for submission under ``future.key``.

        Raises:
          RuntimeError: the pump is closed (the flow body has returned).
          trio.RunFinishedError: the Trio run is over.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the flow run has ended: no more task runs can be submitted")
            self._queue.append((future, call))
            if self._kicked:
                return
            self._kicked = True
        self._token.run_sync_soon(self._kick)

    def _kick(self) -> None:
        self._wakeup.set()

    def close(self) -> None:
        """On the Trio thread: refuse new task runs; `run` returns once the queue is empty."""
        with self._lock:
            self._closed = True
        self._wakeup.set()

    async def wait_closed(self) -> None:
        """Wait until `run` has returned (every queued task run submitted). A checkpoint."""
        await self._finished.wait()

    async def run(self) -> None:
        """Submit queued task runs until closed. A pending task run left when the pump is
        cancelled ends Cancelled."""
        runner = self._runner
        batch: list[tuple[TaskFuture, Callable[[], Any]]] = []
        try:
            while True:
                with self._lock:
                    batch, self._queue = self._queue, []
                    if not batch:
                        if self._closed:
                            return
                        self._kicked = False
                        self._wakeup = trio.Event()
                if not batch:
                    await self._wakeup.wait()
                    continue
                batch.reverse()
                while batch:
                    future, call = batch.pop()
                    if not future._pending:  # cancelled while pending
                        continue
                    try:
                        await runner.submit(future.key, call)
                    except BaseException as exc:
                        if future._peek() is None:  # never registered: no State to wait for
                            future._settle(
                                Crashed(exc)
                                if isinstance(exc, Exception)
                                else state_for_base_exception(exc)
                            )
                        if not isinstance(exc, Exception):
                            raise
                    finally:
                        future._submitted()
        finally:
            with self._lock:
                self._closed = True
                batch.extend(reversed(self._queue))
                self._queue = []
            for future, _ in batch:
                if future._pending:
                    future._settle(Cancelled("the flow run ended before it was submitted"))
            self._finished.set()


class UpstreamFailed(Exception):
    """A task run did not start because a task run it depends on did not complete.

    Attributes:
      task_run: the name of the task run that did not start.
      upstream: the name of the upstream task run.
      upstream_state: the upstream's final State (Failed, Crashed or Cancelled).
    """

    def __init__(self, task_run: str, upstream: str, upstream_state: State[object]) -> None:
        super().__init__(
            f"task run {task_run!r} did not run: upstream task run {upstream!r} ended "
            f"{upstream_state.type.value.capitalize()}"
        )
        self.task_run = task_run
        self.upstream = upstream
        self.upstream_state = upstream_state


class TaskTimeout(TimeoutError):
    """A task run attempt exceeded the task's ``timeout_seconds``."""


class FlowRunFailed(ExceptionGroup[Exception]):
    """Task runs of a flow run failed and the flow body never looked at their results.

    An `ExceptionGroup` of the task runs' exceptions (in submission order); ``task_runs`` holds
    their names in the same order. Catch it with ``except FlowRunFailed`` or ``except*``.
    """

    task_runs: tuple[str, ...]

    def __new__(
        cls, flow_name: str, task_runs: Sequence[str], exceptions: Sequence[Exception]
    ) -> FlowRunFailed:
        names = ", ".join(task_runs)
        message = f"flow run {flow_name!r}: {len(task_runs)} task run(s) failed: {names}"
        self = super().__new__(cls, message, list(exceptions))
        self.task_runs = tuple(task_runs)
        return self

    def __init__(
        self, flow_name: str, task_runs: Sequence[str], exceptions: Sequence[Exception]
    ) -> None:
        names = ", ".join(task_runs)
        message = f"flow run {flow_name!r}: {len(task_runs)} task run(s) failed: {names}"
        super().__init__(message, list(exceptions))
