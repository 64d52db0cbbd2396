"""TaskRunCall: what one task run does on the runner (upstreams, attempts, retries, timeouts,
its State and its state hooks).

A `Task` submits one `TaskRunCall` per task run; the runner executes it as it executes any call,
and it hands each attempt of the user's function back to the runner (`_invoke`), so the backend
decides where the function runs.

The path of one sync ``@task`` call inside a sync ``@flow`` (default `ConcurrentTaskRunner`; the
flow called from a thread with no Trio loop running, e.g. ``greetings(names)`` at top level):

1. Caller's thread: `Flow.__call__` (``_flows.py``) finds no flow run and no Trio loop and calls
   ``trio.run(Flow._run, ...)``: this thread becomes the Trio thread.
2. Trio thread: `Flow._run` -> `run_flow` -> `_attempt` (``_flow_engine.py``) starts
   ``task_runner.duplicate()``
   (`BaseTaskRunner.start`, ``_base.py``), makes the `FlowRun` (``_flow_run.py``), sets
   ``current_flow_run``, starts `SubmissionPump.run` (``_submission.py``) in its nursery (not when
   the runner has ``max_pending``), and `_body` runs the body with
   ``trio.to_thread.run_sync(..., abandon_on_cancel=True, limiter=CapacityLimiter(1))``.
   **Hop 1**: Trio thread -> the body's worker thread (the context, so ``current_flow_run``, is
   copied).
3. Body thread: ``say_hello(name)`` is `Task.__call__` -> `Task.submit` (``_tasks.py``): not on the
   Trio thread, and `_pump_for` returns the pump (the body is not one of the runner's calls), so
   `Task._put` -> `Task._prepare` makes a fresh ``uuid4`` key, a pending `TaskFuture`
   (``_futures.py``) and a `TaskRunCall` (here), and `SubmissionPump.put` queues them under a
   ``threading.Lock``. **Hop 2** (one way, nothing waits for it): if the pump is idle,
   ``TrioToken.run_sync_soon(pump._kick)`` wakes it on the Trio thread. The body gets the future
   back at once and goes on.
4. Trio thread: `SubmissionPump.run` takes the queue in FIFO order and awaits
   ``runner.submit(future.key, call)`` for each task run, then `TaskFuture._submitted`.
   `BaseTaskRunner.submit` (``_base.py``) registers the call and passes it to the backend's
   ``_submit``: the pool runners (``_pool.py``: concurrent, thread pool) start
   `BaseTaskRunner._execute` in the runner's nursery (through the FIFO dispatcher and a worker
   slot with ``max_workers``); the sequential runner (``_sequential.py``) executes it inline,
   under its lock.
5. Trio thread: `BaseTaskRunner._execute` sets ``current_call``, opens the call's cancel scope and
   awaits ``runner._invoke(call)``; a `TaskRunCall` is async, so it runs on the loop
   (`_remote.py`'s runners, processes and Dask, keep it on the loop too: ``RUNS_ON_LOOP``).
   `TaskRunCall.__call__` sets ``current_flow_run``, waits for the upstream futures found in the
   arguments and ``wait_for`` (`TaskFuture._final_state` -> ``runner.wait``, which lends the
   worker slot back), replaces them by their results (``_future_args.py``), then `_attempts` ->
   `_attempt` awaits ``runner._invoke(partial(_Attempt(task, task.name), *args, **kwargs))``,
   inside ``trio.move_on_after(timeout_seconds)`` if the task has a timeout. The default `_invoke`
   (``_base.py``) runs a sync callable through `BaseTaskRunner._run_sync_in_thread`:
   ``trio.to_thread.run_sync(_call_in_box, ..., abandon_on_cancel=True, limiter=<the run's thread
   limiter>)``. **Hop 3**: Trio thread -> a worker thread, which runs ``task.fn(*args,
   **kwargs)``; **hop 4**: its result comes back to the Trio thread as ``to_thread`` returns.
   (Process and Dask runners ship the partial, pickled, to a worker process or the cluster
   instead of a thread.)
6. Trio thread: `_attempts` returns the value (an `Exception` or a Failed State is retried while
   ``retries`` remain, after ``retry_delay_seconds`` slept with the slot lent);
   `TaskRunCall.__call__` makes it ``Completed(value, "task run 'say_hello-0' completed")``, runs
   the task's state hooks (``_hooks.py``; none by default) and returns that State, which
   `BaseTaskRunner._execute` records (`BaseTaskRunner._finish`), waking the key's waiters.
7. Body thread, if it looks: ``future.result()`` -> `TaskFuture.wait` reads the State
   (`TaskFuture._peek`, no hop when it has finished); otherwise **hop 5**, a blocking round trip:
   ``trio.from_thread.run(TaskFuture._wait_state, ...)`` awaits the pump's submission and then
   ``runner.wait(key)`` on the Trio thread.
8. The body returns (back to the Trio thread as hop 1's ``to_thread`` returns); `_attempt` closes
   the pump, resolves futures in the return value, leaves ``runner.start()`` (which waits for every
   task run), reports Failed task runs nobody looked at (`FlowRunFailed`), and ``trio.run``
   returns the value to the caller's thread.

With ``max_pending`` set on the runner there is no pump: step 3 is one blocking round trip per
task call instead, ``trio.from_thread.run(Task._submit, ...)``, so the runner's backpressure blocks
the body. A sync task calling a task from its worker thread also takes that round trip.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol, final

import trio

from ._annotations import allow_failure
from ._flow_errors import TaskTimeout, UpstreamFailed
from ._flow_run import FlowRun, current_flow_run, task_run_of
from ._future_args import futures_in, resolve_futures
from ._futures import TaskFuture
from ._hooks import Hook, TaskRunInfo, run_hooks
from ._run_names import RunName
from ._states import Completed, Failed, State
from .abc import LoopCall

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
    hands the user's function to the runner's `_invoke` hook, so the backend decides where it
    runs (a thread, a process...), under the attempt's timeout.

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
            if self.args or self.kwargs:
                futures_in((self.args, self.kwargs), upstreams)
            futures_in(self.waits, upstreams)
            try:
                states = await self._wait_for_upstreams(upstreams) if upstreams else {}
                args = resolve_futures(self.args, states)
                kwargs = resolve_futures(self.kwargs, states)
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
