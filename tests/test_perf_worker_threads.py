"""The run's long-lived worker threads (`_worker_threads`): reused, and `to_thread`'s semantics."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any

import pytest
import sniffio
import trio
import trio.testing

from trio_runners import ConcurrentTaskRunner, SequentialTaskRunner, ThreadPoolTaskRunner
from trio_runners._base import BaseTaskRunner
from trio_runners._execution import run_sync_in_thread
from trio_runners._worker_threads import open_worker_threads, worker_threads_for

FACTORIES: dict[str, Callable[[], BaseTaskRunner]] = {
    "concurrent": ConcurrentTaskRunner,
    "concurrent-max1": lambda: ConcurrentTaskRunner(max_workers=1),
    "threadpool": ThreadPoolTaskRunner,
    "sequential": SequentialTaskRunner,
}


@pytest.fixture(params=sorted(FACTORIES))
def any_runner(request: pytest.FixtureRequest) -> BaseTaskRunner:
    return FACTORIES[request.param]()


async def test_sync_calls_reuse_the_runs_threads(any_runner: BaseTaskRunner) -> None:
    async with any_runner.start():
        for i in range(20):
            await any_runner.submit(i, threading.get_ident)
            await any_runner.wait(i)  # one at a time: one thread is enough
        idents = {any_runner.state(i).result() for i in range(20)}  # type: ignore[union-attr]
    assert len(idents) == 1
    assert threading.get_ident() not in idents


async def test_idle_threads_give_their_limiter_tokens_back_when_the_run_ends(
    any_runner: BaseTaskRunner,
) -> None:
    async with any_runner.start():
        limiter = any_runner._thread_limiter
        assert limiter is not None
        for i in range(5):
            await any_runner.submit(i, threading.get_ident)
        for i in range(5):
            await any_runner.wait(i)
        assert limiter.borrowed_tokens >= 1  # idle threads stay for the next sync call
    assert limiter.borrowed_tokens == 0
    assert worker_threads_for(limiter) is None


var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


async def test_a_call_runs_in_its_tasks_context_and_can_reach_trio(
    any_runner: BaseTaskRunner,
) -> None:
    def call() -> tuple[str, str | None, float]:
        try:
            library = sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            library = None
        var.set("changed in the thread")  # in the call's own copy only
        return var.get(), library, trio.from_thread.run_sync(trio.current_time)

    async with any_runner.start():
        var.set("submitter")
        await any_runner.submit("a", lambda: (var.get(), call())[1])
        var.set("second")
        await any_runner.submit("b", call)
        first = await any_runner.wait("a")
        second = await any_runner.wait("b")
        assert var.get() == "second"
    assert first is not None and second is not None
    value, library, now = first.result()
    assert value == "changed in the thread"
    assert library is None
    assert now > 0


async def test_cancel_abandons_the_thread_and_check_cancelled_raises_in_it() -> None:
    runner = ConcurrentTaskRunner(max_workers=1)
    started = threading.Event()
    release = threading.Event()
    seen: list[str] = []

    def blocked() -> str:
        started.set()
        release.wait()
        try:
            trio.from_thread.check_cancelled()
        except trio.Cancelled:
            seen.append("cancelled")
        return "discarded"

    async with runner.start():
        limiter = runner._thread_limiter
        assert limiter is not None
        await runner.submit("blocked", blocked)
        await trio.to_thread.run_sync(started.wait)
        assert runner.cancel("blocked")
        state = await runner.wait("blocked")
        assert state is not None and state.is_cancelled()
        # The abandoned thread keeps its token until it returns: the next sync call waits.
        await runner.submit("next", threading.get_ident)
        await trio.testing.wait_all_tasks_blocked()
        assert runner.state("next") is None
        release.set()
        state = await runner.wait("next")
        assert state is not None and state.is_completed()
    assert seen == ["cancelled"]
    assert limiter.borrowed_tokens == 0


async def test_a_call_cancelled_while_waiting_for_a_thread_never_runs() -> None:
    runner = SequentialTaskRunner()
    started = threading.Event()
    release = threading.Event()
    ran: list[str] = []

    def blocked() -> None:
        started.set()
        release.wait()

    async with runner.start():
        limiter = runner._thread_limiter
        assert limiter is not None
        limiter.total_tokens = 1
        async with trio.open_nursery() as nursery:
            nursery.start_soon(runner.submit, "blocked", blocked)
            await trio.to_thread.run_sync(started.wait)
            runner.cancel("blocked")  # abandoned: its thread holds the only token
            await trio.testing.wait_all_tasks_blocked()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(runner.submit, "waits", lambda: ran.append("waits"))
            await trio.testing.wait_all_tasks_blocked()  # waiting for a thread (no token)
            nursery.cancel_scope.cancel()
        state = runner.state("waits")
        assert state is not None and state.is_cancelled()
        release.set()
        await runner.submit("after", lambda: ran.append("after"))
    assert ran == ["after"]
    assert limiter.borrowed_tokens == 0


async def noop() -> str:
    await trio.lowlevel.checkpoint()
    return "awaited"


async def test_failures_and_awaitables_keep_their_states(
    any_runner: BaseTaskRunner,
) -> None:
    def fail() -> None:
        raise ValueError("boom")

    async with any_runner.start():
        await any_runner.submit("fail", fail)
        await any_runner.submit("awaitable", lambda: noop())  # awaited on the loop
        failed = await any_runner.wait("fail")
        awaited = await any_runner.wait("awaitable")
    assert failed is not None and failed.is_failed()
    assert isinstance(failed.exception(), ValueError)
    assert awaited is not None and awaited.result() == "awaited"


async def test_leaving_start_by_an_exception_ends_busy_and_idle_threads() -> None:
    runner = ConcurrentTaskRunner()
    release = threading.Event()
    started = threading.Event()

    def blocked() -> None:
        started.set()
        release.wait()

    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match="leave")):
        async with runner.start():
            limiter = runner._thread_limiter
            assert limiter is not None
            await runner.submit("idle", threading.get_ident)
            await runner.wait("idle")
            await runner.submit("busy", blocked)
            await trio.to_thread.run_sync(started.wait)
            raise ValueError("leave")
    state = runner.state("busy")
    assert state is not None and state.is_cancelled()
    # The idle thread is gone; the abandoned one keeps its token until it returns.
    assert limiter.borrowed_tokens == 1
    release.set()


async def test_without_an_open_pool_a_sync_call_uses_trio_to_thread() -> None:
    limiter = trio.CapacityLimiter(1)
    assert worker_threads_for(limiter) is None
    ident: Any = await run_sync_in_thread(threading.get_ident, limiter)
    assert ident != threading.get_ident()
    assert limiter.borrowed_tokens == 0


async def test_a_host_whose_token_comes_as_the_pool_closes_gives_it_back() -> None:
    # A host waiting for a limiter token is cancelled when the pool closes; if the token was
    # granted in the same tick (the task is rescheduled, so the cancel cannot abort it), the
    # host must give the token back and start no thread, or the token leaks.
    limiter = trio.CapacityLimiter(1)
    holder = object()
    limiter.acquire_on_behalf_of_nowait(holder)  # every token taken: a new host must wait
    with trio.fail_after(30):  # a hang guard
        async with trio.open_nursery() as nursery, open_worker_threads(nursery, limiter):
            pool = worker_threads_for(limiter)
            assert pool is not None
            async with trio.open_nursery() as calls:
                calls.start_soon(pool.run_sync, threading.get_ident)
                await trio.testing.wait_all_tasks_blocked()  # its host waits for a token
                calls.cancel_scope.cancel()  # the queued call never runs
            assert limiter.statistics().tasks_waiting == 1
            limiter.release_on_behalf_of(holder)  # granted to the host...
            # ...and the pool closed in the same tick, before the host resumed.
    assert limiter.borrowed_tokens == 0
    assert pool._threads == 0


class _CountingToken:
    """A TrioToken stand-in counting run_sync_soon calls made by worker threads (``called``
    is set at each)."""

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self.token = token
        self.calls = 0
        self.called = threading.Event()

    def run_sync_soon(self, fn: Callable[..., object], *args: object) -> None:
        self.calls += 1
        self.token.run_sync_soon(fn, *args)
        self.called.set()


async def test_calls_finished_while_the_trio_thread_is_busy_are_reported_in_one_batch() -> None:
    limiter = trio.CapacityLimiter(1)  # one thread: the calls run one after another
    last_ran = threading.Event()
    async with trio.open_nursery() as nursery, open_worker_threads(nursery, limiter):
        pool = worker_threads_for(limiter)
        assert pool is not None
        counting = _CountingToken(pool._token)
        pool._token = counting  # type: ignore[assignment]  # before the thread starts
        await pool.run_sync(threading.get_ident)  # the thread is up and idle
        before = counting.calls  # its report of this first call
        results: dict[int, object] = {}

        async def one(i: int, fn: Callable[[], object]) -> None:
            results[i] = await pool.run_sync(fn)

        # Keep the Trio thread busy (blocked on purpose) until the thread has run all
        # six: the five first are finished and listed by then, and one wake-up was sent.
        last_ran.clear()
        with trio.CancelScope(shield=True):
            for i in range(5):
                nursery.start_soon(one, i, lambda i=i: i * i)
            nursery.start_soon(one, 5, last_ran.set)
            await trio.testing.wait_all_tasks_blocked()
            # blocking the Trio thread on purpose, to keep it from reporting
            assert last_ran.wait(30)  # blocks the Trio thread, on purpose
        await trio.testing.wait_all_tasks_blocked()
    assert results == {0: 0, 1: 1, 2: 4, 3: 9, 4: 16, 5: None}
    # The first finished call of a batch wakes the Trio thread (6 calls: one or two batches,
    # as the sixth may finish after the first batch was taken); each thread's end reports once.
    thread_ends = 1
    assert counting.calls - before <= 2 + thread_ends, counting.calls - before


async def test_a_call_cancelled_after_it_returned_but_before_it_resumed_keeps_its_thread() -> None:
    limiter = trio.CapacityLimiter(1)
    with trio.fail_after(30):  # a hang guard
        await _cancel_after_return(limiter)
    assert limiter.borrowed_tokens == 0


async def _cancel_after_return(limiter: trio.CapacityLimiter) -> None:
    async with trio.open_nursery() as nursery, open_worker_threads(nursery, limiter):
        pool = worker_threads_for(limiter)
        assert pool is not None
        counting = _CountingToken(pool._token)
        pool._token = counting  # type: ignore[assignment]  # before the thread starts
        first = await pool.run_sync(threading.get_ident)
        outcomes: list[str] = []
        go = threading.Event()

        async def cancelled_late(scope: trio.CancelScope) -> None:
            with scope:
                await pool.run_sync(go.wait)
                outcomes.append("resumed")  # pragma: no cover - must not happen
            outcomes.append("cancelled" if scope.cancelled_caught else "not cancelled")

        scope = trio.CancelScope()
        nursery.start_soon(cancelled_late, scope)
        await trio.testing.wait_all_tasks_blocked()  # the call runs in the thread, held
        counting.called.clear()
        # From here the Trio thread is blocked on purpose until the thread has listed the
        # call's result and asked for a report: the cancel comes before the report runs,
        # and must discard the result.
        go.set()
        assert counting.called.wait(30)  # blocks the Trio thread, on purpose
        scope.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert outcomes == ["cancelled"]
        # The thread was not abandoned: it takes the next call.
        assert await pool.run_sync(threading.get_ident) == first
