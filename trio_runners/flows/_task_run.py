"""TaskRunCall: what one task run does on the runner (upstreams, attempts, retries, timeouts,
its State and its state hooks).

A `Task` submits one `TaskRunCall` per task run; the runner executes it as it executes any call,
and it hands each attempt of the user's function back to the runner
(`BaseTaskRunner.run_in_slot`), so the backend decides where the function runs.

The path of one task call, step by step, is written down in the package's docstring
(``trio_runners/flows/__init__.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol, final

import trio

from ..abc import LoopCall
from ..states import Completed, Failed, State
from ._annotations import allow_failure
from ._flow_errors import TaskTimeout, UpstreamFailed
from ._flow_run import FlowRun, current_flow_run, task_run_of
from ._future_args import futures_in, resolve_futures
from ._futures import TaskFuture
from ._hooks import Hook, TaskRunInfo, run_hooks
from ._run_names import RunName

__all__ = ["TaskRunCall", "TaskSpec"]


class TaskSpec(Protocol):
    """What a task run uses of its task (`Task` provides it); a protocol, so that this module
    does not import ``_tasks.py``, which imports it."""

    @property
    def fn(self) -> Callable[..., Any]:
        """The user's function."""
        ...

    @property
    def name(self) -> str:
        """The task's name."""
        ...

    @property
    def task_run_name(self) -> RunName | None:
        """The template (or callable) naming the task runs; None: ``name-<n>``."""
        ...

    @property
    def on_completion(self) -> list[Hook]:
        """Hooks for a task run that ends Completed."""
        ...

    @property
    def on_failure(self) -> list[Hook]:
        """Hooks for a task run that ends Failed."""
        ...

    @property
    def is_async(self) -> bool:
        """True if ``fn`` is an async function (it runs on the event loop)."""
        ...

    @property
    def retries(self) -> int:
        """How many times a Failed attempt is re-run."""
        ...

    @property
    def retry_delay_seconds(self) -> float:
        """The pause before each retry."""
        ...

    @property
    def timeout_seconds(self) -> float | None:
        """Each attempt's deadline (None: no deadline)."""
        ...


class _Attempt:
    """The function of one attempt, as handed to the runner: calls the task's function.

    Named after the task (``__qualname__``: the task's ``name``), so that what names a call — a
    Dask key (``double-<run>-<n>``: Dask's dashboard groups a task's runs under ``double``), a
    process runner's Crashed message — names the task, not this wrapper.
    Module-level, holding the task (which travels by the plain-callable rule): process and
    cluster backends can ship it.
    """

    def __init__(self, task: TaskSpec, name: str) -> None:
        self.task = task
        self.__qualname__ = name

    def __repr__(self) -> str:
        return f"<attempt of task {self.__qualname__}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.task.fn(*args, **kwargs)


class _AsyncAttempt(_Attempt):
    """`_Attempt` for an async task: the call is a coroutine function (it runs on a loop)."""

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return await self.task.fn(*args, **kwargs)


@final
class TaskRunCall(LoopCall):
    """The zero-argument call submitted to the runner for one task run.

    It is async, so every runner runs it on the event loop: it waits for the upstreams (through
    `BaseTaskRunner.wait`, which lends the worker slot back), then runs the attempts. Each attempt
    hands the user's function to the runner's `BaseTaskRunner.run_in_slot`, so the backend decides
    where it runs (a thread, a process...), under the attempt's timeout. A `LoopCall`: runners
    that ship calls elsewhere keep it on the loop and ship only the attempts.

    It returns the task run's State itself, named in its message (``task run 'double-0'
    completed``), once the task's state hooks have run: whoever sees the State (a waiter, an
    instrument's ``finished``) sees it after the hooks. A State returned by the function (or by
    the backend for a crashed worker) is kept as it is.
    """

    def __init__(
        self,
        task: TaskSpec,
        flow_run: FlowRun,
        future: TaskFuture,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        waits: list[TaskFuture | allow_failure[TaskFuture]],
    ) -> None:
        self.task = task
        self.flow_run = flow_run
        self.future = future
        self.args = args
        self.kwargs = kwargs
        self.waits = waits

    async def __call__(self) -> State[Any]:
        token = current_flow_run.set(self.flow_run)
        in_task_run = task_run_of.set(self.flow_run)
        name = self.future.name
        try:
            upstreams: dict[TaskFuture, bool] = {}
            args, kwargs = self.args, self.kwargs
            # Arguments holding no future and no annotation are passed on as they are.
            resolve = bool(args or kwargs) and futures_in((args, kwargs), upstreams)
            if self.waits:
                futures_in(self.waits, upstreams)
            try:
                states = await self._wait_for_upstreams(upstreams) if upstreams else {}
                if resolve:
                    args = resolve_futures(args, states)
                    kwargs = resolve_futures(kwargs, states)
            except Exception as exc:  # it never runs, and runs no hook
                return Failed(exc, f"task run {name!r} did not run")
            self.future.started_at = trio.current_time()
            try:
                result = await self._attempts(args, kwargs)
            except Exception as exc:
                state: State[Any] = Failed(exc, f"task run {name!r} failed")
            else:
                state = (
                    result
                    if isinstance(result, State)
                    else Completed(result, f"task run {name!r} completed")
                )
            finally:
                self.future.finished_at = trio.current_time()
            await self._run_hooks(state)
            return state
        finally:
            task_run_of.reset(in_task_run)
            current_flow_run.reset(token)

    async def _run_hooks(self, state: State[Any]) -> None:
        task = self.task
        if state.is_completed():
            option, hooks = "on_completion", task.on_completion
        elif state.is_failed():
            option, hooks = "on_failure", task.on_failure
        else:
            return
        if hooks:
            future = self.future
            info = TaskRunInfo(future.name, future.key, task.name, self.flow_run.flow_name)
            await run_hooks(option, hooks, task, info, state)

    async def _wait_for_upstreams(
        self, upstreams: dict[TaskFuture, bool]
    ) -> dict[TaskFuture, State[Any]]:
        """The final States of ``upstreams`` (future -> must it end Completed), once each has
        one.

        Raises:
          UpstreamFailed: one of them did not complete, and was not allowed to end Failed (in
            `allow_failure`) or ended Crashed or Cancelled (the others are not waited for).
        """
        states: dict[TaskFuture, State[Any]] = {}
        for upstream, must_complete in upstreams.items():
            state = states[upstream] = await upstream._final_state()
            if state.is_completed() or (state.is_failed() and not must_complete):
                continue
            raise UpstreamFailed(self.future.name, upstream.name, state)
        return states

    async def _attempts(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        task = self.task
        runner = self.flow_run.runner
        attempt = 0
        while True:
            try:
                result = await self._attempt(args, kwargs)
            except Exception:
                if attempt >= task.retries:
                    raise
            else:
                if not (isinstance(result, State) and result.is_failed()):
                    return result
                if attempt >= task.retries:
                    return result
            attempt += 1
            if task.retry_delay_seconds > 0:
                async with runner.lend_slot():  # sleep without holding a worker slot
                    await trio.sleep(task.retry_delay_seconds)
            else:
                await trio.lowlevel.checkpoint()

    async def _attempt(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        task = self.task
        attempt = (_AsyncAttempt if task.is_async else _Attempt)(task, task.name)
        call = functools.partial(attempt, *args, **kwargs)
        timeout = task.timeout_seconds
        if timeout is None:  # (no cancel scope, no clock reading)
            return await self.flow_run.runner.run_in_slot(call)
        with trio.move_on_after(timeout):
            return await self.flow_run.runner.run_in_slot(call)
        raise TaskTimeout(f"task run {self.future.name!r} timed out after {timeout} s")
