"""A runner written only on the public contract runs flows: the flow layer needs nothing else.

`OneWorkerRunner` is what a third party would write on `trio_runners.abc.BaseTaskRunner`: the
documented backend hooks (`_backend`, `_submit`, `_execute`), one worker slot of its own (a
`trio.Semaphore`), and the public flow-layer hook `lend_slot` to lend that slot while one of its
calls waits. It overrides neither `_invoke` nor any private hook of the flow layer's. Flows of
sync and async tasks, upstream waits, nested submit-and-wait and retries run on it; without the
`lend_slot` override, a nested wait with one worker deadlocks (which shows that the flow layer
really goes through it).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import Any

import pytest
import trio
import trio.testing

from trio_runners import TaskConcurrencyType, flow, task
from trio_runners.abc import BaseTaskRunner, LoopCall

#: The runner whose call the current task is running (the runner's own bookkeeping).
_in_call_of: ContextVar[BaseTaskRunner | None] = ContextVar("_in_call_of", default=None)


class OneWorkerRunner(BaseTaskRunner):
    """One call at a time, admitted by a semaphore; nested waits lend the slot (`lend_slot`)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._worker: trio.Semaphore | None = None
        self._tasks: trio.Nursery | None = None

    @property
    def concurrency_type(self) -> TaskConcurrencyType:
        return TaskConcurrencyType.CONCURRENT

    @asynccontextmanager
    async def _backend(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        self._worker, self._tasks = trio.Semaphore(1), nursery
        try:
            yield
        finally:
            self._tasks = None

    async def _submit(self, record: Any) -> None:
        if self._tasks is None:  # pragma: no cover - submit checks that the run is open
            raise RuntimeError("not started")
        self._tasks.start_soon(self._run, record)
        await trio.lowlevel.checkpoint()

    async def _run(self, record: Any) -> None:
        if self._worker is None:  # pragma: no cover
            raise RuntimeError("not started")
        async with self._worker:
            _in_call_of.set(self)
            await self._execute(record)

    def lend_slot(self) -> AbstractAsyncContextManager[None]:
        return self._lent()

    @asynccontextmanager
    async def _lent(self) -> AsyncIterator[None]:
        worker = self._worker
        if worker is None or _in_call_of.get() is not self:
            yield
            return
        worker.release()
        try:
            yield
        finally:
            with trio.CancelScope(shield=True):
                await worker.acquire()


class NoLendingRunner(OneWorkerRunner):
    """The same runner, forgetting to lend its slot."""

    def lend_slot(self) -> AbstractAsyncContextManager[None]:
        return BaseTaskRunner.lend_slot(self)


def test_the_runner_overrides_no_private_hook_of_the_flow_layer() -> None:
    for hook in ("_invoke", "_slot_lent", "run_in_slot"):
        assert getattr(OneWorkerRunner, hook) is getattr(BaseTaskRunner, hook)


@task
def double(x: int) -> int:
    return 2 * x


@task
def add(x: int, y: int) -> int:
    return x + y


@task
async def aleaf(x: int) -> int:
    await trio.sleep(1)
    return x + 1


@task
async def atop(x: int) -> int:
    inner = await aleaf(x)  # submitted to the same one-worker runner, and waited for
    return int(await inner.result()) + 100


async def test_a_sync_flow_of_sync_tasks_with_upstreams_runs() -> None:
    @flow(task_runner=OneWorkerRunner())
    def f(n: int) -> list[int]:
        doubled = double.map(range(n))
        return [add(future, 1).result() for future in doubled]

    with trio.fail_after(60):
        assert await trio.to_thread.run_sync(f, 4) == [1, 3, 5, 7]


async def test_a_sync_task_waiting_for_a_task_it_submitted_lends_the_one_slot() -> None:
    @task
    def outer(x: int) -> int:
        return int(double(x).result()) + 1

    runner = OneWorkerRunner()

    @flow(task_runner=runner)
    def f() -> list[int]:
        return [future.result() for future in outer.map([1, 2, 3])]

    with trio.fail_after(60):
        assert await trio.to_thread.run_sync(f) == [3, 5, 7]


async def test_nested_waits_with_one_worker_lend_the_slot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @flow(task_runner=OneWorkerRunner())
    async def f() -> list[int]:
        futures = await atop.map([0, 10])
        return [int(await future.result()) for future in futures]

    with trio.fail_after(60):  # mock clock: a deadlock jumps to the deadline at once
        assert await f() == [101, 111]


async def test_without_lending_the_same_nested_waits_deadlock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @flow(task_runner=NoLendingRunner())
    async def f() -> list[int]:
        futures = await atop.map([0, 10])
        return [int(await future.result()) for future in futures]

    with trio.move_on_after(60) as deadline:
        await f()
    assert deadline.cancelled_caught


async def test_a_retry_delay_sleeps_with_the_slot_lent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[float] = []

    @task(retries=1, retry_delay_seconds=5)
    async def flaky() -> str:
        attempts.append(trio.current_time())
        if len(attempts) == 1:
            raise ValueError("first attempt fails")
        return "ok"

    @task
    async def other() -> float:
        return trio.current_time()

    @flow(task_runner=OneWorkerRunner())
    async def f() -> tuple[str, float]:
        retried = await flaky()
        quick = await other()
        return str(await retried.result()), float(await quick.result())

    start = trio.current_time()
    result, other_ran_at = await f()
    assert result == "ok"
    # `other` ran while `flaky` slept between its attempts: the slot was lent.
    assert other_ran_at - start < 5 <= attempts[1] - start


class Orchestrates(LoopCall):
    """A `LoopCall` of our own: it hands its work to `run_in_slot`."""

    def __init__(self, runner: BaseTaskRunner) -> None:
        self.runner = runner

    async def __call__(self) -> int:
        return int(await self.runner.run_in_slot(functools.partial(pow, 2, 10)))


async def test_run_in_slot_runs_work_inside_a_call_of_the_runner() -> None:
    async with OneWorkerRunner().start() as runner:
        await runner.submit("k", Orchestrates(runner))
        state = await runner.wait("k")
    assert state is not None
    assert state.result() == 1024


async def test_run_in_slot_outside_the_runners_calls_is_refused() -> None:
    async with OneWorkerRunner().start() as runner:
        with pytest.raises(RuntimeError, match=r"run_in_slot\(\).*outside"):
            await runner.run_in_slot(functools.partial(pow, 2, 10))


def test_has_backpressure_is_false_by_default_and_follows_max_pending() -> None:
    from trio_runners import ConcurrentTaskRunner, ThreadPoolTaskRunner

    assert not OneWorkerRunner().has_backpressure
    assert not ConcurrentTaskRunner(max_workers=2).has_backpressure
    assert not ThreadPoolTaskRunner().has_backpressure
    assert ConcurrentTaskRunner(max_workers=2, max_pending=1).has_backpressure
