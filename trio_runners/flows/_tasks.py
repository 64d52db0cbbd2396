"""`@task` and `Task`: a function that, inside a flow, is submitted as a task run to the flow's
runner (from the Trio thread, the body's thread through the pump, or a task run's thread).

What a task run then does on the runner is `TaskRunCall`'s (``_task_run.py``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Generic, ParamSpec, TypeAlias, TypeVar, final, overload

from ._annotations import allow_failure, map_rows, unmapped
from ._flow_checks import KEEP, Keep, _check_options, is_async_callable
from ._flow_run import current_flow_run
from ._futures import TaskFuture
from ._hooks import Hook, check_hooks
from ._pickle_by_name import reduce_by_name_or_value
from ._run_names import RunName, check_run_name
from ._task_submit import dispatch, flow_run_for

__all__ = ["Task", "task"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: What ``wait_for`` takes: futures, each possibly in `allow_failure`.
WaitFor: TypeAlias = Iterable[TaskFuture[Any] | allow_failure[TaskFuture[Any]]]


@final
class Task(Generic[P, R]):
    """A task: outside a flow a plain function, inside a flow a task run on the flow's runner.

    Create with the `task` decorator. Inside a flow (its body, or a task run of it):

    - from a worker thread (sync flows, sync tasks) ``my_task(...)``, ``my_task.submit(...)``
      submit a task run and return a `TaskFuture`; ``my_task.map(...)`` returns a list of them;
    - on the Trio thread (async flows, async tasks) the same calls return awaitables of those.

    Outside a flow, ``my_task(...)`` is ``fn(...)``. The options are those of the `task`
    decorator (its attributes of the same names); `with_options` makes a copy with some changed.

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
        task_run_name: RunName | None = None,
        on_completion: Iterable[Hook] | None = None,
        on_failure: Iterable[Hook] | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@task decorates a function, not {type(fn).__name__}")
        if inspect.isasyncgenfunction(fn):
            raise TypeError(
                f"@task cannot decorate the async generator function {fn.__name__!r}: a task run "
                "returns one value (collect the items into a list, or make it async def)"
            )
        _check_options(name, retries, retry_delay_seconds, timeout_seconds)
        check_run_name("task_run_name", task_run_name)
        self.fn = fn
        self.name: str = name if name is not None else getattr(fn, "__name__", type(fn).__name__)
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.timeout_seconds = timeout_seconds
        self.task_run_name = task_run_name
        self.on_completion: list[Hook] = check_hooks("on_completion", on_completion)
        self.on_failure: list[Hook] = check_hooks("on_failure", on_failure)
        self.is_async = is_async_callable(fn)
        self._given_name = name
        functools.update_wrapper(self, fn)

    def with_options(
        self,
        *,
        name: str | Keep | None = KEEP,
        retries: int | Keep = KEEP,
        retry_delay_seconds: float | Keep = KEEP,
        timeout_seconds: float | Keep | None = KEEP,
        task_run_name: RunName | Keep | None = KEEP,
        on_completion: Iterable[Hook] | Keep | None = KEEP,
        on_failure: Iterable[Hook] | Keep | None = KEEP,
    ) -> Task[P, R]:
        """A new task of the same function, with the options given here changed and the others
        as on this task (which is left unchanged). Not a checkpoint.

        Raises:
          TypeError, ValueError: a bad option, as for the `task` decorator.
        """
        options: dict[str, Any] = {
            "name": self._given_name,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay_seconds,
            "timeout_seconds": self.timeout_seconds,
            "task_run_name": self.task_run_name,
            "on_completion": self.on_completion,
            "on_failure": self.on_failure,
        }
        given = {
            "name": name,
            "retries": retries,
            "retry_delay_seconds": retry_delay_seconds,
            "timeout_seconds": timeout_seconds,
            "task_run_name": task_run_name,
            "on_completion": on_completion,
            "on_failure": on_failure,
        }
        options.update({option: v for option, v in given.items() if v is not KEEP})
        return Task(self.fn, **options)

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    def __getstate__(self) -> dict[str, Any]:
        """What a task pickled by value carries to a worker (see `__reduce__`): its function and
        options, without its state hooks and ``task_run_name``, which only the flow's process
        uses (hooks may hold what cannot be pickled: locks, Trio objects)."""
        return {**self.__dict__, "on_completion": [], "on_failure": [], "task_run_name": None}

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
        return self.submit(*args, **kwargs)

    @overload
    def submit(
        self: Task[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs
    ) -> TaskFuture[T]: ...

    @overload
    def submit(self: Task[P, T], *args: P.args, **kwargs: P.kwargs) -> TaskFuture[T]: ...

    @overload
    def submit(
        self: Task[P, Coroutine[Any, Any, T]], *args: Any, wait_for: WaitFor, **kwargs: Any
    ) -> TaskFuture[T]: ...

    @overload
    def submit(self: Task[P, T], *args: Any, wait_for: WaitFor, **kwargs: Any) -> TaskFuture[T]: ...

    def submit(  # type: ignore[misc]
        self, *args: Any, wait_for: WaitFor | None = None, **kwargs: Any
    ) -> Any:
        """Submit a task run to the current flow's runner; returns its `TaskFuture`.

        Futures among the arguments (also inside lists, tuples, sets, dicts) are replaced by their
        results before the task starts; ``wait_for`` futures are waited for without passing data.
        If one of them ends other than Completed the task does not run and ends Failed with
        `UpstreamFailed` (one wrapped in `allow_failure` may end Failed; a `quote`d argument is
        passed as it is). On the Trio thread this returns an awaitable (a checkpoint; for the
        sequential runner it returns once the task run has finished). From a task run's worker
        thread it blocks until the runner accepted the task run. From the body of a sync flow
        it returns at once: the flow run's submission pump hands the task runs to the runner
        one by one, in the order the body made them (with ``max_pending`` set, the body blocks
        as a task run's thread does, keeping the backpressure). A task run the pump has not
        handed over yet can be waited on and cancelled like any other; one the runner refuses
        ends Crashed. If the submitter is cancelled before the runner accepted the task run,
        the task run ends Cancelled and the cancellation propagates (`BaseTaskRunner.submit`).

        Typed ``TaskFuture[R]`` (``R``: what the function, or an async function's coroutine,
        returns), with the arguments checked against the function's unless ``wait_for`` is
        given; the annotation describes the worker-thread side.

        Raises:
          RuntimeError: not inside a flow.
        """
        return dispatch(self, flow_run_for(self), [args], kwargs, wait_for, one=True)

    @overload
    def map(
        self: Task[P, Coroutine[Any, Any, T]],
        *iterables: Iterable[Any] | unmapped[Any],
        wait_for: WaitFor | None = None,
        **kwargs: Any,
    ) -> list[TaskFuture[T]]: ...

    @overload
    def map(
        self: Task[P, T],
        *iterables: Iterable[Any] | unmapped[Any],
        wait_for: WaitFor | None = None,
        **kwargs: Any,
    ) -> list[TaskFuture[T]]: ...

    def map(
        self,
        *iterables: Iterable[Any] | unmapped[Any],
        wait_for: WaitFor | None = None,
        **kwargs: Any,
    ) -> Any:
        """Submit one task run per item (``zip`` of ``iterables``, keyword arguments shared; an
        argument wrapped in `unmapped` is passed whole to every task run); returns the list of
        their futures (an awaitable of it on the Trio thread, a checkpoint). Each item is
        submitted as by `submit`; if the submitter is cancelled midway, the task runs already
        accepted keep running.

        Raises:
          RuntimeError: not inside a flow.
          TypeError: a positional argument is neither iterable nor `unmapped`.
          ValueError: the iterables have different lengths, or every one is `unmapped`.
        """
        flow_run = flow_run_for(self)
        return dispatch(self, flow_run, map_rows(iterables), kwargs, wait_for, one=False)


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    *,
    name: str | None = None,
    retries: int = 0,
    retry_delay_seconds: float = 0,
    timeout_seconds: float | None = None,
    task_run_name: RunName | None = None,
    on_completion: Iterable[Hook] | None = None,
    on_failure: Iterable[Hook] | None = None,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    retries: int = 0,
    retry_delay_seconds: float = 0,
    timeout_seconds: float | None = None,
    task_run_name: RunName | None = None,
    on_completion: Iterable[Hook] | None = None,
    on_failure: Iterable[Hook] | None = None,
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
      task_run_name: the task runs' name instead of ``name-<n>``: a ``str.format`` template
        filled with the call's arguments by parameter name (``"greet-{who}"``), or a callable
        with no arguments returning the name. Formatted when the task run is submitted.
      on_completion: hooks called ``hook(task, task_run, state)`` when a task run ends
        Completed (``task_run`` is a `TaskRunInfo`); sync or async.
      on_failure: hooks called likewise when a task run ends Failed (after its retries).

    Raises:
      TypeError: an option of the wrong type (``timeout_seconds="5"``, ``retries=1.0``; a
        ``bool`` is not a number here; a hook list that is a single function), raised at once,
        naming the option and the value.
      ValueError: a negative ``retries``, a negative, infinite or NaN ``retry_delay_seconds``, or
        a ``timeout_seconds`` <= 0 or NaN (``math.inf``: no deadline).
    """
    _check_options(name, retries, retry_delay_seconds, timeout_seconds)
    check_run_name("task_run_name", task_run_name)
    completion_hooks = check_hooks("on_completion", on_completion)
    failure_hooks = check_hooks("on_failure", on_failure)

    def decorate(fn: Callable[P, R]) -> Task[P, R]:
        return Task(
            fn,
            name=name,
            retries=retries,
            retry_delay_seconds=retry_delay_seconds,
            timeout_seconds=timeout_seconds,
            task_run_name=task_run_name,
            on_completion=completion_hooks,
            on_failure=failure_hooks,
        )

    if fn is not None:
        return decorate(fn)
    return decorate
