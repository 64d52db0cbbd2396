"""FlowRun: one call of a flow (its runner, Trio token and task runs); `current_flow_run`."""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import final

import trio

from ..abc import BaseTaskRunner
from ..states import State
from ._futures import TaskFuture
from ._submission import SubmissionPump

__all__ = ["FlowRun", "current_flow_run", "task_run_of"]

#: The flow run whose body (or one of whose tasks) is executing in this task or thread.
current_flow_run: ContextVar[FlowRun | None] = ContextVar(
    "trio_runners_current_flow_run", default=None
)

#: The flow run one of whose task runs is executing in this task or thread (None: not in a
#: task run; a subflow's body keeps its caller's, so it differs from its `current_flow_run`).
task_run_of: ContextVar[FlowRun | None] = ContextVar("trio_runners_task_run_of", default=None)


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
