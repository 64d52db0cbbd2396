"""ConcurrentTaskRunner: calls run concurrently on the event loop, optionally bounded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, final

from ._base import TaskConcurrencyType
from ._instruments import Instrument
from ._pool import PoolTaskRunner, check_limit

__all__ = ["ConcurrentTaskRunner"]


@final
class ConcurrentTaskRunner(PoolTaskRunner):
    """Runs calls concurrently as Trio tasks in the runner's nursery.

    Args:
      max_workers: at most this many calls run at once (async and sync together); the rest
        wait in a FIFO memory channel and are admitted in submission order by a single
        dispatcher. ``None`` (default): every call starts at once.
      max_pending: with ``max_workers``, `submit` waits while this many accepted, live calls
        have not been admitted yet (backpressure; a queued call that is cancelled frees its place
        at once). ``None``: unbounded.

    A call that waits on this runner (`wait`, `as_completed`) from inside one of this runner's
    calls lends its worker slot back while it waits and takes a slot again (FIFO) before it
    resumes, so nested submit-and-wait cannot deadlock, even with ``max_workers=1``.

    Cancellation: ``cancel(key)`` removes a queued call (it never starts) or cancels a running
    call's own scope; the State is Cancelled at once. Sync calls run in worker threads that are
    abandoned on cancel (``trio.from_thread.check_cancelled()`` lets a call stop early). With
    ``max_workers`` the run's threads are bounded by a ``CapacityLimiter(max_workers)``: an
    abandoned thread keeps its token until it really ends, so threads doing work never exceed
    ``max_workers`` (a call waiting on this runner lends its thread token with its slot).
    Without it, each run has a ``CapacityLimiter(40)`` of its own (the size of Trio's default),
    so threads abandoned by one run never starve other ``trio.to_thread`` users or the next run.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        max_pending: int | None = None,
        *,
        instruments: Iterable[Instrument] = (),
    ) -> None:
        check_limit("max_workers", max_workers, 1)
        check_limit("max_pending", max_pending, 1)
        if max_pending is not None and max_workers is None:
            raise ValueError(
                "max_pending needs max_workers: without a worker limit every call starts at "
                "once, so no call is ever pending"
            )
        super().__init__(instruments=instruments)
        self.max_workers = max_workers
        self.max_pending = max_pending

    @property
    def concurrency_type(self) -> TaskConcurrencyType:
        return TaskConcurrencyType.CONCURRENT

    def _options(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers, "max_pending": self.max_pending}

    def _worker_limit(self) -> int | None:
        return self.max_workers

    def _pending_limit(self) -> int | None:
        return self.max_pending
