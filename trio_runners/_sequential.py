"""SequentialTaskRunner: every call runs to completion inside `submit`, one at a time."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import final

import trio

from ._base import BaseTaskRunner, TaskConcurrencyType
from ._calls import CallRecord, current_call
from ._context_run import in_context
from ._instruments import Instrument
from ._worker_threads import open_worker_threads

__all__ = ["SequentialTaskRunner"]


@final
class SequentialTaskRunner(BaseTaskRunner):
    """Runs each call to completion inside `submit`, in submission order, one at a time.

    ``await runner.submit(key, call)`` returns only when the call has finished, so calls start in
    submission order and each ends before the next starts. Submitters in several tasks are served
    first come, first served (a FIFO `trio.Lock`). A call that submits to its own runner (a
    nested call) runs inline, depth first, as a function call would. A call runs in a copy of
    its submitter's `contextvars` context, as a call in a task of its own would: what it sets
    does not leak into the submitter.

    Cancellation: ``cancel(key)`` cancels the call's own scope; its State is Cancelled at once and
    ``submit`` returns normally. If the *submitter* is cancelled (an enclosing scope), the call is
    recorded Cancelled and `trio.Cancelled` propagates out of ``submit``. Sync calls run in a
    worker thread that is abandoned on cancel; ``trio.from_thread.check_cancelled()`` lets them
    stop early.
    """

    def __init__(self, *, instruments: Iterable[Instrument] = ()) -> None:
        super().__init__(instruments=instruments)
        self._lock: trio.Lock | None = None

    @property
    def concurrency_type(self) -> TaskConcurrencyType:
        return TaskConcurrencyType.SEQUENTIAL

    @asynccontextmanager
    async def _backend(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        self._lock = trio.Lock()
        async with open_worker_threads(nursery, self._thread_limiter):
            yield

    async def _submit(self, record: CallRecord) -> None:
        current = current_call.get()
        if (
            current is not None and current[0] is self
        ):  # nested: run inline, the lock is held by our caller
            await trio.lowlevel.checkpoint()
            await in_context(contextvars.copy_context(), self._execute(record))
            return
        lock = self._lock
        if lock is None:  # pragma: no cover - submit checks that the run is open
            raise RuntimeError(f"{self!r} is not started")
        async with lock:
            # In a copy of the submitter's context, as a call in a task of its own.
            await in_context(contextvars.copy_context(), self._execute(record))
