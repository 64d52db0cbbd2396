"""The runner contract: `BaseTaskRunner`'s public methods, its lifecycle, and the backend hooks.

Like the ``Executor`` of CPython's ``concurrent.futures._base``, this module is the small
contract every backend implements; the machinery it stands on lives in modules of its own: the
call table (`_calls`: keys, States, waiters, counters), execution (`_execution`: how a call's
ending becomes its State), worker slots (`_slots`, used by `_pool`) and runner identity
(`_identity`). A backend says how an accepted call is handed over (`BaseTaskRunner._submit`),
how it is executed (`BaseTaskRunner._invoke`) and what it sets up for a run
(`BaseTaskRunner._backend`, one async context manager).

What a call may ask of the runner running it is public, so that code built on the contract (the
flow layer, ``trio_runners/flows/``) needs nothing private: `BaseTaskRunner.run_in_slot` runs
more work inside the current call's worker slot, where the runner runs calls;
`BaseTaskRunner.lend_slot` gives the slot back while the call waits; `has_backpressure` says
whether `submit` may wait for room; and a `LoopCall` stays on the loop on every runner.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from contextlib import nullcontext as _nullcontext
from typing import Any, TypeVar, cast

import trio

from ._calls import AsCompleted, CallRecord, CallTable, RunnerStatistics, check_timeout
from ._calls import current_call as current_call
from ._execution import check_call, execute, run_sync_in_thread
from ._execution import is_async_callable as is_async_callable
from ._identity import RunnerIdentity
from ._instruments import Instrument, Instruments
from ._loop_call import LoopCall as LoopCall
from ._states import Crashed, State, state_for_base_exception

__all__ = [
    "AsCompleted",
    "BaseTaskRunner",
    "LoopCall",
    "RunnerStatistics",
    "TaskConcurrencyType",
]

R = TypeVar("R", bound="BaseTaskRunner")

#: The size of a run's own thread limiter when no ``max_workers`` bounds it (Trio's default).
_DEFAULT_THREADS = 40

_EXIT_MESSAGE = "cancelled: the runner's start() block was left by an exception or a cancel"

#: Nothing to lend: what `BaseTaskRunner._slot_lent` enters for runners without worker slots.
_NOTHING_LENT: AbstractAsyncContextManager[None] = _nullcontext()


def current_runner() -> BaseTaskRunner | None:
    """The runner whose call is executing in the current task (or its threads), if any."""
    current = current_call.get()
    return None if current is None else cast(BaseTaskRunner, current[0])


class TaskConcurrencyType(enum.Enum):
    """How a runner executes the calls it is given."""

    SEQUENTIAL = "SEQUENTIAL"
    CONCURRENT = "CONCURRENT"
    PARALLEL = "PARALLEL"


class BaseTaskRunner(RunnerIdentity, abc.ABC):
    """The contract every runner implements; see the subclasses for how calls execute.

    A runner is configured by its constructor options only. ``==`` compares the type and the
    options, ``duplicate()`` makes a new unstarted runner with the same options, and a runner
    pickles to its options (the copy is not started).

    Checkpoints: ``submit``, ``wait`` and each step of ``as_completed`` always checkpoint;
    ``cancel``, ``cancel_all``, ``release``, ``state``, ``statistics`` and ``duplicate`` are
    synchronous and never do. Cancellation: cancelling a *waiter* never affects the call;
    cancelling the scope around ``start()`` cancels every unfinished call (see `start`).
    """

    def __init__(self, *, instruments: Iterable[Instrument] = ()) -> None:
        self._instruments = Instruments(instruments)
        self._started = False
        self._accepting = False
        self._exited = False  # a run has ended (submit says "has exited", not "not started")
        self._table = CallTable(self, self._instruments)
        self._nursery: trio.Nursery | None = None
        self._thread_limiter: trio.CapacityLimiter | None = None

    @property
    @abc.abstractmethod
    def concurrency_type(self) -> TaskConcurrencyType:
        """`TaskConcurrencyType` of this runner."""

    @property
    def name(self) -> str:
        """The class name, lowercased, without ``taskrunner``: ``sequential``, ``concurrent``..."""
        return type(self).__name__.lower().replace("taskrunner", "")

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
        table = self._table = CallTable(self, self._instruments)
        try:
            async with AsyncExitStack() as stack:
                nursery = await stack.enter_async_context(trio.open_nursery())
                self._nursery = nursery
                self._thread_limiter = self._make_thread_limiter()
                try:
                    await stack.enter_async_context(self._backend(nursery))
                    self._accepting = True
                    yield self
                    await table.wait_idle()
                except BaseException:
                    table.cancel_unfinished(_EXIT_MESSAGE)
                    raise
                finally:
                    self._accepting = False
        finally:
            self._nursery = None
            self._started = False
            self._exited = True

    @property
    def started(self) -> bool:
        """True between entering and leaving `start()`."""
        return self._started

    def _make_thread_limiter(self) -> trio.CapacityLimiter:
        """The limiter for this run's worker threads (sync calls): a limiter of the run's own,
        sized like Trio's default (40), never Trio's global default limiter, so that threads
        abandoned by this run's cancelled sync calls cannot starve the rest of the process
        (other ``trio.to_thread`` users, the next run)."""
        return trio.CapacityLimiter(_DEFAULT_THREADS)

    # ------------------------------------------------------------------ backend hooks

    @asynccontextmanager
    async def _backend(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        """Hook: the backend's set-up and tear-down for one run, as one async context manager
        (default: nothing to set up).

        Entered inside the run's nursery (start background tasks in ``nursery``) before the
        block runs; left when the block is over: after every call finished (a normal exit) or
        after every unfinished call was cancelled (an exception), before the nursery waits for
        its tasks. Leaving it must stop accepting work (e.g. close channels).
        """
        yield

    @abc.abstractmethod
    async def _submit(self, record: CallRecord) -> None:
        """Hand a registered call to the backend. Must checkpoint. Runs `_execute` eventually."""

    def _invoke(self, call: Callable[[], Any]) -> Awaitable[Any]:
        """Return an awaitable that runs one call (inside its cancel scope) and gives its result.

        Default: an async callable's own coroutine, awaited on the event loop (no extra frame);
        a sync callable runs in a worker thread under the run's thread limiter.
        """
        if is_async_callable(call):
            return cast(Awaitable[Any], call())
        return run_sync_in_thread(call, self._thread_limiter)

    async def _execute(self, record: CallRecord) -> None:
        """Execute an accepted call with `_invoke` and record its State (see `_execution`)."""
        await execute(self._table, record, self._invoke, admitted=False)

    def _slot_lent(self) -> AbstractAsyncContextManager[None]:
        """What a wait on this runner enters: runners with worker slots lend the current call's
        slot back for the duration when the waiter is one of their calls (see `_slots`)."""
        return _NOTHING_LENT

    # ------------------------------------------------------------------ what a call may ask

    async def run_in_slot(self, call: Callable[[], Any]) -> Any:
        """From inside one of this runner's calls: run ``call`` (zero-argument, sync or async)
        as part of it, where this runner runs calls, and return its result. No key, no State:
        it runs in the current call's worker slot, under its cancel scope (the loop runners:
        async on the loop, sync in a worker thread; processes and Dask: pickled and shipped).
        A backend says where by overriding `_invoke`.

        A checkpoint. Cancelling the caller cancels the work as a call is cancelled (a sync
        call's thread is abandoned, a remote one is cancelled there); `trio.Cancelled`
        propagates.

        Raises:
          RuntimeError: not called from inside one of this runner's calls.
          Exception: what ``call`` raised (a remote runner raises `TypeError` for work that
            cannot travel, and returns a Crashed `State` for work its machinery lost).
        """
        current = current_call.get()
        if current is None or current[0] is not self:
            raise RuntimeError(
                f"{self!r}.run_in_slot() runs work inside one of this runner's calls; it was "
                "called from outside them (submit the work as a call instead)"
            )
        if is_async_callable(call):
            await trio.lowlevel.checkpoint()  # the coroutine may never checkpoint itself
        return await self._invoke(call)

    def lend_slot(self) -> AbstractAsyncContextManager[None]:
        """Around a wait made inside one of this runner's calls: the call's worker slot (and
        thread token) is lent back inside the block, so queued calls may run, and taken again
        (FIFO) before the block is left, so waiting on calls of the same runner cannot
        deadlock, even with one worker. `wait` and `as_completed` enter it themselves.

        Elsewhere, or on a runner without slots, it lends nothing. Entering is not a
        checkpoint; leaving waits, shielded, for a slot (a slot holder is a running call, so
        the wait ends). A backend with slots overrides it (ours: `_slot_lent`).
        """
        return self._slot_lent()

    @property
    def has_backpressure(self) -> bool:
        """True if `submit` may wait for room before accepting a call (``max_pending``): a
        submitter that must feel it submits itself rather than queue calls. Default False."""
        return False

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
        check_call(key, call)
        record = self._table.register(key, call)
        try:
            await self._submit(record)
        except BaseException as exc:
            self._abort(record, exc)
            raise

    @trio.lowlevel.enable_ki_protection
    def _abort(self, record: CallRecord, exc: BaseException) -> None:
        """The submitter was interrupted before the call was handed over: end the call."""
        if isinstance(exc, Exception):
            self._table.finish(record, Crashed(exc))
        else:
            self._table.finish(record, state_for_base_exception(exc))
        if record.scope is not None:
            record.scope.cancel()

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
        check_timeout(timeout)
        record = self._table.lookup(key)
        if record.state is not None:  # finished: nothing to wait for, no slot to lend
            await trio.lowlevel.checkpoint()
            return record.state
        return await self._table.wait(record, timeout, self.lend_slot)

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
        record = self._table.lookup(key)
        if record.state is not None:
            return False
        self._table.cancel(record, "cancelled by cancel()")
        return True

    @trio.lowlevel.enable_ki_protection
    def cancel_all(self) -> int:
        """Cancel every unfinished call of this run, as `cancel`; return how many were cancelled.
        Not a checkpoint. The runner keeps accepting new calls."""
        return self._table.cancel_unfinished("cancelled by cancel_all()")

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
        return self._table.as_completed(keys, self.lend_slot)

    def release(self, key: Hashable) -> None:
        """Forget a finished call's State so memory stays bounded; the key may be reused.
        Not a checkpoint.

        Raises:
          KeyError: ``key`` is unknown.
          RuntimeError: the call has not finished.
        """
        self._table.release(key)

    def state(self, key: Hashable) -> State[Any] | None:
        """The call's State if it has finished, else None. Not a checkpoint.

        Raises:
          KeyError: ``key`` is unknown.
        """
        return self._table.lookup(key).state

    def statistics(self) -> RunnerStatistics:
        """Counters of the current (or last) run; see `RunnerStatistics`. Not a checkpoint."""
        return self._table.statistics()
