"""Long-lived worker threads for a run's sync calls, with public Trio APIs only.

``trio.to_thread.run_sync`` per sync call costs a thread hand-off each way plus Trio's set-up
of a fresh worker (about 100 µs here). A `WorkerThreads` pool enters each of its threads
**once** through ``trio.to_thread.run_sync`` (so ``trio.from_thread.*`` works inside calls, and
the thread holds a token of the run's limiter for its life, as any Trio worker thread does).
The threads take calls from **one shared FIFO queue**, so a thread that finishes a call takes
the next queued one at once, without a round trip through the Trio thread; finished calls are
collected in a list and reported in batches: the first finished call of a batch wakes the Trio
thread with one ``TrioToken.run_sync_soon``, and that callback reschedules the task of every
call finished by then (``trio.lowlevel.reschedule``). A burst of sync calls thus costs about
one wake-up of the Trio thread per batch, not one per call (the thread hops of a call were
most of its cost: futex and socket wake-ups, not Python).

Per-call semantics are `trio.to_thread.run_sync(..., abandon_on_cancel=True)`'s: a call runs in
a copy of its task's context; a call cancelled while still queued never runs; a call cancelled
once a thread has taken it makes its task raise `trio.Cancelled` at once and the thread is
**abandoned**: it runs on until the function returns (``trio.from_thread.check_cancelled()``
raises in it from then on: its host task was cancelled through Trio), its result is
discarded, the thread then ends (it is never reused) and gives its limiter token back only
then. A call cancelled after its function returned, before its task was rescheduled, has its
result discarded and its thread goes on. Idle threads end when the run's backend closes the
pool.

Every state a call goes through (queued, taken by a thread, done, cancelled) and the counts the
Trio thread decides on (queued calls, idle threads, threads on their way) change under one
``threading.Lock``, held for a few statements only, on both sides (as Trio's own
``run_sync_soon`` holds its lock). A new thread is started only when the queued calls
outnumber the idle threads and the threads on their way, within the limiter's tokens.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import queue
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, final

import outcome
import sniffio
import trio

__all__ = ["WorkerThreads", "open_worker_threads", "worker_threads_for"]

# The states of a `_Job` (ints: compared under the lock, on the hot path).
_QUEUED, _TAKEN, _DONE, _CANCELLED = range(4)


@final
class _Worker:
    """One worker thread and its host task's cancel scope."""

    __slots__ = ("abandoned", "entered", "scope")

    def __init__(self) -> None:
        #: Shields the host task from the run's cancellation: only `WorkerThreads` cancels it,
        #: to abandon the thread (once it took a call), or (while it waits for a limiter
        #: token) when the pool closes.
        self.scope = trio.CancelScope(shield=True)
        self.entered = False  # the thread runs `_thread_main` (set by the thread, under the lock)
        self.abandoned = False  # its call's task was cancelled while it ran (under the lock)


@final
class _Job:
    """One sync call: its function and context until a thread runs it, the task to wake."""

    __slots__ = ("context", "fn", "state", "task", "worker")

    def __init__(
        self, task: trio.lowlevel.Task, fn: Callable[[], Any], context: contextvars.Context
    ) -> None:
        self.task: trio.lowlevel.Task | None = task  # None: nobody waits for the result any more
        self.fn: Callable[[], Any] | None = fn
        self.context: contextvars.Context | None = context
        self.state = _QUEUED
        self.worker: _Worker | None = None  # the thread that took it


@final
class WorkerThreads:
    """The worker threads of one run, bounded by the run's thread limiter; see the module."""

    def __init__(self, nursery: trio.Nursery, limiter: trio.CapacityLimiter) -> None:
        self._nursery = nursery
        self._limiter = limiter
        # The run's limiter bounds the threads (`_host`); trio.to_thread gets one that never
        # blocks (None would mean Trio's global default limiter).
        self._unlimited = trio.CapacityLimiter(math.inf)
        self._token = trio.lowlevel.current_trio_token()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()  # None: one thread stops
        self._lock = threading.Lock()
        # Under the lock:
        self._queued = 0  # jobs in the queue that no thread took and nobody cancelled
        self._idle = 0  # threads waiting for a job (or about to)
        self._coming = 0  # hosts started whose thread has not entered `_thread_main` yet
        self._finished: list[tuple[_Job, outcome.Outcome[Any]]] = []
        self._report_pending = False  # a `_report` is scheduled and has not taken the list yet
        # Trio thread only:
        self._threads = 0  # hosts started whose thread has not ended (each holds or wants a token)
        self._waiting: set[_Worker] = set()  # hosts waiting for a limiter token
        self._live: set[_Worker] = set()  # threads to tell to stop on close (not abandoned)
        self.closed = False

    # ------------------------------------------------------------------ Trio thread

    async def run_sync(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in a worker thread, in a copy of the current context, and return (or
        raise) what it does. Always a checkpoint.

        Cancellation, as ``trio.to_thread.run_sync(abandon_on_cancel=True)``: while the call is
        queued (no thread has taken it yet) it is simply cancelled and never runs; once a
        thread has taken it, `trio.Cancelled` is raised at once and the thread is abandoned
        (see the module).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        context = contextvars.copy_context()
        context.run(sniffio.current_async_library_cvar.set, None)  # as trio.to_thread does
        job = _Job(trio.lowlevel.current_task(), fn, context)
        with self._lock:
            self._queued += 1
            short = self._queued - self._idle - self._coming
        self._jobs.put(job)
        if short > 0:
            self._start_threads()

        def abort(_: object) -> trio.lowlevel.Abort:
            worker = None
            with self._lock:
                if job.state == _QUEUED:  # no thread took it: it never runs
                    job.state = _CANCELLED
                    job.fn = job.context = None
                    self._queued -= 1
                elif job.state == _TAKEN:  # its thread runs it: abandoned
                    worker = job.worker
                    assert worker is not None
                    worker.abandoned = True
                job.task = None  # a result reported later (_DONE) is discarded
            if worker is not None:
                self._live.discard(worker)
                worker.scope.cancel()  # its host's to_thread.run_sync is cancelled: abandoned
            return trio.lowlevel.Abort.SUCCEEDED

        # `_report` reschedules this task with the call's outcome: its value, or what it raised.
        return await trio.lowlevel.wait_task_rescheduled(abort)

    def _start_threads(self) -> None:
        """Start a host for each queued call that no idle thread and no thread on its way will
        take, within the limiter's tokens (abandoned threads hold theirs until they end: a
        new host waits for it). Called when a call is queued and when a thread ends."""
        total = self._limiter.total_tokens
        with self._lock:
            short = self._queued - self._idle - self._coming
            while short > 0 and self._threads < total:
                short -= 1
                self._coming += 1
                self._threads += 1
                worker = _Worker()
                self._waiting.add(worker)
                self._nursery.start_soon(self._host, worker)

    async def _host(self, worker: _Worker) -> None:
        """The worker's host task: takes a token of the run's limiter for the thread, then
        enters the thread once. The token is the thread's for its whole life: the thread gives
        it back as its last act (`_thread_main`), so an abandoned thread keeps it until it
        really ends, as with ``trio.to_thread.run_sync(limiter=...)``."""
        try:
            with worker.scope:
                await self._limiter.acquire_on_behalf_of(worker)
                self._waiting.discard(worker)
                if self.closed:  # the token came as the pool closed: no thread is needed
                    self._limiter.release_on_behalf_of(worker)
                    return
                self._live.add(worker)
                # From here the scope is cancelled only once the thread has taken a call (see
                # `run_sync`'s abort), so the thread always starts and gives its token back.
                await trio.to_thread.run_sync(
                    self._thread_main, worker, abandon_on_cancel=True, limiter=self._unlimited
                )
        finally:
            self._waiting.discard(worker)
            with self._lock:
                entered = worker.entered
                if not entered:  # cancelled while waiting for a token (the pool closed)
                    self._coming -= 1
            if not entered:
                self._threads -= 1

    def _report(self) -> None:
        """From `run_sync_soon`: wake the task of every call finished since the last report."""
        with self._lock:
            finished, self._finished = self._finished, []
            self._report_pending = False
        for job, result in finished:
            task = job.task
            if task is not None:  # else its task was cancelled: the result is discarded
                job.task = None
                trio.lowlevel.reschedule(task, result)

    def _ended(self, worker: _Worker) -> None:
        """From `run_sync_soon`: the worker's thread ends; its token goes back."""
        self._limiter.release_on_behalf_of(worker)
        self._threads -= 1
        self._live.discard(worker)
        if not self.closed:
            self._start_threads()

    def close(self) -> None:
        """No more calls: idle threads end, busy ones end after their call, hosts still
        waiting for a limiter token give up. Not a checkpoint."""
        self.closed = True
        for worker in self._waiting:
            worker.scope.cancel()
        for _ in self._live:
            self._jobs.put(None)
        self._live.clear()

    # ------------------------------------------------------------------ worker thread

    def _thread_main(self, worker: _Worker) -> None:
        token = self._token
        jobs = self._jobs
        lock = self._lock
        try:
            with lock:
                worker.entered = True
                self._coming -= 1
                self._idle += 1
            while True:
                job = jobs.get()
                with lock:
                    self._idle -= 1
                    if job is None:
                        return
                    if job.state != _QUEUED:  # cancelled while queued: skip it
                        self._idle += 1
                        continue
                    job.state = _TAKEN
                    job.worker = worker
                    self._queued -= 1
                    fn, context = job.fn, job.context
                    job.fn = job.context = None
                assert fn is not None and context is not None
                result = outcome.capture(context.run, fn)
                del fn, context
                with lock:
                    if worker.abandoned:  # its call was cancelled: the result is discarded
                        return
                    job.state = _DONE
                    self._finished.append((job, result))
                    self._idle += 1
                    first = not self._report_pending
                    self._report_pending = True
                del job, result
                if first:
                    token.run_sync_soon(self._report)
        except trio.RunFinishedError:  # pragma: no cover - the run ended under an abandoned call
            return
        finally:
            # The thread's last act: its limiter token back (before the host task resumes:
            # run_sync_soon callbacks run in order).
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(self._ended, worker)


#: The pool of each open run's thread limiter (a run's limiter is its own: see `_base`).
_POOLS: dict[trio.CapacityLimiter, WorkerThreads] = {}


def worker_threads_for(limiter: trio.CapacityLimiter | None) -> WorkerThreads | None:
    """The open pool of the run whose thread limiter is ``limiter``, if any."""
    if limiter is None:
        return None
    pool = _POOLS.get(limiter)
    if pool is None or pool.closed:
        return None
    return pool


@asynccontextmanager
async def open_worker_threads(
    nursery: trio.Nursery, limiter: trio.CapacityLimiter | None
) -> AsyncIterator[None]:
    """A `WorkerThreads` pool for the run whose thread limiter is ``limiter``, its host tasks in
    ``nursery``; closed on exit (no thread is started until a sync call needs one). Not a
    checkpoint."""
    if limiter is None:
        yield
        return
    pool = _POOLS[limiter] = WorkerThreads(nursery, limiter)
    try:
        yield
    finally:
        pool.close()
        if _POOLS.get(limiter) is pool:
            del _POOLS[limiter]
