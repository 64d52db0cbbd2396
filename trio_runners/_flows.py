"""`@flow`: a function whose task calls run on a task runner, started for each call of the flow."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar, final, overload

import trio

from ._base import BaseTaskRunner, is_async_callable
from ._concurrent import ConcurrentTaskRunner
from ._flow_checks import check_name
from ._flow_outcome import body_error, flow_run_state, process_stop
from ._flow_run import FlowRun, current_flow_run
from ._flow_threads import in_trio_worker_thread, on_asyncio_thread, on_trio_thread
from ._future_args import futures_in, resolve_futures
from ._futures import TaskFuture
from ._pickle_by_name import reduce_by_name_or_value
from ._submission import SubmissionPump

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup


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
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@flow decorates a function, not {type(fn).__name__}")
        if inspect.isasyncgenfunction(fn):
            raise TypeError(
                f"@flow cannot decorate the async generator function {fn.__name__!r}: a flow run "
                "returns one value"
            )
        check_name(name)
        self.fn = fn
        self.name: str = name if name is not None else getattr(fn, "__name__", type(fn).__name__)
        self.is_async = is_async_callable(fn)
        self.task_runner = ConcurrentTaskRunner() if task_runner is None else task_runner
        functools.update_wrapper(self, fn)

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
          Exception: whatever the body raised.
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
        # A subflow called from a worker thread runs in a Trio system task, which the parent's
        # cancellation does not reach: the parent cancels it when the parent run ends.
        parent = current_flow_run.get()
        scope = trio.CancelScope()
        if parent is not None:
            if parent.finished:
                raise RuntimeError(f"flow run {parent.flow_name!r} has ended")
            parent.children.add(scope)
        runner = self.task_runner.duplicate()
        flow_run = FlowRun(self.name, runner, trio.lowlevel.current_trio_token())
        value: Any = None
        error: Exception | None = None
        try:
            with scope:
                async with runner.start(), trio.open_nursery() as nursery:
                    token = current_flow_run.set(flow_run)
                    pump = None
                    if getattr(runner, "max_pending", None) is None:
                        # (with max_pending, the body's submissions keep their backpressure)
                        pump = flow_run.pump = SubmissionPump(runner, flow_run.token)
                        nursery.start_soon(pump.run)
                    try:
                        try:
                            body_value = await self._body(args, kwargs)
                        finally:
                            if pump is not None:
                                pump.close()  # the pump submits what it holds, then returns
                        value = await self._resolve(body_value)
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
            if parent is not None:
                parent.children.discard(scope)
        if scope.cancelled_caught:
            raise RuntimeError(f"subflow run {self.name!r} cancelled: its parent flow run ended")
        state = flow_run_state(self.name, value, error, flow_run.unseen_failures())
        if return_state:
            return state
        return state.result()

    async def _body(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.is_async:
            return await self.fn(*args, **kwargs)  # type: ignore[misc]
        # Abandoned on cancel so that Ctrl-C and cancellation stop the flow promptly; the body
        # thread then fails at its next call into the flow.
        call = functools.partial(self.fn, *args, **kwargs)
        return await trio.to_thread.run_sync(
            call, abandon_on_cancel=True, limiter=trio.CapacityLimiter(1)
        )

    @staticmethod
    async def _resolve(value: Any) -> Any:
        """Wait for the futures in the body's return value and replace them by their results."""
        futures: list[TaskFuture] = []
        futures_in(value, futures)
        states = {future: await future._final_state() for future in dict.fromkeys(futures)}
        await trio.lowlevel.checkpoint()
        return resolve_futures(value, states)


@overload
def flow(fn: Callable[P, R], /) -> Flow[P, R]: ...


@overload
def flow(
    *,
    name: str | None = None,
    task_runner: BaseTaskRunner | type[BaseTaskRunner] | None = None,
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    task_runner: BaseTaskRunner | type[BaseTaskRunner] | None = None,
) -> Flow[P, R] | Callable[[Callable[P, R]], Flow[P, R]]:
    """Make a function a flow: ``@flow`` or ``@flow(task_runner=..., name=...)``.

    Args:
      name: the flow's name (default: the function's name).
      task_runner: the runner its task runs use (default ``ConcurrentTaskRunner()``); each call
        runs on a duplicate of it.

    Raises:
      TypeError: ``name`` is not a ``str``, or ``task_runner`` is not a task runner (nor a
        runner class); raised at once, naming the option and the value.
    """
    check_name(name)
    if task_runner is not None:
        _check_runner(task_runner)

    def decorate(fn: Callable[P, R]) -> Flow[P, R]:
        return Flow(fn, name=name, task_runner=task_runner)

    if fn is not None:
        return decorate(fn)
    return decorate
