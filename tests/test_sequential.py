"""SequentialTaskRunner: submission order, one at a time, calls run inside submit."""

from __future__ import annotations

import functools

import pytest
import trio
import trio.testing

from trio_runners import SequentialTaskRunner


async def test_calls_from_several_submitters_never_overlap_and_run_first_come_first_served(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runner = SequentialTaskRunner()
    events: list[tuple[str, int]] = []
    running = 0

    async def call(i: int) -> int:
        nonlocal running
        running += 1
        assert running == 1
        events.append(("start", i))
        await trio.sleep(1)
        events.append(("end", i))
        running -= 1
        return i

    async with runner.start(), trio.open_nursery() as nursery:
        for i in range(4):
            nursery.start_soon(runner.submit, i, functools.partial(call, i))
            await trio.testing.wait_all_tasks_blocked()  # fixes the submission order
    starts = [i for kind, i in events if kind == "start"]
    assert starts == [0, 1, 2, 3]
    assert events == [(kind, i) for i in range(4) for kind in ("start", "end")]
    assert trio.current_time() == 4


async def test_nested_submit_runs_inline_without_deadlock() -> None:
    runner = SequentialTaskRunner()

    async def parent() -> int:
        await runner.submit("child", lambda: 41)
        state = await runner.wait("child")
        assert state is not None
        return int(state.result()) + 1

    async with runner.start():
        await runner.submit("parent", parent)
        state = await runner.wait("parent")
    assert state is not None
    assert state.result() == 42


async def test_cancel_from_another_task_lets_submit_return_normally(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runner = SequentialTaskRunner()
    async with runner.start(), trio.open_nursery() as nursery:

        async def canceller() -> None:
            await trio.sleep(1)
            assert runner.cancel("k")

        nursery.start_soon(canceller)
        await runner.submit("k", trio.sleep_forever)  # returns: its own scope caught it
        assert trio.current_time() == 1
        state = runner.state("k")
        assert state is not None
        assert state.is_cancelled()


async def test_cancelled_submitter_propagates_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runner = SequentialTaskRunner()
    async with runner.start():
        with trio.move_on_after(2) as scope:
            await runner.submit("k", trio.sleep_forever)
            pytest.fail("submit returned after its call was cancelled")  # pragma: no cover
        assert scope.cancelled_caught
        state = runner.state("k")
        assert state is not None
        assert state.is_cancelled()


async def test_queued_sequential_call_cancelled_never_starts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runner = SequentialTaskRunner()
    started: list[str] = []

    async def call(key: str) -> None:
        started.append(key)
        await trio.sleep(1)

    async with runner.start(), trio.open_nursery() as nursery:
        nursery.start_soon(runner.submit, "first", functools.partial(call, "first"))
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(runner.submit, "second", functools.partial(call, "second"))
        await trio.testing.wait_all_tasks_blocked()
        assert runner.cancel("second")
    assert started == ["first"]
