"""What a call may ask of its runner (docs/contract.md, "the flow-layer hooks"), on every runner.

`run_in_slot`, `lend_slot`, `has_backpressure` and `trio_runners.abc.LoopCall` are what the flow
layer uses of a runner, and all it uses; each runner of `contract_runners.RUNNER_KINDS` (loop,
thread, process and Dask runners) is checked to provide them. A `LoopCall` here holds a
`threading.Lock`, which cannot be pickled: a runner that shipped it would fail the call.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

import pytest
import trio
from contract_calls import BoomError, add, async_add, fail, wait_state
from contract_runners import RUNNER_KINDS, RunnerKind

from trio_runners.abc import BaseTaskRunner, LoopCall

#: A deadlock fails the test after this long instead of hanging the suite.
HANG_GUARD = 60


@pytest.fixture(params=RUNNER_KINDS, ids=[kind.id for kind in RUNNER_KINDS])
def kind(request: pytest.FixtureRequest) -> RunnerKind:
    runner_kind: RunnerKind = request.param
    return runner_kind


@pytest.fixture
def runner(kind: RunnerKind, request: pytest.FixtureRequest) -> BaseTaskRunner:
    address = None
    if kind.needs_dask_cluster:
        address = request.getfixturevalue("dask_threads_cluster").scheduler_address
    return kind.make(address)


class RunsWork(LoopCall):
    """Runs ``work`` in its slot; returns (the pid it ran in itself, what the work returned,
    the name of what the work raised)."""

    def __init__(self, runner: BaseTaskRunner, work: Any) -> None:
        self.runner = runner
        self.work = work
        self.lock = threading.Lock()  # cannot be pickled: the call must never travel

    async def __call__(self) -> tuple[int, Any, str | None]:
        try:
            value = await self.runner.run_in_slot(self.work)
        except BoomError as exc:
            return os.getpid(), None, f"BoomError: {exc}"
        return os.getpid(), value, None


@pytest.mark.parametrize("work", [functools.partial(add, 1, 2), functools.partial(async_add, 1, 2)])
async def test_a_loop_call_stays_home_and_runs_its_work_in_its_slot(
    runner: BaseTaskRunner, work: Any
) -> None:
    async with runner.start():
        await runner.submit("k", RunsWork(runner, work))
        state = await wait_state(runner, "k")
    assert state.result() == (os.getpid(), 3, None)


async def test_run_in_slot_raises_what_the_work_raised(runner: BaseTaskRunner) -> None:
    async with runner.start():
        await runner.submit("k", RunsWork(runner, functools.partial(fail, "from the work")))
        state = await wait_state(runner, "k")
    assert state.result() == (os.getpid(), None, "BoomError: from the work")


async def test_run_in_slot_outside_the_runners_calls_is_refused(runner: BaseTaskRunner) -> None:
    async with runner.start():
        with pytest.raises(RuntimeError, match=r"run_in_slot\(\).*outside"):
            await runner.run_in_slot(functools.partial(add, 1, 2))


async def test_lend_slot_outside_the_runners_calls_lends_nothing(runner: BaseTaskRunner) -> None:
    async with runner.start():
        async with runner.lend_slot():
            await runner.submit("k", functools.partial(add, 1, 2))
            assert (await wait_state(runner, "k")).result() == 3
        assert runner.statistics().running == 0


class SubmitsAndWaits(LoopCall):
    """Submits two calls to its own runner and waits for both, a slot lent meanwhile."""

    def __init__(self, runner: BaseTaskRunner) -> None:
        self.runner = runner
        self.lock = threading.Lock()

    async def __call__(self) -> int:
        total = 0
        for i in (1, 2):
            await self.runner.submit(("inner", i), functools.partial(add, i, 10))
        for i in (1, 2):
            async with self.runner.lend_slot():  # nested lending (wait lends too) is allowed
                state = await self.runner.wait(("inner", i))
            assert state is not None
            total += int(state.result())
        return total


async def test_a_loop_call_waiting_for_calls_it_submitted_never_deadlocks(
    runner: BaseTaskRunner,
) -> None:
    with trio.fail_after(HANG_GUARD):
        async with runner.start():
            await runner.submit("outer", SubmitsAndWaits(runner))
            state = await wait_state(runner, "outer")
    assert state.result() == 11 + 12


def test_has_backpressure_says_whether_submit_may_wait_for_room(
    kind: RunnerKind, runner: BaseTaskRunner
) -> None:
    assert runner.has_backpressure is (kind.max_pending is not None)


class RunsWorkCancelled(LoopCall):
    """Runs ``work`` in its slot inside an already-cancelled scope: was it cancelled?"""

    def __init__(self, runner: BaseTaskRunner, work: Any) -> None:
        self.runner = runner
        self.work = work

    async def __call__(self) -> bool:
        with trio.CancelScope() as scope:
            scope.cancel()
            await self.runner.run_in_slot(self.work)
        return scope.cancelled_caught


async def add_without_checkpoint(a: int, b: int) -> int:
    return a + b


@pytest.mark.parametrize(
    "work", [functools.partial(add, 1, 2), functools.partial(add_without_checkpoint, 1, 2)]
)
async def test_run_in_slot_is_a_checkpoint(runner: BaseTaskRunner, work: Any) -> None:
    async with runner.start():
        await runner.submit("k", RunsWorkCancelled(runner, work))
        state = await wait_state(runner, "k")
    assert state.result() is True
