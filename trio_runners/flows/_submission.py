"""SubmissionPump: hands the task runs a sync flow body submits to the runner, in order.

The body's worker thread must not wait for a round trip to the Trio thread per task call; the
pump queues the task runs and submits them from one Trio task, in the body's order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, final

import trio

from ..abc import BaseTaskRunner
from ..states import Cancelled, Crashed, State
from ._futures import TaskFuture

__all__ = ["SubmissionPump"]


@final
class SubmissionPump:
    """Submits, in FIFO order, the task runs that a flow body's worker thread hands over.

    The body's thread never waits for the Trio thread to submit: `put` appends to a queue and,
    only when the pump is idle, wakes it with one ``TrioToken.run_sync_soon``. A single Trio task
    (`run`) takes the queue in batches and awaits ``runner.submit`` for each task run in turn, so
    the runner sees the task runs in the order the body made them (the order is the queue's, not
    the scheduler's). Until the pump has submitted a task run its future is *pending*
    (`TaskFuture._pending`); waiting on it first waits for the submission. A submission that
    fails before the runner registered the call ends the future Crashed (or Cancelled).
    """

    def __init__(self, runner: BaseTaskRunner, token: trio.lowlevel.TrioToken) -> None:
        self._runner = runner
        self._token = token
        self._lock = threading.Lock()
        self._queue: list[tuple[TaskFuture, Callable[[], Any]]] = []
        self._kicked = False  # a wake-up is on its way to the Trio thread (or the pump is busy)
        self._closed = False
        self._wakeup = trio.Event()
        self._finished = trio.Event()

    def put(self, future: TaskFuture, call: Callable[[], Any]) -> None:
        """From a worker thread: queue ``call`` for submission under ``future.key``.

        Raises:
          RuntimeError: the pump is closed (the flow body has returned).
          trio.RunFinishedError: the Trio run is over.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the flow run has ended: no more task runs can be submitted")
            self._queue.append((future, call))
            if self._kicked:
                return
            self._kicked = True
        self._token.run_sync_soon(self._kick)

    def _kick(self) -> None:
        self._wakeup.set()

    def close(self) -> None:
        """On the Trio thread: refuse new task runs; `run` returns once the queue is empty."""
        with self._lock:
            self._closed = True
        self._wakeup.set()

    async def wait_closed(self) -> None:
        """Wait until `run` has returned (every queued task run submitted). A checkpoint."""
        await self._finished.wait()

    async def run(self) -> None:
        """Submit queued task runs until closed. A pending task run left when the pump is
        cancelled ends Cancelled."""
        runner = self._runner
        batch: list[tuple[TaskFuture, Callable[[], Any]]] = []
        try:
            while True:
                with self._lock:
                    batch, self._queue = self._queue, []
                    if not batch:
                        if self._closed:
                            return
                        self._kicked = False
                        self._wakeup = trio.Event()
                if not batch:
                    await self._wakeup.wait()
                    continue
                batch.reverse()
                while batch:
                    future, call = batch.pop()
                    if not future._pending:  # cancelled while pending
                        continue
                    try:
                        await runner.submit(future.key, call)
                    except BaseException as exc:
                        if future._peek() is None:  # never registered: no State to wait for
                            future._settle(_never_submitted(exc))
                        if not isinstance(exc, Exception):
                            raise
                    finally:
                        future._submitted()
        finally:
            with self._lock:
                self._closed = True
                batch.extend(reversed(self._queue))
                self._queue = []
            for future, _ in batch:
                if future._pending:
                    future._settle(Cancelled("the flow run ended before it was submitted"))
            self._finished.set()


def _never_submitted(exc: BaseException) -> State[Any]:
    """The State of a task run whose submission ``exc`` interrupted: Cancelled for a
    cancellation, Crashed otherwise."""
    if isinstance(exc, trio.Cancelled):
        return Cancelled("cancelled by an enclosing cancel scope")
    return Crashed(exc)
