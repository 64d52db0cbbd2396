"""The loop pools: calls run concurrently on the event loop (sync ones in threads), bounded or not.

`LoopPoolTaskRunner` is the one implementation; `ConcurrentTaskRunner` is it with no default
worker limit, and `ThreadPoolTaskRunner` (`_threads`) the same runner with another default.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, final

import attrs
import trio

from ._base import _EXIT_MESSAGE, TaskConcurrencyType
from ._execution import check_call, execute
from ._identity import optional_int
from ._instruments import Instrument
from ._pool import PoolTaskRunner

__all__ = ["ConcurrentTaskRunner", "LoopPoolTaskRunner", "PoolOptions"]


@final
@attrs.frozen
class PoolOptions:
    """The options of the loop pools, validated when the runner is made.

    Raises:
      TypeError: an option is not an int or None (bools are refused).
      ValueError: an option is below 1, or ``max_pending`` is given without ``max_workers``.
    """

    max_workers: int | None = attrs.field(default=None, validator=optional_int("max_workers", 1))
    max_pending: int | None = attrs.field(default=None, validator=optional_int("max_pending", 1))

    def __attrs_post_init__(self) -> None:
        if self.max_pending is not None and self.max_workers is None:
            raise ValueError(
                "max_pending needs max_workers: without a worker limit every call starts at "
                "once, so no call is ever pending"
            )


class LoopPoolTaskRunner(PoolTaskRunner):
    """The loop pools: calls run on the event loop (sync calls in the run's worker threads),
    at most ``max_workers`` at once, admitted FIFO (`_slots`).

    `ConcurrentTaskRunner` and `ThreadPoolTaskRunner` are this runner with two defaults for
    ``max_workers`` (`_default_workers`: no limit, or ``min(32, cpu_count + 4)``).
    """

    _config: PoolOptions

    def __init__(self, options: PoolOptions, *, instruments: Iterable[Instrument] = ()) -> None:
        super().__init__(instruments=instruments)
        self._config = options

    @staticmethod
    def _default_workers() -> int | None:
        """The worker limit when ``max_workers`` is None (None: no limit)."""
        return None

    @property
    def concurrency_type(self) -> TaskConcurrencyType:
        return TaskConcurrencyType.CONCURRENT

    @property
    def max_workers(self) -> int | None:
        """The ``max_workers`` option (None: the runner's default)."""
        return self._config.max_workers

    def _worker_limit(self) -> int | None:
        workers = self._config.max_workers
        return self._default_workers() if workers is None else workers

    def _pending_limit(self) -> int | None:
        return self._config.max_pending

    @trio.lowlevel.enable_ki_protection
    def submit_nowait(self, key: Hashable, call: Callable[[], Any]) -> None:
        """Submit ``call`` under ``key`` at once, or raise `trio.WouldBlock`: Trio's ``*_nowait``
        idiom (as `trio.MemorySendChannel.send_nowait`), for callers that submit in bulk.

        The same as `submit` (same errors, same States, same FIFO admission), except that it is
        synchronous: **not a checkpoint**, so it can be neither cancelled nor interrupted
        half-way, and a loop of ``submit_nowait`` calls never lets other tasks run (the calls
        it starts run once the submitter checkpoints; call ``await
        trio.lowlevel.checkpoint()`` now and then in a long loop). A cancelled scope around
        the submitter does not affect it nor the call: the call belongs to the runner.
        Backpressure: with ``max_pending``, when that many accepted calls wait for a worker
        slot (or submitters are blocked in `submit` waiting for room, who come first), it
        raises `trio.WouldBlock` and submits nothing (the key stays free); `submit` would
        wait. Call it on the Trio thread, inside ``runner.start()``.

        Raises:
          trio.WouldBlock: no room under ``max_pending``; nothing was submitted.
          RuntimeError: called outside the Trio thread, or the runner is not started or has
            exited (the message says which).
          TypeError: ``call`` is not callable or is an async generator function, or ``key``
            is not hashable.
          ValueError: ``key`` was already submitted in this run (and not released).
        """
        if not self._accepting:
            raise RuntimeError(self._not_accepting_message(key))
        if not trio.lowlevel.in_trio_run():
            raise RuntimeError(
                f"{self!r}.submit_nowait({key!r}, ...) must be called on the Trio thread; "
                "from a worker thread use trio.from_thread.run(runner.submit, key, call)"
            )
        check_call(key, call)
        table = self._table
        slots = self._slots
        if slots is None:
            nursery = self._nursery
            if nursery is None:  # pragma: no cover - accepting means the run's nursery is open
                raise RuntimeError(f"{self!r} has no nursery: it is not started")
            record = table.register(key, call)
            nursery.start_soon(execute, table, record, self._invoke, False)
            return
        room = slots.reserve_nowait()
        try:
            record = table.register(key, call)
        except BaseException:
            if room is not None:
                room.release()
            raise
        if not slots.queue_nowait(record, room):  # the run was cancelled: never starts
            table.cancel(record, _EXIT_MESSAGE)


@final
class ConcurrentTaskRunner(LoopPoolTaskRunner):
    """Runs calls concurrently as Trio tasks in the runner's nursery.

    Args:
      max_workers: at most this many calls run at once (async and sync together); the rest
        wait in a FIFO memory channel and are admitted in submission order by a single
        dispatcher. ``None`` (default): every call starts at once.
      max_pending: with ``max_workers``, `submit` waits while this many accepted, live calls
        have not been admitted yet (backpressure; a queued call that is cancelled frees its place
        at once). ``None``: unbounded.
      instruments: `trio_runners.abc.Instrument` objects observing every call.

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

    Raises:
      TypeError: an option is not an int or None.
      ValueError: an option is below 1, or ``max_pending`` is given without ``max_workers``.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        max_pending: int | None = None,
        *,
        instruments: Iterable[Instrument] = (),
    ) -> None:
        super().__init__(PoolOptions(max_workers, max_pending), instruments=instruments)

    @property
    def max_pending(self) -> int | None:
        """The ``max_pending`` option."""
        return self._config.max_pending
