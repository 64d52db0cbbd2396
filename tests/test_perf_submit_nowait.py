"""``submit_nowait``: the loop pools' synchronous submit (Trio's ``*_nowait`` idiom)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import trio
import trio.testing

from trio_runners import ConcurrentTaskRunner, ThreadPoolTaskRunner
from trio_runners._concurrent import LoopPoolTaskRunner

FACTORIES: dict[str, Callable[[], LoopPoolTaskRunner]] = {
    "concurrent": ConcurrentTaskRunner,
    "concurrent-max2": lambda: ConcurrentTaskRunner(max_workers=2),
    "concurrent-max1-pending1": lambda: ConcurrentTaskRunner(max_workers=1, max_pending=1),
    "threadpool": ThreadPoolTaskRunner,
}


@pytest.fixture(params=sorted(FACTORIES))
def pool(request: pytest.FixtureRequest) -> LoopPoolTaskRunner:
    return FACTORIES[request.param]()


async def double(x: int) -> int:
    await trio.lowlevel.checkpoint()
    return 2 * x


async def boom() -> None:
    raise ValueError("boom")


async def agen() -> AsyncIterator[int]:  # pragma: no cover - never iterated
    yield 1


async def test_submit_nowait_does_not_checkpoint_and_gives_the_same_states(
    pool: LoopPoolTaskRunner,
) -> None:
    async with pool.start():
        with trio.testing.assert_no_checkpoints():
            pool.submit_nowait("ok", lambda: double(21))
        state = await pool.wait("ok")  # (max_pending=1: room for one queued call at a time)
        assert state is not None and state.result() == 42
        with trio.testing.assert_no_checkpoints():
            pool.submit_nowait("sync", lambda: 7)
        await pool.submit("boom", boom)
        state = await pool.wait("sync")
        assert state is not None and state.result() == 7
        state = await pool.wait("boom")
        assert state is not None and state.is_failed()


async def test_a_cancelled_submitter_does_not_cancel_the_call(pool: LoopPoolTaskRunner) -> None:
    async with pool.start():
        with trio.CancelScope() as scope:  # noqa: ASYNC100 (the point: no checkpoint in it)
            scope.cancel()
            pool.submit_nowait("a", lambda: double(1))  # no checkpoint: nothing to cancel
        assert scope.cancelled_caught is False
        state = await pool.wait("a")
        assert state is not None and state.result() == 2


async def test_bad_input_names_what_is_wrong_and_submits_nothing(
    pool: LoopPoolTaskRunner,
) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        pool.submit_nowait("early", lambda: 1)
    async with pool.start():
        pool.submit_nowait("a", lambda: 1)
        await pool.wait("a")
        with pytest.raises(ValueError, match="'a' was already submitted"):
            pool.submit_nowait("a", lambda: 2)
        with pytest.raises(TypeError, match="unhashable key"):
            pool.submit_nowait([1], lambda: 2)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="'g' is an async generator function"):
            pool.submit_nowait("g", agen)
        with pytest.raises(TypeError, match="'n' must be a zero-argument callable"):
            pool.submit_nowait("n", 3)  # type: ignore[arg-type]
        # Nothing was registered and no pending room was lost: the next submit goes through.
        assert pool.statistics().finished == 1
        with pytest.raises(KeyError):
            pool.state("g")
        pool.submit_nowait("b", lambda: 3)
        state = await pool.wait("b")
        assert state is not None and state.result() == 3
        state = await pool.wait("a")
        assert state is not None and state.result() == 1  # the first call undisturbed
    with pytest.raises(RuntimeError, match="has exited"):
        pool.submit_nowait("late", lambda: 1)


async def test_backpressure_raises_would_block_and_submits_nothing() -> None:
    runner = ConcurrentTaskRunner(max_workers=1, max_pending=1)
    gate = trio.Event()

    async def held() -> str:
        await gate.wait()
        return "held"

    async with runner.start():
        runner.submit_nowait("running", held)
        await trio.testing.wait_all_tasks_blocked()  # admitted: its room is free again
        runner.submit_nowait("queued", lambda: double(1))
        with pytest.raises(trio.WouldBlock):
            runner.submit_nowait("refused", lambda: double(2))
        with pytest.raises(KeyError):
            runner.state("refused")  # the key stays free
        assert runner.statistics().queued == 1
        # A queued call that is cancelled gives its room back at once.
        assert runner.cancel("queued")
        runner.submit_nowait("refused", lambda: double(2))
        gate.set()
        state = await runner.wait("refused")
        assert state is not None and state.result() == 4
    queued = runner.state("queued")
    assert queued is not None and queued.is_cancelled()


async def test_blocked_submitters_come_before_submit_nowait() -> None:
    runner = ConcurrentTaskRunner(max_workers=1, max_pending=1)
    gate = trio.Event()

    async def held() -> None:
        await gate.wait()

    async with runner.start(), trio.open_nursery() as nursery:
        await runner.submit("running", held)
        await trio.testing.wait_all_tasks_blocked()
        await runner.submit("queued", held)
        nursery.start_soon(runner.submit, "blocked", held)
        await trio.testing.wait_all_tasks_blocked()
        assert runner.cancel("queued")  # its room goes to the blocked submitter, not to us
        with pytest.raises(trio.WouldBlock):
            runner.submit_nowait("late", held)
        await trio.testing.wait_all_tasks_blocked()
        assert runner.statistics().queued == 1  # "blocked" is queued now
        gate.set()


async def test_admission_is_fifo_in_submission_order() -> None:
    started: list[int] = []

    def call(i: int) -> Callable[[], Any]:
        async def run() -> None:
            started.append(i)
            await trio.lowlevel.checkpoint()

        return run

    runner = ConcurrentTaskRunner(max_workers=1)
    async with runner.start():
        for i in range(5):
            runner.submit_nowait(i, call(i))
        await runner.submit(5, call(5))
        for i in range(3):
            runner.submit_nowait(6 + i, call(6 + i))
    assert started == list(range(9))


async def test_cancel_reaches_a_call_submitted_without_waiting(pool: LoopPoolTaskRunner) -> None:
    async with pool.start():
        pool.submit_nowait("sleeper", trio.sleep_forever)
        await trio.testing.wait_all_tasks_blocked()
        assert pool.cancel("sleeper")
        state = await pool.wait("sleeper")
        assert state is not None and state.is_cancelled()
        await trio.testing.wait_all_tasks_blocked()  # its code has unwound
        assert pool.statistics().running == 0


async def test_refused_outside_the_trio_thread() -> None:
    runner = ConcurrentTaskRunner()
    async with runner.start():
        with pytest.raises(RuntimeError, match="must be called on the Trio thread"):
            await trio.to_thread.run_sync(runner.submit_nowait, "t", lambda: 1)
        with pytest.raises(KeyError):
            runner.state("t")


async def test_leaving_start_by_an_exception_cancels_calls_submitted_without_waiting() -> None:
    runner = ConcurrentTaskRunner(max_workers=1)
    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, match="leave")):
        async with runner.start():
            runner.submit_nowait("running", trio.sleep_forever)
            runner.submit_nowait("queued", trio.sleep_forever)
            await trio.testing.wait_all_tasks_blocked()
            raise ValueError("leave")
    for key in ("running", "queued"):
        state = runner.state(key)
        assert state is not None and state.is_cancelled()
