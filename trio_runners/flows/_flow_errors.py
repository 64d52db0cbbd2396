"""The flow layer's exceptions: `UpstreamFailed`, `TaskTimeout`, `FlowTimeout`, `FlowRunFailed`."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..states import State

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

__all__ = ["FlowRunFailed", "FlowTimeout", "TaskTimeout", "UpstreamFailed"]


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


class FlowTimeout(TimeoutError):
    """A flow run attempt exceeded the flow's ``timeout_seconds`` (its unfinished task runs were
    cancelled)."""


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
