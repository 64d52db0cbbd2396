"""Pool runners: calls admitted into at most ``max_workers`` worker slots, or all at once.

`PoolTaskRunner` is the one implementation behind `ConcurrentTaskRunner` and
`ThreadPoolTaskRunner` (which differ only in their default worker limit: none, or
``min(32, cpu_count + 4)``) and behind the remote runners. With a worker limit, a run's calls
go through a `Slots` object (`_slots`: FIFO admission, backpressure, lending); without one
(``ConcurrentTaskRunner()``, and `DaskTaskRunner`, whose cluster does its own queueing) every
call starts at once. Where an admitted call runs is `BaseTaskRunner._invoke`'s: on the loop
with sync calls in threads here, in a process or on a cluster for the remote runners.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import trio

from ._base import _EXIT_MESSAGE, _NOTHING_LENT, BaseTaskRunner
from ._calls import CallRecord, current_call
from ._execution import execute
from ._instruments import Instrument
from ._slots import Slots, open_slots
from ._worker_threads import open_worker_threads

__all__ = ["PoolTaskRunner"]


class PoolTaskRunner(BaseTaskRunner):
    """A runner whose calls are admitted FIFO into at most `_worker_limit()` slots.

    Subclasses say how many slots there are (`_worker_limit`, None for unbounded) and how many
    accepted calls may wait for one before `submit` blocks (`_pending_limit`, None for
    unbounded). A call that waits on its own runner from inside a call lends its slot back.
    """

    def __init__(self, *, instruments: Iterable[Instrument] = ()) -> None:
        super().__init__(instruments=instruments)
        self._slots: Slots | None = None

    def _worker_limit(self) -> int | None:
        """Hook: how many calls may run at once this run (None: every call starts at once)."""
        return None

    def _pending_limit(self) -> int | None:
        """Hook: how many accepted calls may wait for a slot before `submit` blocks."""
        return None

    @property
    def has_backpressure(self) -> bool:
        return self._pending_limit() is not None

    def _make_thread_limiter(self) -> trio.CapacityLimiter:
        limit = self._worker_limit()
        if limit is None:
            return super()._make_thread_limiter()
        return trio.CapacityLimiter(limit)

    @asynccontextmanager
    async def _backend(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        async with super()._backend(nursery), open_worker_threads(nursery, self._thread_limiter):
            limit = self._worker_limit()
            threads = self._thread_limiter
            if limit is None or threads is None:
                yield
                return
            async with open_slots(
                nursery, self._table, limit, self._pending_limit(), threads, self._invoke
            ) as slots:
                self._slots = slots
                try:
                    yield
                finally:
                    self._slots = None

    async def _submit(self, record: CallRecord) -> None:
        slots = self._slots
        if slots is not None:
            if slots.has_room_limit:
                queued = await slots.submit(record, self._slot_lent)
            else:  # `slots.submit` without a pending limit, inline: one coroutine frame less
                await trio.lowlevel.checkpoint()
                queued = slots.queue_nowait(record, None)
            if not queued:
                # The dispatcher has stopped: the run was cancelled (a call raised
                # KeyboardInterrupt, or the scope around start() was cancelled) while this
                # submitter was being resumed. The call never starts.
                self._table.cancel(record, _EXIT_MESSAGE)
                await trio.lowlevel.checkpoint_if_cancelled()
            return
        nursery = self._nursery
        if nursery is None:  # pragma: no cover - submit checks that the run is open
            raise RuntimeError(f"{self!r} has no nursery: it is not started")
        # `execute` itself, not the `_execute` method that awaits it: one coroutine frame less.
        nursery.start_soon(execute, self._table, record, self._invoke, False)
        await trio.lowlevel.checkpoint()

    def _slot_lent(self) -> AbstractAsyncContextManager[None]:
        slots = self._slots
        if slots is None:
            return _NOTHING_LENT
        current = current_call.get()
        if current is None or current[0] is not self:
            return _NOTHING_LENT
        return slots.lent(current[1])
