"""`@task` and `Task`: a function that, inside a flow, is submitted as a task run to the flow's
runner (from the Trio thread, the body's thread through the pump, or a task run's thread).

What a task run then does on the runner is `TaskRunCall`'s (``_task_run.py``).
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Generic, ParamSpec, TypeVar, final, overload

import trio

from ._base import current_runner, is_async_callable
from ._flow_checks import _check_options
from ._flow_run import FlowRun, current_flow_run
from ._flow_threads import on_trio_thread
from ._futures import TaskFuture
from ._pickle_by_name import reduce_by_name_or_value
from ._submission import SubmissionPump
from ._task_run import TaskRunCall

__all__ = ["Task", "task"]

P = ParamSpec("P")
R = TypeVar("R")


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

    def __reduce__(self) -> str | tuple[Any, ...]:
        # By reference (module + qualified name), as functions pickle, when that name leads
        # back to this task and its module is not to travel by value; else by value (the
        # function and the options), so that local tasks and tasks of scripts and checkouts
        # reach process and cluster workers that cannot import them (see _pickle_by_name.py).
        return reduce_by_name_or_value(self)

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
    ) -> TaskRunCall:
        """The call for one task run, with its future (any thread).

        Raises:
          TypeError: an item of ``waits`` is not a `TaskFuture`.
        """
        for future in waits:
            if not isinstance(future, TaskFuture):
                raise TypeError(f"wait_for takes TaskFuture objects, not {type(future).__name__}")
        key = uuid.uuid4()
        future = TaskFuture(flow_run, key, flow_run.next_name(self.name), self.name, pending)
        return TaskRunCall(self, flow_run, future, args, kwargs, waits)

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
    if current_runner() is flow_run.runner:
        return None
    return pump


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
