"""FIFO admission into a fixed number of worker slots, shared by the pool runners.

`ConcurrentTaskRunner`, `ThreadPoolTaskRunner`, `ProcessPoolTaskRunner` and `DaskTaskRunner`
differ only in how an admitted call executes (on the loop, in a thread, in a process, on a
cluster); this module owns how calls are admitted: a single dispatcher drains a FIFO memory
channel and takes a slot (a `trio.Semaphore`) for each call before starting it, so admission
follows submission order.
"""

from __future__ import annotations

import math
from typing import Any

import trio

from ._base import _EXIT_MESSAGE, BaseTaskRunner, _CallRecord

__all__ = ["PoolTaskRunner", "check_limit"]


def check_limit(name: str, value: int | None, minimum: int) -> None:
    """Validate an optional integer option such as ``max_workers``.

    Raises:
      TypeError: ``value`` is not an int (bools are refused) or None.
      ValueError: ``value`` is below ``minimum``.
    """
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int or None, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, not {value}")


class PoolTaskRunner(BaseTaskRunner):
    """A runner whose calls are admitted FIFO into at most `_worker_limit()` slots.

    Subclasses say how many slots there are (`_worker_limit`, None for unbounded) and how many
    accepted calls may wait for one before `submit` blocks (`_pending_limit`, None for
    unbounded). A call that waits on its own runner from inside a call lends its slot back.
    """

    def __init__(self, **core_options: Any) -> None:
        super().__init__(**core_options)
        self._slots: trio.Semaphore | None = None
        self._send: trio.MemorySendChannel[_CallRecord] | None = None
        self._room: trio.Semaphore | None = None

    @property
    def _admits_itself(self) -> bool:  # type: ignore[override]
        """With slots, the dispatcher reports ``admitted`` when a call takes one."""
        return self._worker_limit() is not None

    def _worker_limit(self) -> int | None:
        """Hook: how many calls may run at once this run (None: every call starts at once)."""
        return None

    def _pending_limit(self) -> int | None:
        """Hook: how many accepted calls may wait for a slot before `submit` blocks."""
        return None

    def _make_thread_limiter(self) -> trio.CapacityLimiter:
        limit = self._worker_limit()
        if limit is None:
            return super()._make_thread_limiter()
        return trio.CapacityLimiter(limit)

    async def _open(self, nursery: trio.Nursery) -> None:
        limit = self._worker_limit()
        if limit is None:
            return
        pending = self._pending_limit()
        # Accepted calls wait for a slot in an unbounded FIFO channel; backpressure is a
        # semaphore of `pending` tokens instead of the channel's buffer, so that a queued call
        # that is cancelled gives its room back at once (`BaseTaskRunner._finish` releases it),
        # while it would stay in a channel's buffer until the dispatcher reached it.
        send, receive = trio.open_memory_channel[_CallRecord](math.inf)
        self._send = send
        self._room = None if pending is None else trio.Semaphore(pending)
        self._slots = trio.Semaphore(limit)
        nursery.start_soon(self._dispatch, receive, self._slots)

    def _close(self) -> None:
        if self._send is not None:
            self._send.close()
            self._send = None

    async def _submit(self, record: _CallRecord) -> None:
        send = self._send
        if send is None:
            nursery = self._nursery
            if nursery is None:  # pragma: no cover - submit checks that the run is open
                raise RuntimeError(f"{self!r} has no nursery: it is not started")
            nursery.start_soon(self._execute, record)
            await trio.lowlevel.checkpoint()
            return
        await trio.lowlevel.checkpoint()
        room = self._room
        if room is not None:
            # FIFO among blocked submitters (trio.Semaphore hands a released token to the
            # first waiter). Cancelled while blocked: the core records the call Cancelled.
            try:
                room.acquire_nowait()
            except trio.WouldBlock:
                # A call of this runner submitting a child lends its worker slot while it
                # waits for room, as it does in `wait`: the call holding the only slot
                # cannot block the admissions that would make room.
                async with self._slot_lent():
                    await room.acquire()
            if record.state is not None:  # cancelled while its submitter waited for room
                room.release()
                return
            record.room = room
        try:
            send.send_nowait(record)
        except trio.BrokenResourceError:
            # The dispatcher has stopped: the run was cancelled (a call raised
            # KeyboardInterrupt, or the scope around start() was cancelled) while this
            # submitter was being resumed. The call never starts.
            self._cancel_record(record, _EXIT_MESSAGE)
            await trio.lowlevel.checkpoint_if_cancelled()

    async def _dispatch(
        self, receive: trio.MemoryReceiveChannel[_CallRecord], slots: trio.Semaphore
    ) -> None:
        """Admit queued calls in FIFO order: take the next live call, then a slot for it.

        The dispatcher never holds a slot while idle, so every slot holder is a running call.
        A call leaves the pending count (gives its backpressure room back) when it is admitted
        or when it finishes while queued (cancelled), whichever comes first.
        """
        nursery = self._nursery
        if nursery is None:  # pragma: no cover - started inside the run's nursery
            raise RuntimeError(f"{self!r}: dispatcher started outside a run")
        async with receive:
            while True:
                # A burst of queued calls is admitted without a trip through the scheduler per
                # call; the dispatcher blocks (a checkpoint) only when a call or slot is missing.
                try:
                    record = receive.receive_nowait()
                except trio.WouldBlock:
                    try:
                        record = await receive.receive()
                    except trio.EndOfChannel:
                        return
                except trio.EndOfChannel:
                    return
                if record.state is not None:  # cancelled while queued: never starts
                    continue
                try:
                    slots.acquire_nowait()
                except trio.WouldBlock:
                    await slots.acquire()
                    if record.state is not None:  # cancelled while waiting for a slot
                        slots.release()
                        continue
                room = record.room
                if room is not None:
                    record.room = None
                    room.release()
                if self._hooks:
                    self._instruments.emit("admitted", self, record.key)
                nursery.start_soon(self._execute_in_slot, record, slots)

    async def _execute_in_slot(self, record: _CallRecord, slots: trio.Semaphore) -> None:
        try:
            await self._execute(record)
        finally:
            slots.release()

    # Slot lending: the core calls `_lend_slot`/`_reclaim_slot` around a wait made from inside
    # one of this runner's calls (`BaseTaskRunner._slot_lent`).

    # A lending call may be a sync call blocked in its thread: it lends its thread token too
    # (one more token while it waits), so that a child needing a thread cannot deadlock behind
    # it. Threads doing work stay bounded by the slots; only threads blocked in a wait on this
    # runner come on top.

    def _lend_slot(self) -> None:
        if self._slots is not None:
            self._slots.release()
            limiter = self._thread_limiter
            if limiter is not None and limiter.total_tokens != math.inf:
                limiter.total_tokens += 1

    async def _reclaim_slot(self) -> None:
        if self._slots is not None:
            # The slot first, the lent thread token back only then: while this call waits for
            # a slot, the call holding it may still need a thread to finish and free it.
            await self._slots.acquire()
            limiter = self._thread_limiter
            if limiter is not None and limiter.total_tokens != math.inf:
                limiter.total_tokens -= 1
