"""Worker slots: FIFO admission of queued calls into a fixed number of slots, and slot lending.

One `Slots` object per run of a runner with a worker limit owns everything about slots:

- admission: a call accepted while no call is queued and a slot (a `trio.Semaphore`) is free
  takes it and starts at once; otherwise it waits in an unbounded FIFO memory channel, which a
  single dispatcher drains, taking a slot for each live call before starting it. Either way
  admission follows submission order (ordering from structure, never from ``start_soon``): a
  call never overtakes one the dispatcher holds or has still to take;
- backpressure: with a pending limit, `Slots.submit` waits for room (a second semaphore, FIFO
  among blocked submitters); a queued call holds its room token on its record until it is
  admitted, or until it finishes while queued (the call table gives it back at once);
- lending: a call that waits on its own runner lends its slot back for the duration (and its
  thread token, see `Slots.lent`), so nested submit-and-wait cannot deadlock.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, final

import trio

from ._calls import CallRecord, CallTable
from ._execution import execute

__all__ = ["Slots", "open_slots"]


@final
class Slots:
    """The worker slots of one run; made by `open_slots`."""

    def __init__(
        self,
        table: CallTable,
        limit: int,
        pending: int | None,
        threads: trio.CapacityLimiter,
        invoke: Callable[[Callable[[], Any]], Awaitable[Any]],
        send: trio.MemorySendChannel[CallRecord],
        nursery: trio.Nursery,
    ) -> None:
        self._table = table
        self._nursery = nursery
        self._slots = trio.Semaphore(limit)
        # Backpressure is a semaphore of `pending` tokens instead of the channel's buffer, so
        # that a queued call that is cancelled gives its room back at once, while it would
        # stay in a channel's buffer until the dispatcher reached it.
        self._room = None if pending is None else trio.Semaphore(pending)
        self._threads = threads
        self._invoke = invoke
        self._send: trio.MemorySendChannel[CallRecord] | None = send
        #: Calls sent to the dispatcher that it has not admitted or skipped yet (while there
        #: are any, a new call queues behind them: FIFO).
        self._queued = 0

    @property
    def has_room_limit(self) -> bool:
        """True with a pending limit: `submit` may wait for room. Without one, `submit` is a
        checkpoint followed by `queue_nowait`."""
        return self._room is not None

    async def submit(
        self, record: CallRecord, lent: Callable[[], AbstractAsyncContextManager[None]]
    ) -> bool:
        """Queue ``record`` for admission, after waiting for room if there is a pending limit;
        while it waits, ``lent()`` is entered (a call of the runner submitting a child lends its
        slot, as in a wait: the call holding the only slot cannot block the admissions that
        would make room). Always a checkpoint. Cancelled while waiting for room:
        `trio.Cancelled` propagates and the call is not queued (the runner records it
        Cancelled).

        Returns:
          True if the call is queued (or was cancelled meanwhile); False if the dispatcher has
          stopped (the run was cancelled while the submitter was being resumed): the call was
          not queued and never starts.

        Raises:
          RuntimeError: the slots are closed (the run accepts no calls any more).
        """
        if self._send is None:  # pragma: no cover - the runner checks that it is accepting
            raise RuntimeError("the run's worker slots are closed: it accepts no new call")
        await trio.lowlevel.checkpoint()
        room = self._room
        if room is not None:
            # FIFO among blocked submitters (trio.Semaphore hands a released token to the
            # first waiter).
            try:
                room.acquire_nowait()
            except trio.WouldBlock:
                async with lent():
                    await room.acquire()
            if record.state is not None:  # cancelled while its submitter waited for room
                room.release()
                return True
        return self.queue_nowait(record, room)

    def reserve_nowait(self) -> trio.Semaphore | None:
        """Take a pending-room token for a call about to be queued by `queue_nowait`, without
        waiting (None: no pending limit). Not a checkpoint. The caller gives the token back
        (``release()``) if it does not queue the call after all.

        Raises:
          trio.WouldBlock: ``max_pending`` calls are queued already (or submitters are blocked
            waiting for room: they come first).
          RuntimeError: the slots are closed (the run accepts no calls any more).
        """
        if self._send is None:  # pragma: no cover - the runner checks that it is accepting
            raise RuntimeError("the run's worker slots are closed: it accepts no new call")
        room = self._room
        if room is not None:
            room.acquire_nowait()
        return room

    def queue_nowait(self, record: CallRecord, room: trio.Semaphore | None) -> bool:
        """Queue ``record`` for admission with the pending-room token ``room`` it holds (None
        without a pending limit). Not a checkpoint. When no call is queued and a slot is free,
        the call is admitted here and now (it is first in line), without a hop through the
        dispatcher.

        Returns:
          True if the call is queued; False if the dispatcher has stopped (the run was
          cancelled): the call was not queued and never starts (cancelling it gives the room
          token back).
        """
        send = self._send
        record.room = room
        if send is None:  # closed since the room was reserved
            return False
        if self._queued == 0 and record.state is None:  # (not cancelled while submitted)
            try:
                self._slots.acquire_nowait()
            except trio.WouldBlock:
                pass
            else:
                self._admit(record)
                return True
        record.context = contextvars.copy_context()  # the call starts in the submitter's
        try:
            send.send_nowait(record)
        except trio.BrokenResourceError:
            record.context = None
            return False
        self._queued += 1
        return True

    def _admit(self, record: CallRecord) -> None:
        """Start a live call that holds a slot: it leaves the pending count."""
        room = record.room
        if room is not None:
            record.room = None
            room.release()
        table = self._table
        if table.hooks:
            table.emit("admitted", record.key)
        # `execute` itself, giving the slot back as the call's task leaves: one frame per call.
        self._nursery.start_soon(execute, table, record, self._invoke, True, self._slots.release)

    async def dispatch(self, receive: trio.MemoryReceiveChannel[CallRecord]) -> None:
        """Admit queued calls in FIFO order: take the next live call, then a slot for it.

        The dispatcher never holds a slot while idle, so every slot holder is a running call.
        A call leaves the pending count (gives its room back) when it is admitted or when it
        finishes while queued (cancelled), whichever comes first.
        """
        slots = self._slots
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
                context, record.context = record.context, None
                try:
                    if record.state is not None:  # cancelled while queued: never starts
                        continue
                    try:
                        slots.acquire_nowait()
                    except trio.WouldBlock:
                        await slots.acquire()
                        if record.state is not None:  # cancelled while waiting for a slot
                            slots.release()
                            continue
                    assert context is not None  # `queue_nowait` sets it for every queued call
                    context.run(self._admit, record)  # its task starts in a copy of it
                finally:
                    self._queued -= 1

    def close(self) -> None:
        """Accept no more calls; the dispatcher ends once it has admitted the queued ones."""
        if self._send is not None:
            self._send.close()
            self._send = None

    # A lending call may be a sync call blocked in its thread: it lends its thread token too
    # (one more token while it waits), so that a child needing a thread cannot deadlock behind
    # it. Threads doing work stay bounded by the slots; only threads blocked in a wait on this
    # runner come on top.

    @asynccontextmanager
    async def lent(self, record: CallRecord) -> AsyncIterator[None]:
        """Around a wait made by one of the call's tasks: lend the call's slot (and one thread
        token) back, and take a slot again before the call resumes. Not a checkpoint on entry;
        on exit, waits (shielded) for a slot if the last lending task of the call leaves."""
        record.lent += 1
        if record.lent == 1:
            self._slots.release()
            threads = self._threads
            if threads.total_tokens != math.inf:
                threads.total_tokens += 1
        try:
            yield
        finally:
            record.lent -= 1
            if record.lent == 0:
                # Take a slot back before the call resumes. Shielded so that the slot count
                # stays exact: the call's task gives back exactly one slot when it ends. Every
                # slot holder is a running call, so this wait ends when one of them does. The
                # slot first, the lent thread token back only then: while this call waits for
                # a slot, the call holding it may still need a thread to finish and free it.
                with trio.CancelScope(shield=True):
                    await self._slots.acquire()
                threads = self._threads
                if threads.total_tokens != math.inf:
                    threads.total_tokens -= 1


@asynccontextmanager
async def open_slots(
    nursery: trio.Nursery,
    table: CallTable,
    limit: int,
    pending: int | None,
    threads: trio.CapacityLimiter,
    invoke: Callable[[Callable[[], Any]], Awaitable[Any]],
) -> AsyncIterator[Slots]:
    """``limit`` worker slots for one run, their dispatcher running in ``nursery``; on exit no
    call is accepted any more (the dispatcher admits those already queued, then ends).
    ``threads`` is the run's thread limiter (lent with the slots); an admitted call is
    executed (`_execution.execute`) with ``invoke``, the runner's. Not a checkpoint."""
    send, receive = trio.open_memory_channel[CallRecord](math.inf)
    slots = Slots(table, limit, pending, threads, invoke, send, nursery)
    nursery.start_soon(slots.dispatch, receive)
    try:
        yield slots
    finally:
        slots.close()
