"""The runner contract and the bookkeeping every backend shares.

Like CPython's ``concurrent.futures._base``, this module owns everything that is the same for every
backend: keys, States, waiters, cancellation, ``as_completed``, ``release``, the ``start()``
lifecycle, equality and pickling. A backend only says how an admitted call is executed
(`BaseTaskRunner._submit`, `BaseTaskRunner._invoke`).
"""

from __future__ import annotations

import abc
import contextlib
import enum
import functools
import inspect
import math
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from inspect import CO_ASYNC_GENERATOR, CO_COROUTINE
from types import FunctionType
from typing import Any, TypeVar, cast, final

import attrs
import trio

from ._instruments import Instrument, Instruments
from ._states import (
    Cancelled,
    Completed,
    Crashed,
    Failed,
    State,
    StateType,
    state_for_base_exception,
)

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["BaseTaskRunner", "RunnerStatistics", "TaskConcurrencyType"]

R = TypeVar("R", bound="BaseTaskRunner")

#: The runner and call executing in the current task (or in a thread or child task it started).
current_call: ContextVar[tuple[BaseTaskRunner, _CallRecord] | None] = ContextVar(
    "trio_runners_current_call", default=None
)


def current_runner() -> BaseTaskRunner | None:
    """The runner whose call is executing in the current task (or its threads), if any."""
    current = current_call.get()
    return None if current is None else current[0]


#: The size of a run's own thread limiter when no ``max_workers`` bounds it (Trio's default).
_DEFAULT_THREADS = 40

_EXIT_MESSAGE = "cancelled: the runner's start() block was left by an exception or a cancel"


class TaskConcurrencyType(enum.Enum):
    """How a runner executes the calls it is given."""

    SEQUENTIAL = "SEQUENTIAL"
    CONCURRENT = "CONCURRENT"
    PARALLEL = "PARALLEL"


@final
@attrs.frozen
class RunnerStatistics:
    """A snapshot of a runner's counters (Trio's ``statistics()`` convention).

    Attributes:
      queued: calls submitted but not yet executing.
      running: calls executing now (a cancelled call counts until its code has unwound).
      completed, failed, cancelled, crashed: calls of this run that ended in each State.
      retained: finished States still held (not yet released).
      waiters: tasks blocked in `wait` right now.
    """

    queued: int
    running: int
    completed: int
    failed: int
    cancelled: int
    crashed: int
    retained: int
    waiters: int

    @property
    def finished(self) -> int:
        """Calls of this run that have a terminal State."""
        return self.completed + self.failed + self.cancelled + self.crashed


class _CallRecord:
    """Bookkeeping for one submitted call."""

    __slots__ = ("call", "event", "key", "lent", "listeners", "room", "scope", "state")

    def __init__(self, key: Hashable, call: Callable[[], Any]) -> None:
        self.key = key
        self.call: Callable[[], Any] | None = call
        self.state: State[Any] | None = None
        self.event: trio.Event | None = None
        self.scope: trio.CancelScope | None = None
        self.listeners: list[trio.MemorySendChannel[tuple[Hashable, State[Any]]]] | None = None
        self.lent = 0  # how many of the call's tasks are waiting with its worker slot lent back
        #: The backpressure semaphore whose token this queued call holds (see `_pool`), if any.
        self.room: trio.Semaphore | None = None


def is_async_callable(call: object) -> bool:
    """True if calling ``call`` returns a coroutine (async functions, partials of them, objects
    with an ``async def __call__``)."""
    if type(call) is FunctionType:  # the common case, without inspect's unwrapping
        return bool(call.__code__.co_flags & CO_COROUTINE)
    while isinstance(call, functools.partial):
        call = call.func
    if inspect.iscoroutinefunction(call):
        return True
    dunder_call = getattr(type(call), "__call__", None)  # noqa: B004 (async __call__ objects)
    return inspect.iscoroutinefunction(dunder_call)


def is_async_generator_callable(call: object) -> bool:
    """True if calling ``call`` returns an async generator (its body would never run as a call)."""
    while isinstance(call, functools.partial):
        call = call.func
    if inspect.isasyncgenfunction(call):
        return True
    dunder_call = getattr(type(call), "__call__", None)  # noqa: B004
    return inspect.isasyncgenfunction(dunder_call)


def _check_call(key: Hashable, call: object) -> None:
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


def _stops_the_process(exc: BaseException) -> bool:
    """True for `KeyboardInterrupt` / `SystemExit`, alone or inside an exception group."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup((KeyboardInterrupt, SystemExit)) is not None
    return False


def _holds_cancelled(exc: BaseException) -> bool:
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
    if not _holds_cancelled(exc):
        return Crashed(
            exc, f"the call raised {type(exc).__name__}, a BaseException that is not an Exception"
        )
    message = "the call raised trio.Cancelled, but no cancel scope around it was cancelled"
    error = RuntimeError(message)
    error.__cause__ = exc
    return Crashed(error, message)


def _unhashable(key: object) -> TypeError:
    return TypeError(f"unhashable key: a key must be hashable, not {type(key).__name__} ({key!r})")


def _call_in_box(call: Callable[[], Any]) -> tuple[Any]:
    """Run a sync call in a worker thread; the box lets it return a coroutine (awaited on the
    loop afterwards), which `trio.to_thread.run_sync` would otherwise refuse."""
    return (call(),)


class BaseTaskRunner(abc.ABC):
    """The contract every runner implements; see the subclasses for how calls execute.

    A runner is configured by its constructor options only. ``==`` compares the type and the
    options, ``duplicate()`` makes a new unstarted runner with the same options, and a runner
    pickles to its options (the copy is not started).

    Checkpoints: ``submit``, ``wait`` and each step of ``as_completed`` always checkpoint;
    ``cancel``, ``cancel_all``, ``release``, ``state``, ``statistics`` and ``duplicate`` are
    synchronous and never do. Cancellation: cancelling a *waiter* never affects the call;
    cancelling the scope around ``start()`` cancels every unfinished call (see `start`).
    """

    #: True for backends that report ``admitted`` themselves (when a call takes a worker slot);
    #: otherwise `_execute` reports it right before ``started``.
    _admits_itself = False

    def __init__(self, *, instruments: Iterable[Instrument] = ()) -> None:
        self._instruments = Instruments(instruments)
        self._hooks = self._instruments.hooks  # truthy iff some instrument listens
        self._started = False
        self._accepting = False
        self._exited = False  # a run has ended (submit says "has exited", not "not started")
        self._calls: dict[Hashable, _CallRecord] = {}
        self._unfinished = 0
        self._running = 0
        self._waiters = 0
        self._counts = dict.fromkeys(StateType, 0)
        self._idle: trio.Event | None = None
        self._nursery: trio.Nursery | None = None
        self._thread_limiter: trio.CapacityLimiter | None = None

    # ------------------------------------------------------------------ configuration

    @property
    @abc.abstractmethod
    def concurrency_type(self) -> TaskConcurrencyType:
        """`TaskConcurrencyType` of this runner."""

    @property
    def name(self) -> str:
        """The class name, lowercased, without ``taskrunner``: ``sequential``, ``concurrent``..."""
        return type(self).__name__.lower().replace("taskrunner", "")

    def _options(self) -> dict[str, Any]:
        """The constructor options of this runner (override when there are any)."""
        return {}

    def duplicate(self: R) -> R:
        """A new, unstarted runner with the same options and the same instruments. Not a
        checkpoint."""
        return type(self)(**self._options(), instruments=self._instruments.instruments)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, BaseTaskRunner)
        return self._options() == other._options()

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self._options().items()))))

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self._options().items())
        return f"{type(self).__name__}({options})"

    def __getstate__(self) -> dict[str, Any]:
        return self._options()  # instruments are observers, not configuration: not pickled

    # ------------------------------------------------------------------ instruments

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        """The attached instruments (see `trio_runners.abc.Instrument`)."""
        return tuple(self._instruments.instruments)

    def add_instrument(self, instrument: Instrument) -> None:
        """Attach ``instrument`` (no-op if attached already). Not a checkpoint.

        Raises:
          TypeError: ``instrument`` is not an `Instrument`.
        """
        self._instruments.add(instrument)

    def remove_instrument(self, instrument: Instrument) -> None:
        """Detach ``instrument``. Not a checkpoint.

        Raises:
          KeyError: ``instrument`` is not attached.
        """
        self._instruments.remove(instrument)

    def __setstate__(self, options: dict[str, Any]) -> None:
        type(self).__init__(self, **options)

    # ------------------------------------------------------------------ lifecycle

    @asynccontextmanager
    async def start(self: R) -> AsyncIterator[R]:
        """Start the runner for one run and yield it.

        Opens the runner's nursery (and whatever the backend needs). Leaving the block normally
        waits until every submitted call has finished (calls may still submit more calls while it
        waits). Leaving it by an exception, or by a cancel of the enclosing scope, cancels every
        unfinished call (each becomes Cancelled) and the exception propagates, inside an exception
        group as Trio's nurseries do. A call that raises `KeyboardInterrupt` or `SystemExit` is
        Crashed, and that exception cancels the run and propagates the same way; any other
        `BaseException` from a call (a stray `trio.Cancelled`, a `BaseExceptionGroup`) only makes
        that call Crashed.

        Each ``start()`` begins a fresh run with no keys; States of the previous run stay readable
        until then.

        Raises:
          RuntimeError: if the runner is already started.
        """
        if self._started:
            raise RuntimeError(
                f"{self!r} is already started; use runner.duplicate() for a second one"
            )
        self._started = True
        self._calls = {}
        self._unfinished = 0
        self._running = 0
        self._counts = dict.fromkeys(StateType, 0)
        self._idle = None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._thread_limiter = self._make_thread_limiter()
                try:
                    await self._open(nursery)
                    self._accepting = True
                    yield self
                    await self._drain()
                except BaseException:
                    self._cancel_unfinished(_EXIT_MESSAGE)
                    raise
                finally:
                    self._accepting = False
                    self._close()
        finally:
            self._nursery = None
            self._started = False
            self._exited = True

    async def _drain(self) -> None:
        """Wait until every submitted call has a terminal State."""
        if self._unfinished:
            self._idle = trio.Event()
            await self._idle.wait()
            self._idle = None

    def _make_thread_limiter(self) -> trio.CapacityLimiter:
        """The limiter for this run's worker threads (sync calls): a limiter of the run's own,
        sized like Trio's default (40), never Trio's global default limiter, so that threads
        abandoned by this run's cancelled sync calls cannot starve the rest of the process
        (other ``trio.to_thread`` users, the next run)."""
        return trio.CapacityLimiter(_DEFAULT_THREADS)

    async def _open(self, nursery: trio.Nursery) -> None:  # noqa: B027
        """Hook: set up the backend inside the run's nursery, before the block runs."""

    def _close(self) -> None:  # noqa: B027
        """Hook: stop accepting work (e.g. close channels); synchronous, runs on every exit."""

    @property
    def started(self) -> bool:
        """True between entering and leaving `start()`."""
        return self._started

    # ------------------------------------------------------------------ backend hooks

    @abc.abstractmethod
    async def _submit(self, record: _CallRecord) -> None:
        """Hand a registered call to the backend. Must checkpoint. Runs `_execute` eventually."""

    def _invoke(self, call: Callable[[], Any]) -> Awaitable[Any]:
        """Return an awaitable that runs one call (inside its cancel scope) and gives its result.

        Default: an async callable's own coroutine, awaited on the event loop (no extra frame);
        a sync callable runs in `_run_sync_in_thread`.
        """
        if is_async_callable(call):
            return cast(Awaitable[Any], call())
        return self._run_sync_in_thread(call)

    async def _run_sync_in_thread(self, call: Callable[[], Any]) -> Any:
        """Run a sync call in a worker thread bounded by the run's thread limiter, abandoned on
        cancel (``trio.from_thread.check_cancelled()`` lets the call notice); an awaitable it
        returns is awaited on the loop."""
        (result,) = await trio.to_thread.run_sync(
            _call_in_box, call, abandon_on_cancel=True, limiter=self._thread_limiter
        )
        if inspect.isawaitable(result):
            return await result
        return result

    async def _execute(self, record: _CallRecord) -> None:
        """Execute an admitted call and record its State (first State recorded wins).

        `Exception` -> Failed. Its own scope cancelled -> Cancelled. Cancellation from an
        enclosing scope -> Cancelled, then re-raised. `KeyboardInterrupt` / `SystemExit` (alone or
        in a group) -> Crashed, then re-raised. Any other `BaseException` -> Crashed, and the run
        is left alone: a stray `trio.Cancelled` that no scope of ours nor an enclosing one caused,
        a `GeneratorExit`, a `BaseExceptionGroup` of such, are the call's own defect.
        """
        if record.state is not None:  # cancelled while queued: never starts
            return
        call = record.call
        record.call = None
        if call is None:  # pragma: no cover - a record is executed once
            self._finish(record, Crashed(RuntimeError(f"call {record.key!r} executed twice")))
            return
        if self._hooks:
            if not self._admits_itself:
                self._instruments.emit("admitted", self, record.key)
            self._instruments.emit("started", self, record.key)
        scope = record.scope = trio.CancelScope()
        self._running += 1
        token = current_call.set((self, record))
        try:
            with scope:
                result = await self._invoke(call)
        except Exception as exc:
            self._finish(record, Failed(exc))
        except BaseException as exc:
            if _stops_the_process(exc) or (_holds_cancelled(exc) and _enclosing_scope_cancelled()):
                self._finish(record, state_for_base_exception(exc))
                raise
            self._finish(record, _crash_of_the_call(exc))
            if _enclosing_scope_cancelled():
                # The call replaced an enclosing cancellation with its own BaseException: that
                # is the call's Crashed State, and the cancellation goes on (Trio's cancels are
                # level-triggered, so this raises it again).
                await trio.lowlevel.checkpoint_if_cancelled()
        else:
            if scope.cancelled_caught:
                self._finish(record, Cancelled("cancelled"))
            elif isinstance(result, State):
                self._finish(record, result)
            else:
                self._finish(record, Completed(result))
        finally:
            current_call.reset(token)
            self._running -= 1
            record.scope = None

    @trio.lowlevel.enable_ki_protection
    def _finish(self, record: _CallRecord, state: State[Any]) -> None:
        """Record ``state`` as the call's terminal State unless it has one; wake its waiters."""
        if record.state is not None:
            return
        record.state = state
        record.call = None
        if record.room is not None:  # finished while queued: its pending room is free at once
            record.room.release()
            record.room = None
        self._counts[state.type] += 1
        self._unfinished -= 1
        if self._hooks:
            self._instruments.emit("finished", self, record.key, state)
        if record.event is not None:
            record.event.set()
        if record.listeners is not None:
            for listener in record.listeners:
                # A consumer that called aclose() has stopped listening.
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    listener.send_nowait((record.key, state))
            record.listeners = None
        if self._unfinished == 0 and self._idle is not None:
            self._idle.set()

    @trio.lowlevel.enable_ki_protection
    def _abort(self, record: _CallRecord, exc: BaseException) -> None:
        """The submitter was interrupted before the call was handed over: end the call."""
        if isinstance(exc, Exception):
            self._finish(record, Crashed(exc))
        else:
            self._finish(record, state_for_base_exception(exc))
        if record.scope is not None:
            record.scope.cancel()

    def _lookup(self, key: Hashable) -> _CallRecord:
        try:
            return self._calls[key]
        except KeyError:
            raise KeyError(
                f"unknown key {key!r}: it was not submitted in this run, or it was released"
            ) from None
        except TypeError:
            raise _unhashable(key) from None

    # ------------------------------------------------------------------ the contract

    async def submit(self, key: Hashable, call: Callable[[], Any]) -> None:
        """Submit ``call`` (a zero-argument callable, sync or async) under ``key``.

        What "submitted" means depends on the runner: the sequential runner runs the call to
        completion here; the concurrent runners return once the call is accepted (waiting only for
        ``max_pending`` backpressure). The call may return a value, an awaitable, or a `State`
        (kept as is). Always a checkpoint. If the submitter is cancelled before the call was
        handed over (or, for the sequential runner, while it runs), the call ends Cancelled and
        `trio.Cancelled` propagates.

        Raises:
          RuntimeError: the runner is not started, or has exited (the message says which).
          TypeError: ``call`` is not callable or is an async generator function (whose body
            would never run), or ``key`` is not hashable.
          ValueError: ``key`` was already submitted in this run (and not released).
        """
        if not self._accepting:
            raise RuntimeError(self._not_accepting_message(key))
        _check_call(key, call)
        calls = self._calls
        try:
            known = key in calls
        except TypeError:
            raise _unhashable(key) from None
        if known:
            raise ValueError(f"key {key!r} was already submitted in this run")
        record = calls[key] = _CallRecord(key, call)
        self._unfinished += 1
        if self._hooks:
            self._instruments.emit("submitted", self, key)
        try:
            await self._submit(record)
        except BaseException as exc:
            self._abort(record, exc)
            raise

    def _not_accepting_message(self, key: Hashable) -> str:
        if self._started:
            return f"{self!r} is leaving its start() block: it accepts no new call ({key!r})"
        if self._exited:
            return (
                f"{self!r} has exited: its start() block is over and it is not started any "
                f"more, so call {key!r} cannot be submitted; submit inside 'async with "
                "runner.start():'"
            )
        return f"{self!r} is not started: submit calls inside 'async with runner.start():'"

    async def wait(self, key: Hashable, timeout: float | None = None) -> State[Any] | None:
        """Wait for the call's final State; None if ``timeout`` seconds pass first.

        ``timeout=None`` waits as long as it takes; ``timeout=0`` polls. The call's own exception
        never escapes (it is inside the State) and a timeout never disturbs the call. Every
        waiter on a key gets the same State object. If the call finishes at the very instant the
        timeout expires, either answer may be returned. Always a checkpoint; if the waiter is
        cancelled, `trio.Cancelled` propagates and the call is unaffected.

        Waited from inside a call of the same runner, the worker slot held by that call is lent
        back while it waits (see `ConcurrentTaskRunner`), so nested waits cannot deadlock.

        Raises:
          KeyError: ``key`` is unknown (never submitted in this run, or released).
          TypeError: ``timeout`` is not None or a number.
          ValueError: ``timeout`` is negative or NaN.
        """
        if timeout is not None:
            if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
                raise TypeError(
                    f"timeout must be None or a number of seconds, not {type(timeout).__name__} "
                    f"({timeout!r})"
                )
            if not timeout >= 0:
                raise ValueError(f"timeout must be None or >= 0, not {timeout!r}")
        record = self._lookup(key)
        state = record.state
        if state is not None or timeout == 0:
            await trio.lowlevel.checkpoint()
            return record.state
        event = record.event
        if event is None:
            event = record.event = trio.Event()
        self._waiters += 1
        try:
            async with self._slot_lent():
                if timeout is None:
                    await event.wait()
                else:
                    with trio.move_on_after(timeout):
                        await event.wait()
        finally:
            self._waiters -= 1
        return record.state

    @asynccontextmanager
    async def _slot_lent(self) -> AsyncIterator[None]:
        """Around a wait: if the current task belongs to one of this runner's calls, let the
        backend lend that call's worker slot back for the duration (see `_lend_slot`)."""
        current = current_call.get()
        if current is None or current[0] is not self:
            yield
            return
        record = current[1]
        record.lent += 1
        if record.lent == 1:
            self._lend_slot()
        try:
            yield
        finally:
            record.lent -= 1
            if record.lent == 0:
                # Take a slot back before the call resumes. Shielded so that the slot count
                # stays exact: the call's task gives back exactly one slot when it ends. Every
                # slot holder is a running call, so this wait ends when one of them does.
                with trio.CancelScope(shield=True):
                    await self._reclaim_slot()

    def _lend_slot(self) -> None:  # noqa: B027
        """Hook for runners with worker slots: give the current call's slot back."""

    async def _reclaim_slot(self) -> None:  # noqa: B027
        """Hook for runners with worker slots: take a slot for the current call again."""

    @trio.lowlevel.enable_ki_protection
    def cancel(self, key: Hashable) -> bool:
        """Cancel one call; not a checkpoint (synchronous).

        A queued call never starts; a running call has its own cancel scope cancelled. The State
        becomes Cancelled at once and waiters wake. Siblings and the runner are not disturbed.

        Returns:
          True if the call was unfinished and is now Cancelled; False if it had already finished.

        Raises:
          KeyError: ``key`` is unknown.
        """
        record = self._lookup(key)
        if record.state is not None:
            return False
        self._cancel_record(record, "cancelled by cancel()")
        return True

    @trio.lowlevel.enable_ki_protection
    def cancel_all(self) -> int:
        """Cancel every unfinished call of this run, as `cancel`; return how many were cancelled.
        Not a checkpoint. The runner keeps accepting new calls."""
        return self._cancel_unfinished("cancelled by cancel_all()")

    def _cancel_unfinished(self, message: str) -> int:
        unfinished = [r for r in self._calls.values() if r.state is None]
        for record in unfinished:
            self._cancel_record(record, message)
        return len(unfinished)

    @trio.lowlevel.enable_ki_protection
    def _cancel_record(self, record: _CallRecord, message: str) -> None:
        if self._hooks:
            self._instruments.emit("cancel_requested", self, record.key)
        self._finish(record, Cancelled(message))
        if record.scope is not None:
            record.scope.cancel()

    def as_completed(self, keys: Iterable[Hashable]) -> AsCompleted:
        """An async iterator of ``(key, State)`` for ``keys``, in the order they finish.

        Calls that have already finished come first. Duplicate keys are reported once. Backed by a
        memory channel sized to ``keys``: no polling, and the runner never blocks on a slow
        consumer. Each step is a checkpoint; cancelling the consumer does not affect the calls.
        Call ``aclose()`` (or use ``async with``) to stop listening early.

        Raises:
          KeyError: at once, if any key is unknown.
          TypeError: ``keys`` is not iterable, or a key is unhashable.
        """
        try:
            wanted = list(keys)
        except TypeError:
            raise TypeError(
                f"as_completed takes an iterable of keys, not {type(keys).__name__}"
            ) from None
        records = [self._lookup(key) for key in wanted]  # unknown or unhashable: raises
        records = list({id(record): record for record in records}.values())  # duplicates once
        return AsCompleted(self, records)

    @trio.lowlevel.enable_ki_protection
    def release(self, key: Hashable) -> None:
        """Forget a finished call's State so memory stays bounded; the key may be reused.
        Not a checkpoint.

        Raises:
          KeyError: ``key`` is unknown.
          RuntimeError: the call has not finished.
        """
        record = self._lookup(key)
        if record.state is None:
            raise RuntimeError(f"call {key!r} has not finished; cancel or wait for it first")
        del self._calls[key]
        if self._hooks:
            self._instruments.emit("released", self, key)

    def state(self, key: Hashable) -> State[Any] | None:
        """The call's State if it has finished, else None. Not a checkpoint.

        Raises:
          KeyError: ``key`` is unknown.
        """
        return self._lookup(key).state

    def statistics(self) -> RunnerStatistics:
        """Counters of the current (or last) run; see `RunnerStatistics`. Not a checkpoint."""
        counts = self._counts
        return RunnerStatistics(
            queued=self._unfinished - self._running,
            running=self._running,
            completed=counts[StateType.COMPLETED],
            failed=counts[StateType.FAILED],
            cancelled=counts[StateType.CANCELLED],
            crashed=counts[StateType.CRASHED],
            retained=len(self._calls) - self._unfinished,
            waiters=self._waiters,
        )


@final
class AsCompleted:
    """Async iterator returned by `BaseTaskRunner.as_completed`.

    Each step is a checkpoint. A cancelled step loses nothing: the ``(key, State)`` it was
    waiting for is delivered by the next step. Cancelling the consumer never affects the calls.
    """

    def __init__(self, runner: BaseTaskRunner, records: list[_CallRecord]) -> None:
        self._runner = runner
        send, receive = trio.open_memory_channel[tuple[Hashable, State[Any]]](max(len(records), 1))
        for record in records:
            if record.state is not None:
                send.send_nowait((record.key, record.state))
            elif record.listeners is None:
                record.listeners = [send]
            else:
                record.listeners.append(send)
        self._receive = receive
        self._remaining = len(records)

    def __aiter__(self) -> AsCompleted:
        return self

    async def __anext__(self) -> tuple[Hashable, State[Any]]:
        """The next finished ``(key, State)``. A checkpoint."""
        if self._remaining == 0:
            await trio.lowlevel.checkpoint()
            raise StopAsyncIteration
        async with self._runner._slot_lent():
            item = await self._receive.receive()
        self._remaining -= 1
        return item

    async def aclose(self) -> None:
        """Stop listening; later completions are not delivered. A checkpoint."""
        self._remaining = 0
        await self._receive.aclose()

    async def __aenter__(self) -> AsCompleted:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
