"""ProcessPoolTaskRunner: every call runs in a worker process (trio-parallel)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any, final

import attrs
import trio

from ._base import TaskConcurrencyType
from ._identity import optional_int
from ._instruments import Instrument
from ._remote import PickledCall, RemoteTaskRunner, run_pickled
from ._states import Crashed

__all__ = ["ProcessPoolTaskRunner"]


def _trio_parallel() -> ModuleType:
    """trio-parallel, imported when a run starts so that importing this module never needs it."""
    try:
        import trio_parallel
    except ImportError as exc:  # pragma: no cover
        raise ImportError(
            "ProcessPoolTaskRunner needs trio-parallel: pip install 'trio-runners[processes]'"
        ) from exc
    module: ModuleType = trio_parallel
    return module


@final
@attrs.frozen
class ProcessPoolOptions:
    """The options of `ProcessPoolTaskRunner`, validated when the runner is made."""

    max_workers: int | None = attrs.field(default=None, validator=optional_int("max_workers", 1))


@final
class ProcessPoolTaskRunner(RemoteTaskRunner):
    """Runs every call in a worker process, at most ``max_workers`` at once (trio-parallel).

    Args:
      max_workers: how many calls (so worker processes) may run at once. ``None`` (default):
        ``os.cpu_count()``.
      instruments: `trio_runners.abc.Instrument` objects observing every call.

    Each run opens its own `trio_parallel.open_worker_context`: the workers are this runner's
    own, are reused between calls of the run, and are shut down when `start()` exits. Calls are
    admitted in submission order (FIFO). A call is pickled with cloudpickle when it is
    submitted; see docs/runners/processes.md for which modules travel by value. An async
    callable runs under its own ``trio.run`` inside the worker. Return values and exceptions
    come back by pickle.

    States: a value is Completed, an `Exception` is Failed (with the worker's traceback); a
    worker that dies mid-call (``os._exit``, a signal) ends that call Crashed
    (`trio_parallel.BrokenWorkerError`) and the runner keeps serving later calls with a fresh
    worker; any other `BaseException` raised by the call in its worker (``SystemExit``,
    ``KeyboardInterrupt``, a stray `trio.Cancelled`, a `BaseExceptionGroup`) is Crashed too
    and the run goes on (it did not happen in this process). An error of the pool itself (a
    result that cannot be pickled back, say) is Crashed with a message, never Failed. The
    worker pool lives until every call of the run has its State.

    Cancellation: ``cancel(key)``, a cancelled enclosing scope, or leaving `start()` by an
    exception decides the State (Cancelled) at once and **kills** the worker process running the
    call (``kill_on_cancel=True``), so a cancelled or timed-out call really stops; its slot is
    free again once the process is reaped. A queued call never starts.
    """

    _config: ProcessPoolOptions

    def __init__(
        self, max_workers: int | None = None, *, instruments: Iterable[Instrument] = ()
    ) -> None:
        options = ProcessPoolOptions(max_workers)
        super().__init__(instruments=instruments)
        self._config = options
        self._context: Any = None  # trio_parallel.WorkerContext during a run

    @property
    def concurrency_type(self) -> TaskConcurrencyType:
        return TaskConcurrencyType.PARALLEL

    @property
    def workers(self) -> int:
        """The effective worker count: ``max_workers``, or ``os.cpu_count()`` when None."""
        return (os.cpu_count() or 1) if self.max_workers is None else self.max_workers

    @property
    def max_workers(self) -> int | None:
        """The ``max_workers`` option (None: ``os.cpu_count()``)."""
        return self._config.max_workers

    def _worker_limit(self) -> int:
        return self.workers

    @asynccontextmanager
    async def _backend(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        """The run's slots, then its own worker pool; the pool is closed when the run is over
        (every call has its State), then the slots."""
        async with super()._backend(nursery), _trio_parallel().open_worker_context() as context:
            self._context = context
            try:
                yield
            finally:
                self._context = None

    async def _run_remotely(self, call: PickledCall) -> Any:
        context = self._context
        if context is None:
            return Crashed(
                RuntimeError(f"{self!r} has no worker pool: its run is over"),
                message=f"{call.name} reached the runner after its worker pool was closed",
            )
        try:
            return await context.run_sync(
                run_pickled, call.payload, kill_on_cancel=True, limiter=self._thread_limiter
            )
        except _trio_parallel().BrokenWorkerError as exc:
            return Crashed(exc, message=f"the worker process running {call.name} died")
        except Exception as exc:
            # `run_pickled` returns whatever the call raises, so this is the machinery's own
            # error (a result that cannot be pickled, a worker that cannot start): Crashed.
            return Crashed(exc, message=f"the process pool could not run {call.name}: {exc!r}")
