"""How a task call inside a flow becomes task runs on the flow's runner, from whichever side of
the flow it is made: the Trio thread, the body's thread (through the submission pump), or a task
run's thread (a round trip to the Trio thread). `Task.submit` and `Task.map` (``_tasks.py``)
come here."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import trio

from ._annotations import allow_failure
from ._flow_run import FlowRun, current_flow_run, task_run_of
from ._flow_threads import on_trio_thread
from ._futures import TaskFuture
from ._run_names import run_name
from ._submission import SubmissionPump
from ._task_run import TaskRunCall, TaskSpec

__all__ = ["dispatch", "flow_run_for"]


def flow_run_for(task: TaskSpec) -> FlowRun:
    """The flow run a task call is made in.

    Raises:
      RuntimeError: not inside a flow.
    """
    flow_run = current_flow_run.get()
    if flow_run is None:
        raise RuntimeError(
            f"{task.name}.submit() and .map() work inside a flow; call {task.name}(...) "
            "to run the function directly"
        )
    return flow_run


def dispatch(
    task: TaskSpec,
    flow_run: FlowRun,
    rows: list[tuple[Any, ...]],
    kwargs: dict[str, Any],
    wait_for: Iterable[Any] | None,
    one: bool,
) -> Any:
    """Submit one task run per row of positional arguments (``kwargs`` shared); the future
    (``one``) or the list of futures, or on the Trio thread an awaitable of it (see
    `Task.submit` for what each side does)."""
    waits = list(wait_for) if wait_for is not None else []
    if on_trio_thread():
        return _submit_all(task, flow_run, rows, kwargs, waits, one)
    pump = _pump_for(flow_run)
    if pump is not None:
        futures = [_put(pump, task, flow_run, row, kwargs, waits) for row in rows]
        return futures[0] if one else futures
    return trio.from_thread.run(
        _submit_all, task, flow_run, rows, kwargs, waits, one, trio_token=flow_run.token
    )


def _pump_for(flow_run: FlowRun) -> SubmissionPump | None:
    """The flow run's submission pump, if this worker thread may use it: the body's thread
    (and threads it started), not a task run's thread. A task run must not end while a task
    run it submitted is still queued, so those submit with a round trip to the Trio thread."""
    pump = flow_run.pump
    if pump is None:
        return None
    if task_run_of.get() is flow_run:
        return None
    return pump


async def _submit_all(
    task: TaskSpec,
    flow_run: FlowRun,
    rows: list[tuple[Any, ...]],
    kwargs: dict[str, Any],
    waits: list[Any],
    one: bool,
) -> Any:
    futures: list[TaskFuture] = []
    for row in rows:
        call = _prepare(task, flow_run, row, kwargs, waits, pending=False)
        future = call.future
        flow_run.futures.append(future)
        await flow_run.runner.submit(future.key, call)
        futures.append(future)
    if one:
        return futures[0]
    await trio.lowlevel.checkpoint()
    return futures


def _put(
    pump: SubmissionPump,
    task: TaskSpec,
    flow_run: FlowRun,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    waits: list[Any],
) -> TaskFuture:
    """From the body's thread: hand the task run to the pump without waiting for it."""
    call = _prepare(task, flow_run, args, kwargs, waits, pending=True)
    future = call.future
    pump.put(future, call)
    flow_run.futures.append(future)
    return future


def _prepare(
    task: TaskSpec,
    flow_run: FlowRun,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    waits: list[Any],
    pending: bool,
) -> TaskRunCall:
    """The call for one task run, with its future (any thread).

    Raises:
      TypeError: an item of ``waits`` is not a `TaskFuture` (or one in `allow_failure`).
      ValueError: ``task_run_name`` names a field that is not a parameter.
    """
    for future in waits:
        inner = future.value if isinstance(future, allow_failure) else future
        if not isinstance(inner, TaskFuture):
            raise TypeError(
                "wait_for takes TaskFuture objects (or allow_failure(future)), not "
                f"{type(future).__name__}"
            )
    name = run_name("task_run_name", task.task_run_name, task.fn, args, kwargs)
    if name is None:
        name = flow_run.next_name(task.name)
    future = TaskFuture(flow_run, uuid.uuid4(), name, task.name, pending)
    return TaskRunCall(task, flow_run, future, args, kwargs, waits)
