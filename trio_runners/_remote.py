"""What the out-of-process runners share: shipping a call with cloudpickle and running it there.

What travels by value and what by reference is `_travel`'s rule (documented in
docs/runners/processes.md and dask.md): functions, classes, tasks and flows from ``__main__`` or
from modules outside the Python installation (scripts, notebooks, test modules, checkouts, local
definitions) travel with the call; everything else must be importable where the call runs.
"""

from __future__ import annotations

import abc
import functools
import importlib
import inspect
import io
import pickle
import sys
import traceback
from collections.abc import Callable, Hashable
from types import TracebackType
from typing import Any, final

import attrs
import trio

from ._execution import check_call as _check_call
from ._execution import holds_cancelled as _holds_cancelled
from ._execution import is_async_callable
from ._loop_call import LoopCall
from ._pool import PoolTaskRunner
from ._states import Crashed
from ._travel import dumps

__all__ = [
    "PickledCall",
    "Raised",
    "RemoteTaskRunner",
    "pickle_call",
    "run_pickled",
    "runs_on_loop",
    "unwrap_remote",
]


@final
@attrs.frozen
class PickledCall:
    """A call pickled with cloudpickle at submit time, ready to be shipped to a worker."""

    payload: bytes
    name: str

    def __call__(self) -> Any:
        """Run the call here, as a worker does (`run_pickled`), and unwrap what it returns
        (`unwrap_remote`): its value, its exception raised, or a Crashed State."""
        return unwrap_remote(run_pickled(self.payload))


def pickle_call(call: Callable[[], Any], key: Hashable | None = None) -> PickledCall:
    """Pickle ``call`` with cloudpickle, by value or by reference by the travel rule (`_travel`).

    Raises:
      TypeError: ``call`` cannot be pickled (the message names the call, the ``key`` it was
        submitted under when given, and the reason).
    """
    try:
        import cloudpickle  # noqa: F401 (`dumps` needs it)
    except ImportError as exc:  # pragma: no cover
        raise ImportError(
            "sending calls to workers needs cloudpickle: pip install 'trio-runners[processes]'"
        ) from exc

    try:
        payload = dumps(call)
    except Exception as exc:
        under = "" if key is None else f" submitted under key {key!r}"
        raise TypeError(
            f"call {call!r}{under} cannot be pickled, so it cannot be sent to a worker: {exc}"
        ) from exc
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
    Whatever the call raises is returned, not raised, as a `Raised` box: to the worker's
    machinery (Dask, trio-parallel) the call succeeded, so nothing is logged there as a worker
    error, and `unwrap_remote` turns the box into the call's State where the run is (Failed
    for an `Exception`; Crashed for any other `BaseException`: ``KeyboardInterrupt``,
    ``SystemExit``, a stray `trio.Cancelled`, a `BaseExceptionGroup`, which ended the call but
    did not happen in the process that waits for it). A call that cannot be unpickled here is
    Crashed too: the call never ran.
    """
    try:
        call = pickle.loads(payload)
    except BaseException as exc:
        return Raised(exc, crashed=True, why="the call could not be unpickled in its worker")
    try:
        if is_async_callable(call):
            return trio.run(call)
        result = call()
        if inspect.isawaitable(result):
            awaitable = result

            async def await_it() -> Any:
                return await awaitable

            return trio.run(await_it)
        return result
    except Exception as exc:
        return Raised(exc, crashed=False)
    except BaseException as exc:
        return Raised(exc, crashed=True)


@final
class Raised:
    """What a call raised in its worker, sent back as an ordinary value (see `run_pickled`).

    It travels by its own rules, so that what the worker's serializer cannot rebuild never
    turns into a different error: the exception is pickled with its class's own reduction
    (not a global ``copyreg`` override such as tblib's, which cannot rebuild exception groups),
    its traceback as plain data (tblib's dict, when tblib is installed: Dask and trio-parallel
    install it), and an exception that cannot be pickled or rebuilt is replaced by a
    `RuntimeError` that names it and carries its traceback as text.
    """

    __slots__ = ("crashed", "error", "why")

    def __init__(self, error: BaseException, *, crashed: bool, why: str | None = None) -> None:
        self.error = error
        self.crashed = crashed
        self.why = why

    def __reduce__(self) -> tuple[Any, ...]:
        error = self.error
        try:
            payload: bytes | None = _dump_exception(error)
            reason = ""
        except Exception as exc:  # the exception (or something it holds) cannot be pickled
            payload = None
            reason = f"{type(exc).__name__}: {exc}"
        summary = f"{_qualified_name(type(error))}: {error}"
        tb_data, tb_text = _traceback_data(error)
        return (
            _rebuild_raised,
            (payload, reason, summary, tb_data, tb_text, self.crashed, self.why),
        )


def _qualified_name(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


@functools.cache
def _exception_pickler() -> type:
    """cloudpickle's pickler (classes of ``__main__`` and by-value modules travel back), with
    every exception reduced by its own class's rules."""
    import cloudpickle

    class ExceptionPickler(cloudpickle.Pickler):  # type: ignore[misc]
        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, BaseException):
                return obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
            return super().reducer_override(obj)

    return ExceptionPickler


def _dump_exception(error: BaseException) -> bytes:
    buffer = io.BytesIO()
    _exception_pickler()(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(error)
    return buffer.getvalue()


def _traceback_data(error: BaseException) -> tuple[dict[str, Any] | None, str | None]:
    """The worker-side traceback of ``error``: tblib's dict if tblib is installed, else text."""
    tb = error.__traceback__
    if tb is None:
        return None, None
    try:
        tblib = importlib.import_module("tblib")
    except ImportError:  # pragma: no cover (Dask and trio-parallel both depend on tblib)
        return None, "".join(traceback.format_exception(type(error), error, tb))
    data: dict[str, Any] = tblib.Traceback(tb).to_dict()
    return data, None


def _rebuild_traceback(data: dict[str, Any]) -> TracebackType | None:
    try:
        tblib = importlib.import_module("tblib")
        rebuilt: TracebackType | None = tblib.Traceback.from_dict(data).as_traceback()
    except Exception:  # pragma: no cover (tblib missing here, or a format it cannot read)
        return None
    return rebuilt


def _rebuild_raised(
    payload: bytes | None,
    reason: str,
    summary: str,
    tb_data: dict[str, Any] | None,
    tb_text: str | None,
    crashed: bool,
    why: str | None,
) -> Raised:
    """Unpickling a `Raised`: never fails, whatever the exception was."""
    error: BaseException | None = None
    if payload is not None:
        try:
            error = pickle.loads(payload)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
        if error is not None and not isinstance(error, BaseException):  # pragma: no cover
            reason, error = f"it unpickled as {type(error).__name__}", None
    if error is None:
        error = RuntimeError(
            f"the call raised {summary} in its worker; that exception could not be sent back"
            f" ({reason})"
        )
    tb = _rebuild_traceback(tb_data) if tb_data is not None else None
    if tb is not None:
        error = error.with_traceback(tb)
    elif tb_text is not None:
        _add_note(error, f"Traceback in the worker:\n{tb_text}")
    return Raised(error, crashed=crashed, why=why)


def _add_note(error: BaseException, note: str) -> None:
    if sys.version_info >= (3, 11):
        error.add_note(note)
    else:  # pragma: no cover
        error.__notes__ = [*getattr(error, "__notes__", []), note]  # type: ignore[attr-defined]


def unwrap_remote(result: Any) -> Any:
    """What a worker sent back (`run_pickled`), as the call's outcome here: a value is
    returned; a `Raised` `Exception` is raised (the call is Failed); a `Raised` `BaseException`
    (or a call that could not be unpickled) is returned as a Crashed State.

    Raises:
      Exception: the exception the call raised in its worker.
    """
    if not isinstance(result, Raised):
        return result
    error = result.error
    if result.crashed:
        if _holds_cancelled(error):
            # Never a bare trio.Cancelled in a State: result() would raise it in the reader's
            # task, posing as that task's cancellation (as on the loop runners).
            message = "the call raised trio.Cancelled in its worker, where nothing cancelled it"
            wrapped = RuntimeError(message)
            wrapped.__cause__ = error
            return Crashed(wrapped, message=message)
        message = result.why or f"the call raised {type(error).__name__} in its worker"
        return Crashed(error, message=message)
    raise error


def runs_on_loop(call: object) -> bool:
    """True for a `LoopCall`: it runs on the event loop, unpickled (it orchestrates, and
    hands its work to ``runner.run_in_slot``, which is shipped)."""
    return isinstance(call, LoopCall)


class RemoteTaskRunner(PoolTaskRunner):
    """A runner whose calls run in another process: each call is pickled when submitted, so a
    call that cannot travel is refused at once instead of failing later.

    Backends implement `_run_remotely`. A `LoopCall` is not pickled: it runs on the event
    loop, and what it passes to `run_in_slot` is pickled and run remotely.
    """

    async def submit(self, key: Hashable, call: Callable[[], Any]) -> None:
        """Pickle ``call`` and submit it under ``key``; see `BaseTaskRunner.submit`.

        Always a checkpoint; returns once the call is accepted (it never waits for the call).

        Raises:
          RuntimeError: the runner is not started (or has exited).
          TypeError: ``call`` is not callable, is an async generator function, or cannot be
            pickled, or ``key`` is not hashable.
          ValueError: ``key`` was already submitted in this run.
        """
        if self._accepting and not isinstance(call, PickledCall):
            _check_call(key, call)  # what cannot be a call is refused before pickling
            if not runs_on_loop(call):
                call = pickle_call(call, key)
        await super().submit(key, call)

    async def _invoke(self, call: Callable[[], Any]) -> Any:
        if runs_on_loop(call):
            return await call()
        if not isinstance(call, PickledCall):
            call = pickle_call(call)  # TypeError if it cannot travel: the call is Failed
        return unwrap_remote(await self._run_remotely(call))

    @abc.abstractmethod
    async def _run_remotely(self, call: PickledCall) -> Any:
        """Run a pickled call where this backend runs calls; return what `run_pickled` returned
        there (a value or a `Raised`), or a Crashed State for a call the machinery lost.

        Must never raise an `Exception` of its own: an error of the machinery (a closed
        client or pool, a lost connection, a result that cannot travel) is returned as a
        Crashed State with a message, never raised (it would make the call Failed)."""
