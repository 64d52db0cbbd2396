"""ConcurrentTaskRunner: calls run concurrently on the event loop, optionally bounded."""

from __future__ import annotations

from typing import Any, final

from ._base import TaskConcurrencyType
from ._pool import PoolTaskRunner, check_limit

__all__ = ["ConcurrentTaskRunner"]


@final
class ConcurrentTaskRunner(PoolTaskRunner):
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
        check_limit("max_workers", max_workers, 1)
        check_limit("max_pending", max_pending, 1)
        if max_pending is not None and max_workers is None:
            raise ValueError(
                "max_pending needs max_workers: without a worker limit every call starts at "
                "once, so no call is ever pending"
            )
        super().__init__()
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
