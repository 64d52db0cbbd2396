"""Execution: what a call is, and how the way it ended becomes its State.

`execute` runs one admitted call inside its own cancel scope and records its State in the
`CallTable`; the classification of an ending lives here and only here (the semantics stated in
`BaseTaskRunner.start`):

- returns v -> Completed(v); returns a State -> that State; raises an `Exception` -> Failed;
- its own scope cancelled -> Cancelled, and the run goes on;
- `trio.Cancelled` while an enclosing scope is cancelled
  (``trio.current_effective_deadline() == -inf``), or `KeyboardInterrupt` / `SystemExit`
  alone or in a group -> recorded, then re-raised;
- any other `BaseException` (a stray `trio.Cancelled`, stored as a `RuntimeError` caused by
  it; a `GeneratorExit`; a `BaseExceptionGroup` of such) -> Crashed, and the run goes on (if
  it replaced an enclosing cancellation, that cancellation goes on).

It also says what can be a call (`check_call`, `is_async_callable`) and how a sync call runs in
a worker thread (`run_sync_in_thread`).
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
from collections.abc import Awaitable, Callable, Hashable
from inspect import CO_ASYNC_GENERATOR, CO_COROUTINE
from types import FunctionType
from typing import Any

import trio

from ._calls import CallRecord, CallTable, current_call
from ._states import Cancelled, Completed, Crashed, Failed, State, state_for_base_exception
from ._worker_threads import worker_threads_for

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "check_call",
    "execute",
    "holds_cancelled",
    "is_async_callable",
    "is_async_generator_callable",
    "run_sync_in_thread",
]


#: For classes whose ``__call__`` is a Python function: its code flags (see `_dunder_flags`).
_DUNDER_FLAGS: dict[type, int] = {}


def _dunder_flags(call: object) -> int | None:
    """The code flags of ``type(call).__call__`` when it is a Python function (an instance of
    a class with ``def __call__`` / ``async def __call__``), else None. Kept per class: a
    task runner sees the same few call classes again and again, and asking `inspect` costs
    microseconds per call."""
    cls = type(call)
    flags = _DUNDER_FLAGS.get(cls)
    if flags is not None:
        return flags
    dunder_call = getattr(cls, "__call__", None)  # noqa: B004 (async __call__ objects)
    if type(dunder_call) is not FunctionType or hasattr(call, "__code__"):
        return None  # a builtin, a method, a class, a function-like object: ask inspect
    if len(_DUNDER_FLAGS) > 1024:  # classes made on the fly: keep the memo bounded
        _DUNDER_FLAGS.clear()
    flags = _DUNDER_FLAGS[cls] = dunder_call.__code__.co_flags
    return flags


def _unwrapped_flags(call: object) -> tuple[object, int | None]:
    """``call`` without its `functools.partial` layers, and the code flags of what calling it
    runs when they are known without `inspect` (a function, or a class's Python ``__call__``)."""
    while isinstance(call, functools.partial):
        call = call.func
    if type(call) is FunctionType:
        return call, call.__code__.co_flags
    return call, _dunder_flags(call)


def is_async_callable(call: object) -> bool:
    """True if calling ``call`` returns a coroutine (async functions, partials of them, objects
    with an ``async def __call__``)."""
    if type(call) is FunctionType:  # the common case, without inspect's unwrapping
        return bool(call.__code__.co_flags & CO_COROUTINE)
    call, flags = _unwrapped_flags(call)
    if flags is not None:
        return bool(flags & CO_COROUTINE)
    if inspect.iscoroutinefunction(call):
        return True
    dunder_call = getattr(type(call), "__call__", None)  # noqa: B004 (async __call__ objects)
    return inspect.iscoroutinefunction(dunder_call)


def is_async_generator_callable(call: object) -> bool:
    """True if calling ``call`` returns an async generator (its body would never run as a call)."""
    call, flags = _unwrapped_flags(call)
    if flags is not None:
        return bool(flags & CO_ASYNC_GENERATOR)
    if inspect.isasyncgenfunction(call):
        return True
    dunder_call = getattr(type(call), "__call__", None)  # noqa: B004
    return inspect.isasyncgenfunction(dunder_call)


def check_call(key: Hashable, call: object) -> None:
    """Refuse what cannot be a call, naming the key.

    Raises:
      TypeError: ``call`` is not callable, or is an async generator function.
    """
    if type(call) is FunctionType:  # the common case: one flag test
        if call.__code__.co_flags & CO_ASYNC_GENERATOR:
            raise TypeError(
                f"call for key {key!r} is an async generator function ({call.__qualname__}): "
                "calling it would not run its body; submit an async function instead"
            )
        return
    if not callable(call):
        raise TypeError(
            f"call for key {key!r} must be a zero-argument callable, not {type(call).__name__}"
        )
    if is_async_generator_callable(call):
        raise TypeError(
            f"call for key {key!r} is an async generator function: calling it would not run "
            "its body; submit an async function instead"
        )


def _call_in_box(call: Callable[[], Any]) -> tuple[Any]:
    """Run a sync call in a worker thread; the box lets it return a coroutine (awaited on the
    loop afterwards), which `trio.to_thread.run_sync` would otherwise refuse."""
    return (call(),)


async def run_sync_in_thread(call: Callable[[], Any], limiter: trio.CapacityLimiter | None) -> Any:
    """Run a sync call in a worker thread bounded by ``limiter``, abandoned on cancel
    (``trio.from_thread.check_cancelled()`` lets the call notice); an awaitable it returns is
    awaited on the loop. The thread is one of the run's long-lived `WorkerThreads` when the
    run opened them for ``limiter``, else a ``trio.to_thread.run_sync`` of its own (same
    semantics). Always a checkpoint.

    Raises:
      Whatever the call raises; `trio.Cancelled` if cancelled (the thread is abandoned).
    """
    pool = worker_threads_for(limiter)
    if pool is not None:  # the run's long-lived worker threads (`_worker_threads`)
        result = await pool.run_sync(call)
    else:
        (result,) = await trio.to_thread.run_sync(
            _call_in_box, call, abandon_on_cancel=True, limiter=limiter
        )
    if inspect.isawaitable(result):
        return await result
    return result


def _stops_the_process(exc: BaseException) -> bool:
    """True for `KeyboardInterrupt` / `SystemExit`, alone or inside an exception group."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup((KeyboardInterrupt, SystemExit)) is not None
    return False


def holds_cancelled(exc: BaseException) -> bool:
    """True for a `trio.Cancelled`, or an exception group holding one."""
    if isinstance(exc, trio.Cancelled):
        return True
    return isinstance(exc, BaseExceptionGroup) and exc.subgroup(trio.Cancelled) is not None


def _enclosing_scope_cancelled() -> bool:
    """True if a cancel scope around the current task is cancelled (and not shielded away)."""
    return trio.current_effective_deadline() == -math.inf


def _crash_of_the_call(exc: BaseException) -> State[Any]:
    """The Crashed State of a call that raised a `BaseException` the run goes on after.

    A stray `trio.Cancelled` (alone or in a group) is not stored bare: ``result()`` would re-raise
    it in whichever task reads the State, where it would pose as that task's cancellation. As
    a Cancelled State carries `CancelledRun`, it carries a `RuntimeError` caused by it.
    """
    if not holds_cancelled(exc):
        return Crashed(
            exc, f"the call raised {type(exc).__name__}, a BaseException that is not an Exception"
        )
    message = "the call raised trio.Cancelled, but no cancel scope around it was cancelled"
    error = RuntimeError(message)
    error.__cause__ = exc
    return Crashed(error, message)


async def execute(
    table: CallTable,
    record: CallRecord,
    invoke: Callable[[Callable[[], Any]], Awaitable[Any]],
    admitted: bool,
    release: Callable[[], object] | None = None,
) -> None:
    """Execute an admitted call with ``invoke`` and record its State (the first State recorded
    wins). ``admitted``: the caller has reported the ``admitted`` event already. ``release``:
    called as the call's task leaves, however it leaves (a worker slot given back). Positional
    too, so that a nursery can start this coroutine function directly: one frame per call.

    A call cancelled while queued returns at once, never started. Otherwise a checkpoint.

    Raises:
      trio.Cancelled: an enclosing scope was cancelled (the State, Cancelled, is recorded first).
      KeyboardInterrupt, SystemExit, BaseExceptionGroup: the call raised one (or a group holding
        one); it is recorded Crashed first.
    """
    try:
        if record.state is not None:  # cancelled while queued: never starts
            return
        call = record.call
        record.call = None
        if call is None:  # pragma: no cover - a record is executed once
            table.finish(record, Crashed(RuntimeError(f"call {record.key!r} executed twice")))
            return
        if table.hooks:
            if not admitted:
                table.emit("admitted", record.key)
            table.emit("started", record.key)
        scope = record.scope = trio.CancelScope()
        table.running += 1
        token = current_call.set((table.owner, record))
        try:
            with scope:
                result = await invoke(call)
        except Exception as exc:
            table.finish(record, Failed(exc))
        except BaseException as exc:
            if _stops_the_process(exc) or (holds_cancelled(exc) and _enclosing_scope_cancelled()):
                table.finish(record, state_for_base_exception(exc))
                raise
            table.finish(record, _crash_of_the_call(exc))
            if _enclosing_scope_cancelled():
                # The call replaced an enclosing cancellation with its own BaseException: that
                # is the call's Crashed State, and the cancellation goes on (Trio's cancels are
                # level-triggered, so this raises it again).
                await trio.lowlevel.checkpoint_if_cancelled()
        else:
            if scope.cancelled_caught:
                table.finish(record, Cancelled("cancelled"))
            elif isinstance(result, State):
                table.finish(record, result)
            else:
                table.finish(record, Completed(result))
        finally:
            current_call.reset(token)
            table.running -= 1
            record.scope = None
    finally:
        if release is not None:
            release()
