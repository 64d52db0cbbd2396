"""`@flow`: a function whose task calls run on a task runner, started for each call of the flow."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, Generic, ParamSpec, TypeVar, final, overload

import trio

from ..abc import BaseTaskRunner
from ..task_runners import ConcurrentTaskRunner
from ._flow_checks import KEEP, Keep, _check_options, is_async_callable
from ._flow_engine import run_flow
from ._flow_run import current_flow_run
from ._flow_threads import in_trio_worker_thread, on_asyncio_thread, on_trio_thread
from ._hooks import Hook, check_hooks
from ._pickle_by_name import reduce_by_name_or_value
from ._run_names import RunName, check_run_name

__all__ = ["Flow", "flow"]

P = ParamSpec("P")
R = TypeVar("R")


def _is_runner_class(runner: object) -> bool:
    return isinstance(runner, type) and issubclass(runner, BaseTaskRunner)


def _check_runner(runner: object) -> None:
    """Raises `TypeError` unless ``runner`` is a task runner or a task runner class."""
    if not (isinstance(runner, BaseTaskRunner) or _is_runner_class(runner)):
        raise TypeError(
            f"task_runner must be a task runner or a task runner class, not {runner!r} "
            f"({type(runner).__name__})"
        )


@final
class Flow(Generic[P, R]):
    """A flow: each call starts a fresh copy of ``task_runner`` and runs the body with it.

    Create with the `flow` decorator. A sync flow (``def``) is called like a function: it runs to
    completion (starting ``trio.run`` if no Trio loop is running in this thread; from a Trio
    worker thread, or from inside another flow, it runs on that loop). Its body runs in a worker
    thread while the runner runs on the Trio thread. An async flow (``async def``) is awaited on
    the Trio thread (``await my_flow(...)``); called from a thread with no event loop running it
    runs like a sync flow; called on an asyncio event loop it raises `RuntimeError` (run it
    through `trio_runners.embed`).

    A call waits for every task run it submitted, then returns the body's return value (futures
    in it are resolved), or, with ``return_state=True``, the flow run's `State`. Failures:

    - the body raises: its unfinished task runs are cancelled and the exception is raised;
    - a task run ended Failed or Crashed and the body never looked at its result: the call raises
      `FlowRunFailed`, an exception group naming those task runs with their exceptions.

    The options are those of the `flow` decorator (its attributes of the same names);
    `with_options` makes a copy with some changed. With ``retries`` a Failed run is run again
    (its task runs too, on a fresh runner); ``timeout_seconds`` fails a run attempt that lasts
    longer with `FlowTimeout`, cancelling its unfinished task runs.

    ``KeyboardInterrupt`` (Ctrl-C) while a flow runs cancels its task runs and is raised as
    ``KeyboardInterrupt``; a task run's ``sys.exit(code)`` likewise, as ``SystemExit(code)``.
    Cancellation of an async flow's enclosing scope cancels its task runs and propagates
    (possibly inside an exception group, as from any nursery). Awaiting an async flow is a
    checkpoint; calling a sync flow blocks the calling thread until the run ends.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        name: str | None = None,
        task_runner: BaseTaskRunner | type[BaseTaskRunner] | None = None,
        timeout_seconds: float | None = None,
        retries: int = 0,
        retry_delay_seconds: float = 0,
        flow_run_name: RunName | None = None,
        on_completion: Iterable[Hook] | None = None,
        on_failure: Iterable[Hook] | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@flow decorates a function, not {type(fn).__name__}")
        if inspect.isasyncgenfunction(fn):
            raise TypeError(
                f"@flow cannot decorate the async generator function {fn.__name__!r}: a flow run "
                "returns one value"
            )
        _check_options(name, retries, retry_delay_seconds, timeout_seconds)
        check_run_name("flow_run_name", flow_run_name)
        self.fn = fn
        self.name: str = name if name is not None else getattr(fn, "__name__", type(fn).__name__)
        self.is_async = is_async_callable(fn)
        self.task_runner = ConcurrentTaskRunner() if task_runner is None else task_runner
        self.timeout_seconds = timeout_seconds
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.flow_run_name = flow_run_name
        self.on_completion: list[Hook] = check_hooks("on_completion", on_completion)
        self.on_failure: list[Hook] = check_hooks("on_failure", on_failure)
        self._given_name = name
        functools.update_wrapper(self, fn)

    def with_options(
        self,
        *,
        name: str | Keep | None = KEEP,
        task_runner: BaseTaskRunner | type[BaseTaskRunner] | Keep = KEEP,
        timeout_seconds: float | Keep | None = KEEP,
        retries: int | Keep = KEEP,
        retry_delay_seconds: float | Keep = KEEP,
        flow_run_name: RunName | Keep | None = KEEP,
        on_completion: Iterable[Hook] | Keep | None = KEEP,
        on_failure: Iterable[Hook] | Keep | None = KEEP,
    ) -> Flow[P, R]:
        """A new flow of the same function, with the options given here changed and the others
        as on this flow (which is left unchanged; the copy gets its own ``task_runner``
        attribute, the same runner configuration unless one is given). Not a checkpoint.

        Raises:
          TypeError, ValueError: a bad option, as for the `flow` decorator.
        """
        options: dict[str, Any] = {
            "name": self._given_name,
            "task_runner": self.task_runner,
            "timeout_seconds": self.timeout_seconds,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay_seconds,
            "flow_run_name": self.flow_run_name,
            "on_completion": self.on_completion,
            "on_failure": self.on_failure,
        }
        given = {
            "name": name,
            "task_runner": task_runner,
            "timeout_seconds": timeout_seconds,
            "retries": retries,
            "retry_delay_seconds": retry_delay_seconds,
            "flow_run_name": flow_run_name,
            "on_completion": on_completion,
            "on_failure": on_failure,
        }
        options.update({option: v for option, v in given.items() if v is not KEEP})
        return Flow(self.fn, **options)

    @property
    def task_runner(self) -> BaseTaskRunner:
        """The runner configuration. Every call runs on ``task_runner.duplicate()``, so the
        configured runner is never started or mutated. Assign a runner (or a runner class,
        instantiated with no arguments) to change it for later calls."""
        return self._task_runner

    @task_runner.setter
    def task_runner(self, runner: BaseTaskRunner | type[BaseTaskRunner]) -> None:
        _check_runner(runner)
        self._task_runner = runner() if isinstance(runner, type) else runner

    def __repr__(self) -> str:
        return f"<Flow {self.name} on {self.task_runner!r}>"

    def __getstate__(self) -> dict[str, Any]:
        """What a flow pickled by value carries (see `__reduce__`): its function and options,
        without its state hooks and ``flow_run_name``, which only the calling process uses."""
        return {**self.__dict__, "on_completion": [], "on_failure": [], "flow_run_name": None}

    def __reduce__(self) -> str | tuple[Any, ...]:
        # As a Task: by reference when its name leads back to it and its module is not to
        # travel by value; else by value (function, runner configuration): _pickle_by_name.py.
        return reduce_by_name_or_value(self)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Run the flow (see the class docstring); ``return_state=True`` returns its State.

        Raises:
          RuntimeError: a sync flow called on the Trio thread (it would block the event loop:
            use ``await trio.to_thread.run_sync(my_flow, ...)`` or make the flow async); an
            async flow called on an asyncio event loop (run it through `trio_runners.embed`).
          TypeError: ``return_state`` is not a ``bool`` (raised before the flow runs).
          FlowRunFailed: task runs failed and the body never looked at their results.
          FlowTimeout: the last attempt exceeded ``timeout_seconds``.
          ValueError: ``flow_run_name`` names a field that is not a parameter (before the run).
          Exception: whatever the body raised (in the last attempt, with ``retries``).
        """
        return_state = kwargs.pop("return_state", False)
        if not isinstance(return_state, bool):
            raise TypeError(
                f"return_state must be True or False, not {return_state!r} "
                f"({type(return_state).__name__})"
            )
        if on_trio_thread():
            if self.is_async:
                return self._run(args, kwargs, return_state)
            raise RuntimeError(
                f"sync flow {self.name!r} called on the Trio thread would block the event loop; "
                f"use 'await trio.to_thread.run_sync({self.name}, ...)' or make it async"
            )
        if self.is_async and on_asyncio_thread():
            raise RuntimeError(
                f"async flow {self.name!r} called on an asyncio event loop: flows run on Trio. "
                "From asyncio, run it through trio_runners.embed: 'async with "
                "run_in_background_async(SequentialTaskRunner()) as background: await "
                f"background.submit(key, lambda: {self.name}(...))', then "
                "'(await background.wait(key)).result()' (see the embedding docs)"
            )
        parent = current_flow_run.get()
        if parent is not None:
            return trio.from_thread.run(
                self._run, args, kwargs, return_state, trio_token=parent.token
            )
        if in_trio_worker_thread():
            return trio.from_thread.run(self._run, args, kwargs, return_state)
        return trio.run(self._run, args, kwargs, return_state)

    async def _run(self, args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool) -> Any:
        return await run_flow(self, args, kwargs, return_state)


@overload
def flow(fn: Callable[P, R], /) -> Flow[P, R]: ...


@overload
def flow(
    *,
    name: str | None = None,
    task_runner: BaseTaskRunner | type[BaseTaskRunner] | None = None,
    timeout_seconds: float | None = None,
    retries: int = 0,
    retry_delay_seconds: float = 0,
    flow_run_name: RunName | None = None,
    on_completion: Iterable[Hook] | None = None,
    on_failure: Iterable[Hook] | None = None,
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    task_runner: BaseTaskRunner | type[BaseTaskRunner] | None = None,
    timeout_seconds: float | None = None,
    retries: int = 0,
    retry_delay_seconds: float = 0,
    flow_run_name: RunName | None = None,
    on_completion: Iterable[Hook] | None = None,
    on_failure: Iterable[Hook] | None = None,
) -> Flow[P, R] | Callable[[Callable[P, R]], Flow[P, R]]:
    """Make a function a flow: ``@flow`` or ``@flow(task_runner=..., name=...)``.

    Args:
      name: the flow's name (default: the function's name).
      task_runner: the runner its task runs use (default ``ConcurrentTaskRunner()``); each call
        runs on a duplicate of it.
      timeout_seconds: each run attempt's deadline, counted from its start (starting the runner
        included); at the deadline the attempt's unfinished task runs are cancelled (each ends
        Cancelled), its body is cancelled (an async body) or abandoned (a sync body's thread),
        and the attempt fails with `FlowTimeout`.
      retries: how many times a Failed run is run again from the start (body and task runs, on
        a fresh runner); a cancelled or interrupted run never is.
      retry_delay_seconds: the pause before each retry.
      flow_run_name: the flow run's name instead of the flow's: a ``str.format`` template
        filled with the call's arguments by parameter name, or a callable with no arguments.
      on_completion: hooks called ``hook(flow, flow_run, state)`` when a run ends Completed
        (``flow_run`` is a `FlowRunInfo`); sync or async.
      on_failure: hooks called likewise when a run ends Failed (after its retries).

    Raises:
      TypeError: an option of the wrong type (a ``name`` that is not a ``str``, a
        ``task_runner`` that is not a task runner nor a runner class, ``timeout_seconds="5"``,
        a hook list that is a single function...); raised at once, naming the option and the
        value.
      ValueError: a negative ``retries``, a negative, infinite or NaN ``retry_delay_seconds``, or
        a ``timeout_seconds`` <= 0 or NaN (``math.inf``: no deadline).
    """
    _check_options(name, retries, retry_delay_seconds, timeout_seconds)
    check_run_name("flow_run_name", flow_run_name)
    completion_hooks = check_hooks("on_completion", on_completion)
    failure_hooks = check_hooks("on_failure", on_failure)
    if task_runner is not None:
        _check_runner(task_runner)

    def decorate(fn: Callable[P, R]) -> Flow[P, R]:
        return Flow(
            fn,
            name=name,
            task_runner=task_runner,
            timeout_seconds=timeout_seconds,
            retries=retries,
            retry_delay_seconds=retry_delay_seconds,
            flow_run_name=flow_run_name,
            on_completion=completion_hooks,
            on_failure=failure_hooks,
        )

    if fn is not None:
        return decorate(fn)
    return decorate
