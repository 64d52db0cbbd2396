"""`@flow`: a function whose task calls run on a task runner, started for each call of the flow."""

from __future__ import annotations

import functools
import inspect
import math
import sys
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar, final, overload

import trio

from ._base import BaseTaskRunner, is_async_callable
from ._concurrent import ConcurrentTaskRunner
from ._flow_run import FlowRun, FlowRunFailed, SubmissionPump, current_flow_run
from ._futures import TaskFuture, on_trio_thread
from ._states import Completed, Failed, State
from ._tasks import _futures_in, check_name, resolve_futures

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup


def _add_note(error: BaseException, note: str) -> None:
    """``error.add_note(note)``, also on Python 3.10 (where the exceptiongroup backport shows
    ``__notes__`` in tracebacks)."""
    if sys.version_info >= (3, 11):
        error.add_note(note)
    else:  # pragma: no cover
        error.__notes__ = [*getattr(error, "__notes__", []), note]  # type: ignore[attr-defined]


__all__ = ["Flow", "flow"]

P = ParamSpec("P")
R = TypeVar("R")


def _in_trio_worker_thread() -> bool:
    """True in a thread started by `trio.to_thread.run_sync` (it can reach its Trio loop)."""
    try:
        trio.from_thread.check_cancelled()
    except RuntimeError:
        return False
    return True


def _on_asyncio_thread() -> bool:
    """True on a thread whose asyncio event loop is running (in a coroutine or a callback)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:  # never imported: no loop can be running
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _body_error(exc: BaseException) -> Exception:
    """What failed the flow run when its body (or resolving its return value) raised ``exc``.

    An `Exception` is the error. A `trio.Cancelled` while no enclosing cancel scope is cancelled
    is the body's own defect (for instance it re-raised a task run's Crashed State of a stray
    `trio.Cancelled` through ``result()``): left to propagate, Trio's nursery would swallow it
    and the flow would return None. It becomes a `RuntimeError` caused by it.

    Raises:
      BaseException: ``exc`` itself otherwise (cancellation, `KeyboardInterrupt`...).
    """
    if isinstance(exc, Exception):
        return exc
    if isinstance(exc, trio.Cancelled) and trio.current_effective_deadline() != -math.inf:
        error = RuntimeError(
            "the flow body raised trio.Cancelled, but no cancel scope around it was cancelled"
        )
        error.__cause__ = exc
        return error
    raise exc


def _first_leaf(group: BaseExceptionGroup[SystemExit]) -> SystemExit:
    """The first exception in ``group`` that is not itself a group."""
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _as_exception(state: State[Any]) -> Exception:
    exc = state.exception()
    if isinstance(exc, Exception):
        return exc
    # A Crashed State of a BaseException the run went on after (a stray trio.Cancelled, a
    # BaseExceptionGroup...): FlowRunFailed groups Exceptions, so it carries it as the cause.
    wrapped = RuntimeError(f"crashed with {exc!r}")
    wrapped.__cause__ = exc
    return wrapped


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
        if self.is_async and _on_asyncio_thread():
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
        if _in_trio_worker_thread():
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
                        error = _body_error(exc)  # re-raises a cancellation, Ctrl-C...
                        if pump is not None:
                            await pump.wait_closed()
                        runner.cancel_all()
                    finally:
                        current_flow_run.reset(token)
        except BaseExceptionGroup as group:
            if group.split(KeyboardInterrupt)[0] is not None:
                raise KeyboardInterrupt from group
            exits = group.split(SystemExit)[0]
            if exits is not None:
                raise SystemExit(_first_leaf(exits).code) from group
            raise
        finally:
            flow_run.finished = True
            for child in flow_run.children:
                child.cancel()
            if parent is not None:
                parent.children.discard(scope)
        if scope.cancelled_caught:
            raise RuntimeError(f"subflow run {self.name!r} cancelled: its parent flow run ended")
        unseen = flow_run.unseen_failures()
        if error is None and unseen:
            error = FlowRunFailed(
                self.name, [f.name for f, _ in unseen], [_as_exception(s) for _, s in unseen]
            )
        elif error is not None and unseen:
            _add_note(
                error,
                "task runs that failed unseen: "
                + ", ".join(f"{f.name} ({s!r})" for f, s in unseen),
            )
        state: State[Any] = (
            Completed(value) if error is None else Failed(error, f"flow run {self.name!r} failed")
        )
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
        _futures_in(value, futures)
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
