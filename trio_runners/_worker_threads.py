"""Long-lived worker threads for a run's sync calls, with public Trio APIs only.

``trio.to_thread.run_sync`` per sync call costs a thread hand-off each way plus Trio's set-up
of a fresh worker (about 100 µs here). A `WorkerThreads` pool enters each of its threads
**once** through ``trio.to_thread.run_sync`` (so ``trio.from_thread.*`` works inside calls, and
the thread holds a token of the run's limiter for its life, as any Trio worker thread does),
then feeds it calls through a `queue.SimpleQueue`; each thread reports a finished call with
``TrioToken.run_sync_soon``, and the call's task is woken with ``trio.lowlevel.reschedule``.

Per-call semantics are `trio.to_thread.run_sync(..., abandon_on_cancel=True)`'s: a call runs in
a copy of its task's context; when its task is cancelled, the thread is **abandoned**: the
call's task raises `trio.Cancelled` at once, the thread runs on until the function returns
(``trio.from_thread.check_cancelled()`` raises in it from then on: its host task was cancelled
through Trio), its result is discarded, the thread then ends (it is never reused) and gives
its limiter token back only then. Idle threads end when the run's backend closes the pool.

Every thread the Trio side knows of is told to stop exactly once (a ``None`` in its queue): when
the pool closes (idle threads), when it finishes its call after being abandoned, or when it
reports ready after the pool closed.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import queue
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, final

import outcome
import sniffio
import trio

__all__ = ["WorkerThreads", "open_worker_threads", "worker_threads_for"]

_Job = tuple[Callable[[], Any], contextvars.Context] | None


@final
class _Worker:
    """One worker thread and its host task's cancel scope."""

    __slots__ = ("abandoned", "jobs", "ready", "scope", "task", "waiting_for_token")

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        #: Shields the host task from the run's cancellation: only `WorkerThreads` cancels it,
        #: to abandon the thread (once `ready`), or (while `waiting_for_token`) when the pool
        #: closes.
        self.scope = trio.CancelScope(shield=True)
        self.waiting_for_token = True
        self.ready = False  # the thread has reported `_ready`: it runs `_thread_main`
        #: The Trio task waiting for the call this thread runs (None while idle).
        self.task: trio.lowlevel.Task | None = None
        self.abandoned = False


@final
class _Waiter:
    """A call waiting for a thread: its task and its job, until a thread is bound to it."""

    __slots__ = ("job", "task", "worker")

    def __init__(self, task: trio.lowlevel.Task, job: _Job) -> None:
        self.task: trio.lowlevel.Task | None = task  # None once cancelled
        self.job = job
        self.worker: _Worker | None = None


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
        self._idle: list[_Worker] = []
        self._waiters: deque[_Waiter] = deque()
        self._starting: set[_Worker] = set()  # hosts whose thread has not reported ready
        self._wanting_tokens = 0  # hosts waiting for a limiter token
        self._workers: set[_Worker] = set()  # every thread started and not told to stop
        self.closed = False

    # ------------------------------------------------------------------ Trio thread

    async def run_sync(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in a worker thread, in a copy of the current context, and return (or
        raise) what it does. Always a checkpoint.

        Cancellation, as ``trio.to_thread.run_sync(abandon_on_cancel=True)``: while the call
        waits for a thread (no idle thread, and no limiter token for a new one) it is simply
        cancelled and never runs; once a thread is bound to it (an idle one, or a new one
        that got its token), `trio.Cancelled` is raised at once and the thread is abandoned
        (see the module).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        context = contextvars.copy_context()
        context.run(sniffio.current_async_library_cvar.set, None)  # as trio.to_thread does
        waiter = _Waiter(trio.lowlevel.current_task(), (fn, context))
        if self._idle:
            self._bind(self._idle.pop(), waiter)
        else:
            self._waiters.append(waiter)
            self._start_workers()

        def abort(_: object) -> trio.lowlevel.Abort:
            worker = waiter.worker
            if worker is None:  # no thread yet: it never runs
                waiter.task = None
            else:
                self._abandon(worker)
            return trio.lowlevel.Abort.SUCCEEDED

        # `_done` reschedules this task with the call's outcome: its value, or what it raised.
        return await trio.lowlevel.wait_task_rescheduled(abort)

    def _bind(self, worker: _Worker, waiter: _Waiter) -> None:
        """Hand ``waiter``'s call to ``worker``'s thread (it runs it as soon as it can)."""
        waiter.worker = worker
        worker.task = waiter.task
        worker.jobs.put(waiter.job)
        waiter.job = None

    def _next_waiter(self) -> _Waiter | None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if waiter.task is not None:
                return waiter
        return None

    def _start_workers(self) -> None:
        """Start a host for each waiter no host waiting for a token will serve, within the
        limiter's tokens (threads told to stop may hold theirs a little longer: a new host
        waits for it). Called when a waiter comes and when a thread is told to stop, so that
        a waiter is never left without a thread coming while tokens are free."""
        waiters = self._waiters
        while waiters and waiters[0].task is None:  # cancelled waiters
            waiters.popleft()
        total = self._limiter.total_tokens
        while (
            self._wanting_tokens < len(waiters) and len(self._starting) + len(self._workers) < total
        ):
            worker = _Worker()
            self._starting.add(worker)
            self._wanting_tokens += 1
            self._nursery.start_soon(self._host, worker)

    async def _host(self, worker: _Worker) -> None:
        """The worker's host task: takes a token of the run's limiter for the thread, binds
        the first waiting call to it, then enters the thread once. The token is the thread's
        for its whole life: the thread gives it back as its last act (`_thread_main`), so an
        abandoned thread keeps it until it really ends, as with
        ``trio.to_thread.run_sync(limiter=...)``."""
        try:
            with worker.scope:
                await self._limiter.acquire_on_behalf_of(worker)
                worker.waiting_for_token = False
                self._wanting_tokens -= 1
                waiter = self._next_waiter()
                if waiter is not None:  # bound before the thread starts: it will run it
                    self._bind(worker, waiter)
                # From here the scope is cancelled only once the thread is `ready` (see
                # `_abandon`), so the thread always starts and gives its token back.
                await trio.to_thread.run_sync(
                    self._thread_main, worker, abandon_on_cancel=True, limiter=self._unlimited
                )
        finally:
            if worker.waiting_for_token:  # cancelled before it got a token (the pool closed)
                self._wanting_tokens -= 1
                self._starting.discard(worker)

    def _ready(self, worker: _Worker) -> None:
        """From `run_sync_soon`: a new thread runs `_thread_main`."""
        self._starting.discard(worker)
        self._workers.add(worker)
        worker.ready = True
        if worker.abandoned:  # its call was cancelled already: it runs it abandoned, then ends
            worker.scope.cancel()
            self._stop(worker)
        elif worker.task is None:  # nothing bound to it
            self._put_to_work(worker)

    def _done(self, worker: _Worker, result: outcome.Outcome[Any]) -> None:
        """From `run_sync_soon`: the worker finished its call."""
        task, worker.task = worker.task, None
        if worker.abandoned:  # the call's task was cancelled: its result is discarded
            self._stop(worker)
            return
        if task is not None:
            trio.lowlevel.reschedule(task, result)
        self._put_to_work(worker)

    def _put_to_work(self, worker: _Worker) -> None:
        """Bind a free worker to the first live waiter, or keep it idle (or stop it once the
        pool is closed)."""
        if self.closed:
            self._stop(worker)
            return
        waiter = self._next_waiter()
        if waiter is not None:
            self._bind(worker, waiter)
        else:
            self._idle.append(worker)

    def _abandon(self, worker: _Worker) -> None:
        """The call's task was cancelled: cut the thread loose (see the module). A thread
        that has not reported ready yet is cut loose by `_ready` (its host must first enter
        it: cancelling the host before would leave the call's job and the token stranded)."""
        worker.abandoned = True
        worker.task = None
        if worker.ready:
            worker.scope.cancel()  # its host's to_thread.run_sync is cancelled: abandoned

    def _stop(self, worker: _Worker) -> None:
        if worker in self._workers:
            self._workers.discard(worker)
            worker.jobs.put(None)
            if self._waiters and not self.closed:
                self._start_workers()

    def close(self) -> None:
        """No more calls: idle threads end, busy ones end after their call, hosts still
        waiting for a limiter token give up. Not a checkpoint."""
        self.closed = True
        for worker in self._idle:
            self._stop(worker)
        self._idle.clear()
        for worker in self._starting:
            if worker.waiting_for_token:
                worker.scope.cancel()

    # ------------------------------------------------------------------ worker thread

    def _thread_main(self, worker: _Worker) -> None:
        token = self._token
        jobs = worker.jobs
        try:
            token.run_sync_soon(self._ready, worker)
            while True:
                job = jobs.get()
                if job is None:
                    return
                fn, context = job
                result = outcome.capture(context.run, fn)
                del job, fn, context
                token.run_sync_soon(self._done, worker, result)
                del result
        except trio.RunFinishedError:  # pragma: no cover - the run ended under an abandoned call
            return
        finally:
            # The thread's last act: its limiter token back (before the host task resumes:
            # run_sync_soon callbacks run in order).
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(self._limiter.release_on_behalf_of, worker)


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
