"""ThreadPoolTaskRunner: what threads add (limits, abandonment); the contract is in
tests/test_contract.py."""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

import pytest
import trio
import trio.testing
from contract_calls import HANG_GUARD, add, open_gate, wait_state

from trio_runners import ThreadPoolTaskRunner, task_runners


def test_reexported() -> None:
    assert task_runners.ThreadPoolTaskRunner is ThreadPoolTaskRunner


def test_default_max_workers_is_like_thread_pool_executor() -> None:
    runner = ThreadPoolTaskRunner()
    assert runner.max_workers is None
    assert runner.workers == min(32, (os.cpu_count() or 1) + 4)
    assert runner == ThreadPoolTaskRunner(max_workers=None)
    assert runner != ThreadPoolTaskRunner(max_workers=runner.workers)


@pytest.mark.parametrize("bad", [0, -1])
def test_max_workers_below_one_is_value_error(bad: int) -> None:
    with pytest.raises(ValueError, match="max_workers"):
        ThreadPoolTaskRunner(max_workers=bad)


def test_max_workers_not_int_is_type_error() -> None:
    with pytest.raises(TypeError, match="max_workers"):
        ThreadPoolTaskRunner(max_workers=2.5)  # type: ignore[arg-type]


async def test_sync_calls_run_in_worker_threads() -> None:
    main = threading.get_ident()
    async with ThreadPoolTaskRunner(max_workers=2).start() as runner:
        await runner.submit("k", threading.get_ident)
        state = await wait_state(runner, "k")
    assert state.result() != main


async def test_never_more_than_max_workers_calls_run_sync_and_async_together() -> None:
    # Three gated calls (sync, async, sync) with max_workers=2: two arrive, the third is
    # queued until a slot frees. It arrives only after one of the first two is released.
    async with open_gate() as gate, ThreadPoolTaskRunner(max_workers=2).start() as runner:
        for key in range(3):
            await runner.submit(key, gate.call(key, is_async=key == 1))
        first = await gate.arrival()
        await gate.arrival()
        await trio.testing.wait_all_tasks_blocked()
        stats = runner.statistics()
        assert stats.running == 2
        assert stats.queued == 1
        assert runner.state(2) is None
        await first.release()
        third = await gate.arrival()
        await third.release()
        assert (await wait_state(runner, 2)).result() == 2
        runner.cancel_all()


async def test_async_calls_share_the_limit(autojump_clock: trio.abc.Clock) -> None:
    running = 0
    peak = 0

    async def busy() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await trio.sleep(1)
        running -= 1

    async with ThreadPoolTaskRunner(max_workers=3).start() as runner:
        for key in range(9):
            await runner.submit(key, busy)
    assert peak == 3
    assert trio.current_time() == 3  # three waves of one second, on the mock clock


async def test_admission_is_fifo_in_submission_order(autojump_clock: trio.abc.Clock) -> None:
    started: list[int] = []

    async def record(key: int) -> None:
        started.append(key)
        await trio.sleep(1)

    async with ThreadPoolTaskRunner(max_workers=1).start() as runner:
        for key in range(6):
            await runner.submit(key, functools.partial(record, key))
    assert started == list(range(6))


async def test_cancel_queued_call_never_starts() -> None:
    ran: list[str] = []
    async with open_gate() as gate, ThreadPoolTaskRunner(max_workers=1).start() as runner:
        await runner.submit("busy", gate.call("busy"))
        await runner.submit("queued", functools.partial(ran.append, "queued"))
        arrival = await gate.arrival()
        assert runner.cancel("queued") is True
        await arrival.release()
        await wait_state(runner, "busy")
    assert ran == []
    state = runner.state("queued")
    assert state is not None
    assert state.is_cancelled()


async def test_cancel_abandons_the_thread_and_keeps_its_token() -> None:
    # The abandoned thread keeps running (blocked at the gate) and holds its thread token, so
    # with max_workers=1 a later sync call cannot start until that thread really ends.
    async with open_gate() as gate, ThreadPoolTaskRunner(max_workers=1).start() as runner:
        await runner.submit("stuck", gate.call("stuck"))
        stuck = await gate.arrival()
        runner.cancel("stuck")
        await runner.submit("next", gate.call("next"))
        await trio.testing.wait_all_tasks_blocked()
        assert runner.state("next") is None
        await stuck.release()  # the abandoned thread returns; its result is discarded
        following = await gate.arrival()
        await following.release()
        assert (await wait_state(runner, "next")).result() == "next"
        stuck_state = runner.state("stuck")
        assert stuck_state is not None
        assert stuck_state.is_cancelled()


def _cooperative(started: threading.Event) -> str:
    started.set()
    while True:
        trio.from_thread.check_cancelled()  # raises trio.Cancelled once the call is cancelled
        threading.Event().wait(0.001)


async def test_sync_call_can_cooperate_with_check_cancelled() -> None:
    started = threading.Event()
    async with ThreadPoolTaskRunner(max_workers=1).start() as runner:
        await runner.submit("k", functools.partial(_cooperative, started))
        await trio.to_thread.run_sync(started.wait)
        runner.cancel("k")
    # Leaving the block waited for the thread's slot: the cooperative thread has ended.
    state = runner.state("k")
    assert state is not None
    assert state.is_cancelled()
    assert runner.statistics().running == 0


async def test_nested_wait_lends_the_slot() -> None:
    async def outer() -> Any:
        runner = current
        await runner.submit("inner", functools.partial(add, 20, 22))
        state = await runner.wait("inner")
        assert state is not None
        return state.result()

    async with ThreadPoolTaskRunner(max_workers=1).start() as current:
        await current.submit("outer", outer)
        assert (await wait_state(current, "outer")).result() == 42


def _inner() -> int:
    return 1


async def test_sync_call_waiting_on_a_sync_child_with_one_worker_completes() -> None:
    # The waiting call lends its slot *and* its thread token while it waits, so the child can
    # get a thread even with max_workers=1. (HANG_GUARD is a hang guard, not a timing test.)
    runner = ThreadPoolTaskRunner(max_workers=1)

    def outer() -> object:
        trio.from_thread.run(runner.submit, "inner", _inner)
        state = trio.from_thread.run(runner.wait, "inner")
        assert state is not None
        return state.result()

    with trio.fail_after(HANG_GUARD):
        async with runner.start():
            await runner.submit("outer", outer)
            state = await runner.wait("outer")
    assert state is not None
    assert state.result() == 1
