"""One call of a flow: its runner, its Trio token, its task runs; and the flow layer's errors."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, final

import trio

from ._base import BaseTaskRunner
from ._states import State

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

if TYPE_CHECKING:
    from ._futures import TaskFuture

__all__ = ["FlowRun", "FlowRunFailed", "TaskTimeout", "UpstreamFailed", "current_flow_run"]

#: The flow run whose body (or one of whose tasks) is executing in this task or thread.
current_flow_run: ContextVar[FlowRun | None] = ContextVar(
    "trio_runners_current_flow_run", default=None
)


@final
class FlowRun:
    """Bookkeeping for one call of a flow: its own started runner and its task runs."""

    __slots__ = ("_counters", "children", "finished", "flow_name", "futures", "runner", "token")

    def __init__(self, flow_name: str, runner: BaseTaskRunner, token: trio.lowlevel.TrioToken):
        self.flow_name = flow_name
        self.runner = runner
        self.token = token
        self.futures: list[TaskFuture] = []
        #: Cancel scopes of subflow runs still running; cancelled when this run ends.
        self.children: set[trio.CancelScope] = set()
        self.finished = False
        self._counters: dict[str, int] = {}

    def next_name(self, task_name: str) -> str:
        """``<task name>-<n>``: n counts this task's runs in this flow run, from 0."""
        n = self._counters.get(task_name, 0)
        self._counters[task_name] = n + 1
        return f"{task_name}-{n}"

    def unseen_failures(self) -> list[tuple[TaskFuture, State[object]]]:
        """Task runs that ended Failed or Crashed and whose result nobody looked at."""
        failures = []
        for future in self.futures:
            state = future.state
            unfinished_or_fine = state is None or not (state.is_failed() or state.is_crashed())
            if not unfinished_or_fine and not future._observed:
                assert state is not None
                failures.append((future, state))
        return failures


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
