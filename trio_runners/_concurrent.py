"""ConcurrentTaskRunner: calls run concurrently on the event loop, optionally bounded."""

from __future__ import annotations

import math
from typing import Any, final

import trio

from ._base import BaseTaskRunner, TaskConcurrencyType, _CallRecord

__all__ = ["ConcurrentTaskRunner"]


def _check_limit(name: str, value: int | None, minimum: int) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int or None, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, not {value}")


@final
class ConcurrentTaskRunner(BaseTaskRunner):
    """Runs calls concurrently as Trio tasks in the runner's nursery.

    Args:
      max_workers: at most this many calls run at once (async and sync together); the rest
        wait in a FIFO memory channel and are admitted in submission order by a single
        dispatcher. ``None`` (default): every call starts at once.
      max_pending: with ``max_workers``, `submit` waits while this many accepted calls have not
        been admitted yet (backpressure through a bounded memory channel). ``None``: unbounded.

    A call waiting (via `wait` or `as_completed`... on this runner) from inside one of this
    runner's calls lends its worker slot back while it waits and takes a slot again (FIFO)
    before it resumes, so nested submit-and-wait cannot deadlock, even with ``max_workers=1``.

    Cancellation: ``cancel(key)`` removes a queued call (it never starts) or cancels a running
    call's own scope; the State is Cancelled at once. Sync calls run in worker threads, at most
    ``max_workers`` of them (default: Trio's thread limiter), abandoned on cancel; an abandoned
    thread keeps its thread token until it really ends, so the thread count stays bounded.
    """

    def __init__(self, max_workers: int | None = None, max_pending: int | None = None) -> None:
        _check_limit("max_workers", max_workers, 1)
        _check_limit("max_pending", max_pending, 1)
        if max_pending is not None and max_workers is None:
            raise ValueError(
                "max_pending needs max_workers: without a worker limit every call starts at "
                "once, so no call is ever pending"
            )
        super().__init__()
        self.max_workers = max_workers
        self.max_pending = max_pending
        self._slots: trio.Semaphore | None = None
        self._send: trio.MemorySendChannel[_CallRecord] | None = None

    @property
    def concurrency_type(self) -> TaskConcurrencyType:
        return TaskConcurrencyType.CONCURRENT

    def _options(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers, "max_pending": self.max_pending}

    def _make_thread_limiter(self) -> trio.CapacityLimiter:
        if self.max_workers is None:
            return super()._make_thread_limiter()
        return trio.CapacityLimiter(self.max_workers)

    async def _open(self, nursery: trio.Nursery) -> None:
        if self.max_workers is None:
            return
        # The dispatcher holds one accepted call while it waits for a slot; with the channel's
        # buffer that makes max_pending calls accepted but not yet admitted.
        buffer = math.inf if self.max_pending is None else self.max_pending - 1
        send, receive = trio.open_memory_channel[_CallRecord](buffer)
        self._send = send
        self._slots = trio.Semaphore(self.max_workers)
        nursery.start_soon(self._dispatch, receive, self._slots)

    def _close(self) -> None:
        if self._send is not None:
            self._send.close()
            self._send = None

    async def _submit(self, record: _CallRecord) -> None:
        if self._send is None:
            assert self._nursery is not None
            self._nursery.start_soon(self._execute, record)
            await trio.lowlevel.checkpoint()
        else:
            await self._send.send(record)

    async def _dispatch(
        self, receive: trio.MemoryReceiveChannel[_CallRecord], slots: trio.Semaphore
    ) -> None:
        """Admit queued calls in FIFO order: take the next live call, then a slot for it.

        The dispatcher never holds a slot while idle, so every slot holder is a running call.
        """
        assert self._nursery is not None
        nursery = self._nursery
        async with receive:
            async for record in receive:
                if record.state is not None:  # cancelled while queued: never starts
                    continue
                await slots.acquire()
                if record.state is not None:  # cancelled while waiting for a slot
                    slots.release()
                    continue
                nursery.start_soon(self._execute_in_slot, record, slots)

    async def _execute_in_slot(self, record: _CallRecord, slots: trio.Semaphore) -> None:
        try:
            await self._execute(record)
        finally:
            slots.release()

    async def _wait_lending_slot(self, event: trio.Event, timeout: float | None) -> None:
        slots = self._slots
        if slots is None:
            await super()._wait_lending_slot(event, timeout)
            return
        slots.release()
        try:
            await super()._wait_lending_slot(event, timeout)
        finally:
            # Take a slot back before the call resumes. Shielded so that the slot count stays
            # exact: the call's task releases exactly one slot when it ends.
            with trio.CancelScope(shield=True):
                await slots.acquire()
