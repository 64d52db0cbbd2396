"""What the out-of-process runners share: shipping a call with cloudpickle and running it there.

The rule for what travels by value (documented in docs/runners/processes.md and dask.md): the
modules that define the call (its own; for a `functools.partial`, the wrapped function's; for a
bound method, its function's; for a decorated function, that of its ``__wrapped__``; for a
callable object, its class's) are pickled **by value** when they are ``__main__`` or were not
loaded from the Python installation (``sys.prefix``/``sys.base_prefix``: the standard library
and site-packages). Scripts, test modules and modules run from a checkout therefore travel with
the call and need not be importable on the workers. Everything else is pickled by reference and
must be importable where the call runs (trio-runners itself included).
"""

from __future__ import annotations

import abc
import functools
import inspect
import os
import pickle
import sys
from collections.abc import Callable, Hashable
from contextlib import AbstractAsyncContextManager
from types import ModuleType
from typing import Any, TypeVar, final

import attrs
import trio

from ._base import is_async_callable
from ._pool import PoolTaskRunner
from ._states import Crashed

__all__ = [
    "RUNS_ON_LOOP",
    "PickledCall",
    "RemoteTaskRunner",
    "hold_open",
    "pickle_call",
    "run_pickled",
    "runs_on_loop",
]

T = TypeVar("T")

_INSTALLED = tuple(
    os.path.join(os.path.realpath(prefix), "")
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
)


@final
@attrs.frozen
class PickledCall:
    """A call pickled with cloudpickle at submit time, ready to be shipped to a worker."""

    payload: bytes
    name: str

    def __call__(self) -> Any:
        """Run the call here (as a worker does): see `run_pickled`."""
        return run_pickled(self.payload)


def _defining_modules(call: object) -> list[ModuleType]:
    """The modules that define ``call``: its own, and those of what it wraps (the function of a
    `functools.partial`, a bound method's function, a decorator's ``__wrapped__``)."""
    modules: dict[str, ModuleType] = {}
    seen: set[int] = set()
    while id(call) not in seen:
        seen.add(id(call))
        name = getattr(call, "__module__", None)
        if not isinstance(name, str):
            name = type(call).__module__
        module = sys.modules.get(name)
        if module is not None:
            modules.setdefault(name, module)
        if isinstance(call, functools.partial):
            call = call.func
        elif inspect.ismethod(call):
            call = call.__func__
        elif hasattr(call, "__wrapped__"):
            call = call.__wrapped__
        elif not inspect.isroutine(call) and not isinstance(call, type):
            call = type(call)  # a callable object: its class
    return list(modules.values())


def _travels_by_value(module: ModuleType) -> bool:
    if module.__name__ == "__main__":
        return False  # cloudpickle already pickles __main__ by value
    if module.__name__.split(".")[0] in ("trio_runners", "builtins"):
        return False
    cached = _BY_VALUE.get(module.__name__)
    if cached is not None and cached[0] is module:
        return cached[1]
    path = getattr(module, "__file__", None)
    # A built-in or namespace module (no file) is importable by name.
    by_value = isinstance(path, str) and not os.path.realpath(path).startswith(_INSTALLED)
    _BY_VALUE[module.__name__] = (module, by_value)
    return by_value


#: Module name -> (module, travels by value): resolving paths costs system calls.
_BY_VALUE: dict[str, tuple[ModuleType, bool]] = {}


def pickle_call(call: Callable[[], Any]) -> PickledCall:
    """Pickle ``call`` with cloudpickle, its defining module by value when that is the rule.

    Raises:
      TypeError: ``call`` cannot be pickled (the message names the call and the reason).
    """
    try:
        import cloudpickle
    except ImportError as exc:  # pragma: no cover
        raise ImportError(
            "sending calls to workers needs cloudpickle: pip install 'trio-runners[processes]'"
        ) from exc

    registered = cloudpickle.list_registry_pickle_by_value()
    by_value = [
        module
        for module in _defining_modules(call)
        if _travels_by_value(module) and module.__name__ not in registered
    ]
    for module in by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        payload = cloudpickle.dumps(call, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise TypeError(
            f"call {call!r} cannot be pickled, so it cannot be sent to a worker: {exc}"
        ) from exc
    finally:
        for module in by_value:
            cloudpickle.unregister_pickle_by_value(module)
    return PickledCall(payload, _call_name(call))


def _call_name(call: object) -> str:
    """A short name for a call: the function's qualified name, or its type's."""
    while isinstance(call, functools.partial):
        call = call.func
    name = getattr(call, "__qualname__", None)
    return name if isinstance(name, str) else type(call).__qualname__


def run_pickled(payload: bytes) -> Any:
    """Unpickle a call and run it in this process (the worker side).

    An async callable (or the awaitable a sync call returns) runs under its own ``trio.run``.
    A `BaseException` that is not an `Exception` (``SystemExit``, ``KeyboardInterrupt``) is
    returned as a Crashed State: it ended the call, not the process that waits for it.
    """
    try:
        call = pickle.loads(payload)
        if is_async_callable(call):
            return trio.run(call)
        result = call()
        if inspect.isawaitable(result):
            awaitable = result

            async def await_it() -> Any:
                return await awaitable

            return trio.run(await_it)
        return result
    except Exception:
        raise
    except BaseException as exc:
        return Crashed(exc, message=f"the call raised {type(exc).__name__} in its worker")


async def _hold(
    cm: AbstractAsyncContextManager[T],
    done: trio.Event,
    *,
    task_status: trio.TaskStatus[T] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with cm as value:
        task_status.started(value)
        await done.wait()


async def hold_open(
    nursery: trio.Nursery, cm: AbstractAsyncContextManager[T]
) -> tuple[T, Callable[[], None]]:
    """Enter ``cm`` in a new task of ``nursery``; return its value and a function that leaves it.

    The context is left when the function is called, or when the nursery is cancelled; the
    nursery waits for its exit either way.
    """
    done = trio.Event()
    value: T = await nursery.start(_hold, cm, done)
    return value, done.set


#: Set this attribute to True on a call's class to have a remote runner run the call on the
#: event loop, unpickled: the call orchestrates (the flow layer's task run waits for upstreams,
#: retries, times out) and hands the work itself to ``runner._invoke``, which is shipped.
RUNS_ON_LOOP = "_trio_runners_runs_on_loop"


def runs_on_loop(call: object) -> bool:
    """True for a call marked with `RUNS_ON_LOOP`."""
    return getattr(call, RUNS_ON_LOOP, False) is True


class RemoteTaskRunner(PoolTaskRunner):
    """A runner whose calls run in another process: each call is pickled when submitted, so a
    call that cannot travel is refused at once instead of failing later.

    Backends implement `_run_remotely`. A call marked with `RUNS_ON_LOOP` is not pickled: it
    runs on the event loop, and what it passes to `_invoke` is pickled and run remotely.
    """

    async def submit(self, key: Hashable, call: Callable[[], Any]) -> None:
        """Pickle ``call`` and submit it under ``key``; see `BaseTaskRunner.submit`.

        Always a checkpoint; returns once the call is accepted (it never waits for the call).

        Raises:
          RuntimeError: the runner is not started (or has exited).
          TypeError: ``call`` is not callable or cannot be pickled, or ``key`` is not hashable.
          ValueError: ``key`` was already submitted in this run.
        """
        if (
            self._accepting
            and callable(call)
            and not isinstance(call, PickledCall)
            and not runs_on_loop(call)
        ):
            call = pickle_call(call)
        await super().submit(key, call)

    async def _invoke(self, call: Callable[[], Any]) -> Any:
        if runs_on_loop(call):
            return await call()
        if not isinstance(call, PickledCall):
            call = pickle_call(call)  # TypeError if it cannot travel: the call is Failed
        return await self._run_remotely(call)

    @abc.abstractmethod
    async def _run_remotely(self, call: PickledCall) -> Any:
        """Run a pickled call where this backend runs calls and return its result (a State for
        a call the machinery lost)."""
