"""What one call of a flow does on the Trio thread: its attempts (each on a fresh copy of the
runner, under the flow's ``timeout_seconds``), its retries, its final State and its state hooks.

`Flow` (``_flows.py``) decides where the call runs (a new ``trio.run``, the running loop...) and
hands it to `run_flow`.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from typing import Any, Protocol

import trio

from ..abc import BaseTaskRunner
from ..states import State
from ._flow_errors import FlowTimeout
from ._flow_outcome import body_error, flow_run_state, process_stop
from ._flow_run import FlowRun, current_flow_run
from ._future_args import futures_in, resolve_futures
from ._futures import TaskFuture
from ._hooks import FlowRunInfo, Hook, run_hooks
from ._run_names import RunName, parameters_of, run_name
from ._submission import SubmissionPump

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["FlowSpec", "run_flow"]


class FlowSpec(Protocol):
    """What a flow run uses of its flow (`Flow` provides it); a protocol, so that this module
    does not import ``_flows.py``, which imports it."""

    @property
    def fn(self) -> Callable[..., Any]: ...
    @property
    def name(self) -> str: ...
    @property
    def is_async(self) -> bool: ...
    @property
    def task_runner(self) -> BaseTaskRunner: ...
    @property
    def retries(self) -> int: ...
    @property
    def retry_delay_seconds(self) -> float: ...
    @property
    def timeout_seconds(self) -> float | None: ...
    @property
    def flow_run_name(self) -> RunName | None: ...
    @property
    def on_completion(self) -> list[Hook]: ...
    @property
    def on_failure(self) -> list[Hook]: ...


async def run_flow(
    flow: FlowSpec, args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool
) -> Any:
    """Run ``flow`` with these arguments; its value (or its State with ``return_state``).

    A Failed attempt (the body raised, task runs failed unseen, the timeout passed) is run again,
    on a fresh runner, while ``flow.retries`` remain, after ``flow.retry_delay_seconds``. The
    hooks then run once, with the final State. A checkpoint.

    Raises:
      RuntimeError: the parent flow run has ended, or ended while this subflow ran.
      ValueError: ``flow_run_name`` names a field that is not a parameter.
      Exception: the final State's exception (not with ``return_state``).
    """
    name = run_name("flow_run_name", flow.flow_run_name, flow.fn, args, kwargs) or flow.name
    # A subflow called from a worker thread runs in a Trio system task, which the parent's
    # cancellation does not reach: the parent cancels it when the parent run ends.
    parent = current_flow_run.get()
    scope = trio.CancelScope()
    if parent is not None:
        if parent.finished:
            raise RuntimeError(f"flow run {parent.flow_name!r} has ended")
        parent.children.add(scope)
    try:
        with scope:
            attempt = 0
            while True:
                state = await _attempt(flow, name, args, kwargs)
                if not state.is_failed() or attempt >= flow.retries:
                    break
                attempt += 1
                await trio.sleep(flow.retry_delay_seconds)
            if state.is_completed():
                option, hooks = "on_completion", flow.on_completion
            else:
                option, hooks = "on_failure", flow.on_failure
            if hooks:
                info = FlowRunInfo(name, flow.name, parameters_of(flow.fn, args, kwargs) or {})
                await run_hooks(option, hooks, flow, info, state)
    finally:
        if parent is not None:
            parent.children.discard(scope)
    if scope.cancelled_caught:
        raise RuntimeError(f"subflow run {name!r} cancelled: its parent flow run ended")
    if return_state:
        return state
    return state.result()


async def _attempt(
    flow: FlowSpec, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> State[Any]:
    """One attempt of a flow run, on a fresh copy of its runner; its State (Completed or
    Failed). A checkpoint.

    Raises:
      KeyboardInterrupt, SystemExit: raised in the run (plain, not in a group).
      BaseException: a cancellation of the caller, and what else the run raised.
    """
    runner = flow.task_runner.duplicate()
    flow_run = FlowRun(name, runner, trio.lowlevel.current_trio_token())
    value: Any = None
    error: Exception | None = None
    timeout = flow.timeout_seconds
    try:
        with trio.move_on_after(math.inf if timeout is None else timeout) as deadline:
            async with runner.start(), trio.open_nursery() as nursery:
                token = current_flow_run.set(flow_run)
                pump = None
                if not runner.has_backpressure:
                    # (with backpressure, the body's submissions keep feeling it)
                    pump = flow_run.pump = SubmissionPump(runner, flow_run.token)
                    nursery.start_soon(pump.run)
                try:
                    try:
                        body_value = await _body(flow, args, kwargs)
                    finally:
                        if pump is not None:
                            pump.close()  # the pump submits what it holds, then returns
                    value = await _resolve(body_value)
                except BaseException as exc:
                    error = body_error(exc)  # re-raises a cancellation, Ctrl-C...
                    if pump is not None:
                        await pump.wait_closed()
                    runner.cancel_all()
                finally:
                    current_flow_run.reset(token)
    except BaseExceptionGroup as group:
        stop = process_stop(group)
        if stop is not None:
            raise stop from group
        raise
    finally:
        flow_run.finished = True
        for child in flow_run.children:
            child.cancel()
    if deadline.cancelled_caught and error is None:
        value = None
        error = FlowTimeout(f"flow run {name!r} timed out after {timeout} s")
    return flow_run_state(name, value, error, flow_run.unseen_failures())


async def _body(flow: FlowSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if flow.is_async:
        return await flow.fn(*args, **kwargs)
    # Abandoned on cancel so that Ctrl-C and cancellation stop the flow promptly; the body
    # thread then fails at its next call into the flow.
    call = functools.partial(flow.fn, *args, **kwargs)
    return await trio.to_thread.run_sync(
        call, abandon_on_cancel=True, limiter=trio.CapacityLimiter(1)
    )


async def _resolve(value: Any) -> Any:
    """Wait for the futures in the body's return value and replace them by their results."""
    futures: dict[TaskFuture, bool] = {}
    futures_in(value, futures)
    states = {future: await future._final_state() for future in futures}
    await trio.lowlevel.checkpoint()
    return resolve_futures(value, states)
