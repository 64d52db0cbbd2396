"""The call table: one run's keys, their records and States, waiters, listeners and counters.

Like the ``Future`` of CPython's ``concurrent.futures``, a `CallRecord` owns its call's state;
the `CallTable` owns the records of one run: it registers calls, records each call's terminal
State exactly once (`CallTable.finish`, which wakes waiters and ``as_completed`` listeners),
cancels, releases, and counts (`RunnerStatistics`). Its synchronous bookkeeping runs under
``trio.lowlevel.enable_ki_protection``, as Trio's own ``_sync.py`` does, so a
``KeyboardInterrupt`` never leaves a record half-finished. It knows nothing of backends: how a
call is executed is `_execution`'s, how it is admitted is `_slots`'.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Hashable, Iterable
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from typing import Any, final

import attrs
import trio

from ._instruments import Instruments
from ._states import Cancelled, State, StateType

__all__ = ["AsCompleted", "CallRecord", "CallTable", "RunnerStatistics", "current_call"]


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


@final
class CallRecord:
    """Bookkeeping for one submitted call: the call until it starts, its State once finished."""

    __slots__ = ("call", "context", "event", "key", "lent", "listeners", "room", "scope", "state")

    def __init__(self, key: Hashable, call: Callable[[], Any]) -> None:
        self.key = key
        self.call: Callable[[], Any] | None = call
        self.state: State[Any] | None = None
        self.event: trio.Event | None = None
        self.scope: trio.CancelScope | None = None
        self.listeners: list[trio.MemorySendChannel[tuple[Hashable, State[Any]]]] | None = None
        #: How many of the call's tasks wait with its worker slot lent back (see `_slots`).
        self.lent = 0
        #: The backpressure token this queued call holds (see `_slots`), given back by `finish`.
        self.room: trio.Semaphore | None = None
        #: The submitter's context while the call waits in the queue (see `_slots`): the call's
        #: task starts in a copy of it, as a call started at once does.
        self.context: contextvars.Context | None = None


#: The runner and call executing in the current task (or in a thread or child task it started).
current_call: ContextVar[tuple[object, CallRecord] | None] = ContextVar(
    "trio_runners_current_call", default=None
)


def unhashable(key: object) -> TypeError:
    """The error every method raises for an unhashable key."""
    return TypeError(f"unhashable key: a key must be hashable, not {type(key).__name__} ({key!r})")


def check_timeout(timeout: object) -> None:
    """Refuse a timeout that is not None or a number >= 0, naming ``timeout``.

    Raises:
      TypeError: ``timeout`` is not None or a number (bools are refused).
      ValueError: ``timeout`` is negative or NaN.
    """
    if timeout is None:
        return
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
        raise TypeError(
            f"timeout must be None or a number of seconds, not {type(timeout).__name__} "
            f"({timeout!r})"
        )
    if not timeout >= 0:
        raise ValueError(f"timeout must be None or >= 0, not {timeout!r}")


@final
class CallTable:
    """The records of one run, keyed by the keys they were submitted under.

    ``owner`` is the runner, passed to instruments as the runner the events are about.
    Nothing here is a checkpoint except `wait_idle` and `wait`.
    """

    __slots__ = (
        "counts",
        "hooks",
        "idle",
        "instruments",
        "owner",
        "records",
        "running",
        "unfinished",
        "waiters",
    )

    def __init__(self, owner: object, instruments: Instruments) -> None:
        self.owner = owner
        self.instruments = instruments
        self.hooks = instruments.hooks  # truthy iff some instrument listens (mutated in place)
        self.records: dict[Hashable, CallRecord] = {}
        self.unfinished = 0
        self.running = 0
        self.waiters = 0
        # Keyed by the member's name: a str hashes in C, an Enum member in Python (0.3 µs).
        self.counts = {state_type._name_: 0 for state_type in StateType}
        self.idle: trio.Event | None = None

    def emit(self, event: str, key: Hashable, *extra: Any) -> None:
        """Report ``event`` for ``key`` to the instruments (call only when `hooks` is truthy)."""
        self.instruments.emit(event, self.owner, key, *extra)

    def register(self, key: Hashable, call: Callable[[], Any]) -> CallRecord:
        """A new record for ``call`` under ``key``.

        Raises:
          TypeError: ``key`` is not hashable.
          ValueError: ``key`` is already in the table.
        """
        records = self.records
        try:
            known = key in records
        except TypeError:
            raise unhashable(key) from None
        if known:
            raise ValueError(f"key {key!r} was already submitted in this run")
        record = records[key] = CallRecord(key, call)
        self.unfinished += 1
        if self.hooks:
            self.emit("submitted", key)
        return record

    def lookup(self, key: Hashable) -> CallRecord:
        """The record of ``key``.

        Raises:
          KeyError: ``key`` is unknown (never submitted in this run, or released).
          TypeError: ``key`` is not hashable.
        """
        try:
            return self.records[key]
        except KeyError:
            raise KeyError(
                f"unknown key {key!r}: it was not submitted in this run, or it was released"
            ) from None
        except TypeError:
            raise unhashable(key) from None

    @trio.lowlevel.enable_ki_protection
    def finish(self, record: CallRecord, state: State[Any]) -> None:
        """Record ``state`` as the call's terminal State unless it has one; wake its waiters."""
        if record.state is not None:
            return
        record.state = state
        record.call = None
        if record.room is not None:  # finished while queued: its pending room is free at once
            record.room.release()
            record.room = None
        self.counts[state.type._name_] += 1
        self.unfinished -= 1
        if self.hooks:
            self.emit("finished", record.key, state)
        if record.event is not None:
            record.event.set()
        if record.listeners is not None:
            for listener in record.listeners:
                # A consumer that called aclose() has stopped listening.
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    listener.send_nowait((record.key, state))
            record.listeners = None
        if self.unfinished == 0 and self.idle is not None:
            self.idle.set()

    @trio.lowlevel.enable_ki_protection
    def cancel(self, record: CallRecord, message: str) -> None:
        """Record an unfinished call Cancelled and cancel its scope (if it is running)."""
        if self.hooks:
            self.emit("cancel_requested", record.key)
        self.finish(record, Cancelled(message))
        if record.scope is not None:
            record.scope.cancel()

    @trio.lowlevel.enable_ki_protection
    def cancel_unfinished(self, message: str) -> int:
        """Cancel every unfinished call, as `cancel`; return how many there were."""
        unfinished = [r for r in self.records.values() if r.state is None]
        for record in unfinished:
            self.cancel(record, message)
        return len(unfinished)

    @trio.lowlevel.enable_ki_protection
    def release(self, key: Hashable) -> None:
        """Forget a finished call.

        Raises:
          KeyError: ``key`` is unknown.
          RuntimeError: the call has not finished.
        """
        record = self.lookup(key)
        if record.state is None:
            raise RuntimeError(f"call {key!r} has not finished; cancel or wait for it first")
        del self.records[key]
        if self.hooks:
            self.emit("released", key)

    async def wait(
        self,
        record: CallRecord,
        timeout: float | None,
        lent: Callable[[], AbstractAsyncContextManager[None]],
    ) -> State[Any] | None:
        """Wait for ``record``'s State (None after ``timeout`` seconds), inside ``lent()``.
        Always a checkpoint; cancellation propagates and leaves the call alone."""
        state = record.state
        if state is not None or timeout == 0:
            await trio.lowlevel.checkpoint()
            return record.state
        event = record.event
        if event is None:
            event = record.event = trio.Event()
        self.waiters += 1
        try:
            async with lent():
                if timeout is None:
                    await event.wait()
                else:
                    with trio.move_on_after(timeout):
                        await event.wait()
        finally:
            self.waiters -= 1
        return record.state

    async def wait_idle(self) -> None:
        """Wait until every call in the table has a terminal State. A checkpoint only if some
        call is unfinished."""
        if self.unfinished:
            self.idle = trio.Event()
            await self.idle.wait()
            self.idle = None

    def statistics(self) -> RunnerStatistics:
        """The table's counters; see `RunnerStatistics`."""
        counts = self.counts
        return RunnerStatistics(
            queued=self.unfinished - self.running,
            running=self.running,
            completed=counts["COMPLETED"],
            failed=counts["FAILED"],
            cancelled=counts["CANCELLED"],
            crashed=counts["CRASHED"],
            retained=len(self.records) - self.unfinished,
            waiters=self.waiters,
        )

    def as_completed(
        self, keys: Iterable[Hashable], lent: Callable[[], AbstractAsyncContextManager[None]]
    ) -> AsCompleted:
        """An `AsCompleted` over ``keys``; each step waits inside ``lent()``.

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
        records = [self.lookup(key) for key in wanted]  # unknown or unhashable: raises
        records = list({id(record): record for record in records}.values())  # duplicates once
        return AsCompleted(records, lent)


@final
class AsCompleted:
    """Async iterator returned by `BaseTaskRunner.as_completed`.

    Each step is a checkpoint. A cancelled step loses nothing: the ``(key, State)`` it was
    waiting for is delivered by the next step. Cancelling the consumer never affects the calls.
    """

    def __init__(
        self, records: list[CallRecord], lent: Callable[[], AbstractAsyncContextManager[None]]
    ) -> None:
        self._lent = lent
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
        async with self._lent():
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
