"""ThreadPoolTaskRunner: `ConcurrentTaskRunner` with ``max_workers=min(32, cpu_count + 4)``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, final

from ._concurrent import LoopPoolTaskRunner, PoolOptions
from ._instruments import Instrument

__all__ = ["ThreadPoolTaskRunner", "default_thread_workers"]


def default_thread_workers() -> int:
    """``min(32, cpu_count + 4)``: the default of `concurrent.futures.ThreadPoolExecutor`."""
    return min(32, (os.cpu_count() or 1) + 4)


@final
class ThreadPoolTaskRunner(LoopPoolTaskRunner):
    """Runs sync calls in worker threads and async calls on the event loop, at most
    ``max_workers`` calls at once.

    The same runner as ``ConcurrentTaskRunner(max_workers=min(32, cpu_count + 4))`` (one
    implementation, `LoopPoolTaskRunner`), under the name and with the default of
    `concurrent.futures.ThreadPoolExecutor`.

    Args:
      max_workers: how many calls may run at once (sync and async together); also the size of
        the run's own thread `trio.CapacityLimiter`. ``None`` (default):
        ``min(32, cpu_count + 4)``, as `concurrent.futures.ThreadPoolExecutor`.
      instruments: `trio_runners.abc.Instrument` objects observing every call.

    Calls are admitted in submission order (FIFO) by a single dispatcher. A sync call runs in
    ``trio.to_thread.run_sync`` under the run's limiter; an async call (or the awaitable a sync
    call returns) runs on the event loop in the same slot. A call that waits on this runner
    from inside one of its calls lends its slot (and its thread token) back while it waits, so
    nested waits cannot deadlock.

    Cancellation: ``cancel(key)``, a cancelled enclosing scope, or leaving `start()` by an
    exception decides the State (Cancelled) at once. A queued call never starts. A running
    *sync* call's thread cannot be interrupted by Python: it is **abandoned** and keeps running
    until the function returns; its result is discarded, and it keeps its thread token until
    then, so no more than ``max_workers`` threads ever exist. A sync call can cooperate by
    calling ``trio.from_thread.check_cancelled()``, which raises `trio.Cancelled` in the thread
    once the call is cancelled. An async call is cancelled like any Trio code.

    Raises:
      TypeError: ``max_workers`` is not an int or None.
      ValueError: ``max_workers`` is below 1.
    """

    def __init__(
        self, max_workers: int | None = None, *, instruments: Iterable[Instrument] = ()
    ) -> None:
        super().__init__(PoolOptions(max_workers), instruments=instruments)

    @staticmethod
    def _default_workers() -> int:
        return default_thread_workers()

    @property
    def workers(self) -> int:
        """The effective worker count: ``max_workers``, or the default when it is None."""
        return default_thread_workers() if self.max_workers is None else self.max_workers

    def _options(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers}  # no max_pending: not an option here
