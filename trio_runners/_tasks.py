"""`@task`: a function that, inside a flow, runs as a task run on the flow's runner."""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar, final, overload

import trio

from ._base import current_call, is_async_callable
from ._flow_run import (
    FlowRun,
    SubmissionPump,
    TaskTimeout,
    UpstreamFailed,
    current_flow_run,
)
from ._futures import TaskFuture, check_number, on_trio_thread
from ._states import State

__all__ = ["Task", "task"]

P = ParamSpec("P")
R = TypeVar("R")


def _futures_in(value: object, found: list[TaskFuture]) -> None:
    """Collect the futures in ``value`` (itself, or inside lists, tuples, sets and dicts)."""
    if isinstance(value, TaskFuture):
        found.append(value)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _futures_in(item, found)
    elif isinstance(value, dict):
        for key, item in value.items():
            _futures_in(key, found)
            _futures_in(item, found)


def resolve_futures(value: Any, states: Mapping[TaskFuture, State[Any]]) -> Any:
    """``value`` with every future replaced by its result (same container types).

    A future's State is taken from ``states`` (the States its waiter received: a runner may
    release a State once it has been delivered), else read from the runner.

    Raises:
      RuntimeError: a future that is neither in ``states`` nor finished (it was put into
        ``value`` after the futures in it were waited for).
      Exception: what a future's `State.result` raises (its task run did not complete).
    """
    if isinstance(value, TaskFuture):
        state = states.get(value)
        if state is None:
            state = value.state
        if state is None:
            raise RuntimeError(
                f"task run {value.name!r} has not finished: it was put among the arguments "
                "after they were waited for"
            )
        value._observed = True
        return state.result()
    if isinstance(value, list):
        return [resolve_futures(item, states) for item in value]
    if isinstance(value, tuple):
        items = [resolve_futures(item, states) for item in value]
        if hasattr(value, "_fields"):  # a named tuple
            return type(value)(*items)
        return tuple(items)
    if isinstance(value, (set, frozenset)):
        return type(value)(resolve_futures(item, states) for item in value)
    if isinstance(value, dict):
        return {resolve_futures(k, states): resolve_futures(v, states) for k, v in value.items()}
    return value


def _check_options(
    name: object, retries: object, retry_delay_seconds: object, timeout_seconds: object
) -> None:
    """Check a task's options, naming the bad one and its value.

    Raises:
      TypeError: an option of the wrong type (a ``bool`` is not a number here).
      ValueError: a negative ``retries``, a negative, infinite or NaN ``retry_delay_seconds``, or
        a ``timeout_seconds`` <= 0 or NaN.
    """
    check_name(name)
    if isinstance(retries, bool) or not isinstance(retries, numbers.Integral):
        raise TypeError(f"retries must be an int, not {retries!r} ({type(retries).__name__})")
    if retries < 0:
        raise ValueError(f"retries must be an int >= 0, not {retries!r}")
    delay = check_number("retry_delay_seconds", retry_delay_seconds)
    if not 0 <= delay < math.inf:  # (also refuses NaN)
        raise ValueError(
            f"retry_delay_seconds must be a finite number >= 0, not {retry_delay_seconds!r}"
        )
    if timeout_seconds is not None and not check_number("timeout_seconds", timeout_seconds) > 0:
        raise ValueError(f"timeout_seconds must be None or a number > 0, not {timeout_seconds!r}")


def check_name(name: object) -> None:
    """Raises `TypeError` unless ``name`` (a task's or a flow's) is a ``str`` or None."""
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str or None, not {name!r} ({type(name).__name__})")


@final
class Task(Generic[P, R]):
    """A task: outside a flow a plain function, inside a flow a task run on the flow's runner.

    Create with the `task` decorator. Inside a flow (its body, or a task run of it):

    - from a worker thread (sync flows, sync tasks) ``my_task(...)``, ``my_task.submit(...)``
      submit a task run and return a `TaskFuture`; ``my_task.map(...)`` returns a list of them;
    - on the Trio thread (async flows, async tasks) the same calls return awaitables of those.

    Outside a flow, ``my_task(...)`` is ``fn(...)``.

    Cancellation: a task run is one call of the flow's runner, so `TaskFuture.cancel`, the
    runner's cancellation and the end of a failed flow run cancel it as they cancel any call;
    an attempt that exceeds ``timeout_seconds`` is cancelled (a sync task's thread is
    abandoned).
    """

    def __init__(
        self,
        fn: Callable[P, R],
        name: str | None = None,
        retries: int = 0,
        retry_delay_seconds: float = 0,
        timeout_seconds: float | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@task decorates a function, not {type(fn).__name__}")
        if inspect.isasyncgenfunction(fn):
            raise TypeError(
                f"@task cannot decorate the async generator function {fn.__name__!r}: a task run "
                "returns one value (collect the items into a list, or make it async def)"
            )
        _check_options(name, retries, retry_delay_seconds, timeout_seconds)
        self.fn = fn
        self.name: str = name if name is not None else getattr(fn, "__name__", type(fn).__name__)
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.timeout_seconds = timeout_seconds
        self.is_async = is_async_callable(fn)
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    def __reduce__(self) -> str:
        # Pickle by reference (module + qualified name), as functions do, so that a process or
        # cluster backend can ship calls of module-level tasks.
        qualname: str = self.__dict__["__qualname__"]  # set by functools.update_wrapper
        return qualname

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Outside a flow: call the function. Inside a flow: `submit` (same arguments).

        ``wait_for=`` is accepted inside a flow only (see `submit`).
        """
        if current_flow_run.get() is None:
            if "wait_for" in kwargs:
                raise TypeError("wait_for= is only meaningful inside a flow")
            return self.fn(*args, **kwargs)
        return self.submit(*args, **kwargs)  # type: ignore[arg-type]

    def submit(
        self, *args: Any, wait_for: Iterable[TaskFuture] | None = None, **kwargs: Any
    ) -> Any:
        """Submit a task run to the current flow's runner; returns its `TaskFuture`.

        Futures among the arguments (also inside lists, tuples, sets, dicts) are replaced by their
        results before the task starts; ``wait_for`` futures are waited for without passing data.
        If one of them ends other than Completed the task does not run and ends Failed with
        `UpstreamFailed`. On the Trio thread this returns an awaitable (a checkpoint; for the
        sequential runner it returns once the task run has finished). From a task run's worker
        thread it blocks until the runner accepted the task run. From the body of a sync flow
        it returns at once: the flow run's submission pump hands the task runs to the runner
        one by one, in the order the body made them (with ``max_pending`` set, the body blocks
        as a task run's thread does, keeping the backpressure). A task run the pump has not
        handed over yet can be waited on and cancelled like any other; one the runner refuses
        ends Crashed. If the submitter is cancelled before the runner accepted the task run,
        the task run ends Cancelled and the cancellation propagates (`BaseTaskRunner.submit`).

        Raises:
          RuntimeError: not inside a flow.
        """
        flow_run = self._flow_run()
        waits = list(wait_for) if wait_for is not None else []
        if on_trio_thread():
            return self._submit(flow_run, args, kwargs, waits)
        pump = _pump_for(flow_run)
        if pump is not None:
            return self._put(pump, flow_run, args, kwargs, waits)
        return trio.from_thread.run(
            self._submit, flow_run, args, kwargs, waits, trio_token=flow_run.token
        )

    def map(
        self,
        *iterables: Iterable[Any],
        wait_for: Iterable[TaskFuture] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Submit one task run per item (``zip`` of ``iterables``, keyword arguments shared);
        returns the list of their futures (an awaitable of it on the Trio thread, a checkpoint).
        Each item is submitted as by `submit`; if the submitter is cancelled midway, the task
        runs already accepted keep running.

        Raises:
          RuntimeError: not inside a flow.
        """
        flow_run = self._flow_run()
        rows = [tuple(row) for row in zip(*iterables, strict=True)]
        waits = list(wait_for) if wait_for is not None else []
        if on_trio_thread():
            return self._map(flow_run, rows, kwargs, waits)
        pump = _pump_for(flow_run)
        if pump is not None:
            return [self._put(pump, flow_run, row, kwargs, waits) for row in rows]
        return trio.from_thread.run(
            self._map, flow_run, rows, kwargs, waits, trio_token=flow_run.token
        )

    def _flow_run(self) -> FlowRun:
        flow_run = current_flow_run.get()
        if flow_run is None:
            raise RuntimeError(
                f"{self.name}.submit() and .map() work inside a flow; call {self.name}(...) "
                "to run the function directly"
            )
        return flow_run

    async def _map(
        self,
        flow_run: FlowRun,
        rows: list[tuple[Any, ...]],
        kwargs: dict[str, Any],
        waits: list[TaskFuture],
    ) -> list[TaskFuture]:
        futures = []
        for row in rows:
            futures.append(await self._submit(flow_run, row, kwargs, waits))
        await trio.lowlevel.checkpoint()
        return futures

    def _prepare(
        self,
        flow_run: FlowRun,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        waits: list[TaskFuture],
        pending: bool,
    ) -> _TaskRunCall:
        """The call for one task run, with its future (any thread).

        Raises:
          TypeError: an item of ``waits`` is not a `TaskFuture`.
        """
        for future in waits:
            if not isinstance(future, TaskFuture):
                raise TypeError(f"wait_for takes TaskFuture objects, not {type(future).__name__}")
        key = uuid.uuid4()
        future = TaskFuture(flow_run, key, flow_run.next_name(self.name), self.name, pending)
        return _TaskRunCall(self, flow_run, future, args, kwargs, waits)

    async def _submit(
        self,
        flow_run: FlowRun,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        waits: list[TaskFuture],
    ) -> TaskFuture:
        call = self._prepare(flow_run, args, kwargs, waits, pending=False)
        future = call.future
        flow_run.futures.append(future)
        await flow_run.runner.submit(future.key, call)
        return future

    def _put(
        self,
        pump: SubmissionPump,
        flow_run: FlowRun,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        waits: list[TaskFuture],
    ) -> TaskFuture:
        """From the body's thread: hand the task run to the pump without waiting for it."""
        call = self._prepare(flow_run, args, kwargs, waits, pending=True)
        future = call.future
        pump.put(future, call)
        flow_run.futures.append(future)
        return future


def _pump_for(flow_run: FlowRun) -> SubmissionPump | None:
    """The flow run's submission pump, if this worker thread may use it: the body's thread
    (and threads it started), not a task run's thread. A task run must not end while a task
    run it submitted is still queued, so those submit with a round trip to the Trio thread."""
    pump = flow_run.pump
    if pump is None:
        return None
    current = current_call.get()
    if current is not None and current[0] is flow_run.runner:
        return None
    return pump


def _run_task_fn(task: Task[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    # Module-level, and a Task pickles by name: process and cluster backends can ship the call.
    return task.fn(*args, **kwargs)


async def _run_async_task_fn(task: Task[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    return await task.fn(*args, **kwargs)


@final
class _TaskRunCall:
    """The zero-argument call submitted to the runner for one task run.

    It is async, so every runner runs it on the event loop: it waits for the upstreams (through
    `BaseTaskRunner.wait`, which lends the worker slot back), then runs the attempts. Each attempt
    hands the user's function to the runner's `_invoke` hook, so the backend decides where it
    runs (a thread, a process...), under the attempt's timeout.
    """

    #: Runners that ship calls elsewhere (processes, Dask) run this orchestration on the loop,
    #: unpickled, and ship only what it hands to `_invoke` (see `_remote.RUNS_ON_LOOP`).
    _trio_runners_runs_on_loop = True

    def __init__(
        self,
        task: Task[..., Any],
        flow_run: FlowRun,
        future: TaskFuture,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        waits: list[TaskFuture],
    ) -> None:
        self.task = task
        self.flow_run = flow_run
        self.future = future
        self.args = args
        self.kwargs = kwargs
        self.waits = waits

    async def __call__(self) -> Any:
        token = current_flow_run.set(self.flow_run)
        try:
            upstreams: list[TaskFuture] = []
            if self.args or self.kwargs:
                _futures_in((self.args, self.kwargs), upstreams)
            upstreams.extend(self.waits)
            states = await self._wait_for_upstreams(upstreams) if upstreams else {}
            args = resolve_futures(self.args, states)
            kwargs = resolve_futures(self.kwargs, states)
            self.future.started_at = trio.current_time()
            try:
                return await self._attempts(args, kwargs)
            finally:
                self.future.finished_at = trio.current_time()
        finally:
            current_flow_run.reset(token)

    async def _wait_for_upstreams(
        self, upstreams: list[TaskFuture]
    ) -> dict[TaskFuture, State[Any]]:
        """The final States of ``upstreams``, once each has one.

        Raises:
          UpstreamFailed: one of them did not complete (the others are not waited for).
        """
        states: dict[TaskFuture, State[Any]] = {}
        for upstream in dict.fromkeys(upstreams):
            state = states[upstream] = await upstream._final_state()
            if not state.is_completed():
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
                async with runner._slot_lent():  # sleep without holding a worker slot
                    await trio.sleep(task.retry_delay_seconds)
            else:
                await trio.lowlevel.checkpoint()

    async def _attempt(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        task = self.task
        run = _run_async_task_fn if task.is_async else _run_task_fn
        call = functools.partial(run, task, *args, **kwargs)
        timeout = task.timeout_seconds
        if timeout is None:  # (no cancel scope, no clock reading)
            return await self.flow_run.runner._invoke(call)
        with trio.move_on_after(timeout):
            return await self.flow_run.runner._invoke(call)
        raise TaskTimeout(f"task run {self.future.name!r} timed out after {timeout} s")


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    *,
    name: str | None = None,
    retries: int = 0,
    retry_delay_seconds: float = 0,
    timeout_seconds: float | None = None,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    retries: int = 0,
    retry_delay_seconds: float = 0,
    timeout_seconds: float | None = None,
) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
    """Make a function a task: ``@task`` or ``@task(name=..., retries=..., ...)``.

    Args:
      name: the task's name (default: the function's name); task runs are named ``name-<n>``.
      retries: how many times a Failed attempt is re-run (a Cancelled one never is).
      retry_delay_seconds: the pause before each retry (the task does not hold a worker slot
        during it).
      timeout_seconds: each attempt's deadline, at which the attempt fails with `TaskTimeout`
        (and is retried if retries remain). An async task on the event loop is cancelled; a sync
        task's worker thread is abandoned and runs on to the function's end (it can stop itself
        with ``trio.from_thread.check_cancelled()``), so with ``retries`` attempts can overlap;
        the process runner kills the worker process; on Dask a running attempt runs on.

    Raises:
      TypeError: an option of the wrong type (``timeout_seconds="5"``, ``retries=1.0``; a
        ``bool`` is not a number here), raised at once, naming the option and the value.
      ValueError: a negative ``retries``, a negative, infinite or NaN ``retry_delay_seconds``, or
        a ``timeout_seconds`` <= 0 or NaN (``math.inf``: no deadline).
    """
    _check_options(name, retries, retry_delay_seconds, timeout_seconds)

    def decorate(fn: Callable[P, R]) -> Task[P, R]:
        return Task(
            fn,
            name=name,
            retries=retries,
            retry_delay_seconds=retry_delay_seconds,
            timeout_seconds=timeout_seconds,
        )

    if fn is not None:
        return decorate(fn)
    return decorate
