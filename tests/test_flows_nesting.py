"""Nesting: tasks and subflows that submit tasks and wait on them never deadlock."""

import pytest
import trio
import trio.testing

from trio_runners import ConcurrentTaskRunner, SequentialTaskRunner, as_completed, flow, task, wait

# A hang guard for tests with worker threads, which run on the real clock (the mock clock's
# autojump cannot see threads). The promise checked is "finishes", not a duration.
HANG_GUARD = 60

RUNNERS = [
    pytest.param(ConcurrentTaskRunner(max_workers=1), id="concurrent-1"),
    pytest.param(ConcurrentTaskRunner(max_workers=2), id="concurrent-2"),
    pytest.param(ConcurrentTaskRunner(), id="concurrent"),
    pytest.param(SequentialTaskRunner(), id="sequential"),
]


@task
def leaf(x: int) -> int:
    return x + 1


@task
def middle(x: int) -> int:
    return sum(future.result() for future in leaf.map([x, x + 1]))


@task
def top(x: int) -> int:
    return int(middle(x).result()) + int(middle(x + 10).result())


@pytest.mark.parametrize("runner", RUNNERS)
async def test_sync_tasks_submitting_and_waiting_in_threads_never_deadlock(runner) -> None:  # type: ignore[no-untyped-def]
    @flow(task_runner=runner)
    def f() -> int:
        return int(top(0).result())

    with trio.fail_after(HANG_GUARD):
        assert await trio.to_thread.run_sync(f) == (1 + 2) + (11 + 12)


@pytest.mark.parametrize("runner", RUNNERS)
async def test_async_tasks_submitting_and_waiting_never_deadlock(
    runner,  # type: ignore[no-untyped-def]
    autojump_clock: trio.testing.MockClock,
) -> None:
    @task
    async def aleaf(x: int) -> int:
        await trio.sleep(1)
        return x + 1

    @task
    async def amiddle(x: int) -> int:
        futures = await aleaf.map([x, x + 1])
        return sum([await future.result() for future in futures])

    @task
    async def atop(x: int) -> int:
        one = await amiddle(x)
        two = await amiddle(x + 10)
        return int(await one.result()) + int(await two.result())

    @flow(task_runner=runner)
    async def f() -> int:
        return int(await (await atop(0)).result())

    with trio.fail_after(HANG_GUARD):  # mock clock: a deadlock jumps to the deadline at once
        assert await f() == (1 + 2) + (11 + 12)


async def test_async_task_using_wait_and_as_completed_inside_one_worker_never_deadlocks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @task
    async def aleaf(x: int) -> int:
        await trio.sleep(x)
        return x

    @task
    async def fan_out() -> list[int]:
        futures = await aleaf.map([3, 1, 2])
        done, not_done = await wait(futures[:1])
        assert done == {futures[0]}
        assert not not_done
        return [await future.result() async for future in as_completed(futures)]

    @flow(task_runner=ConcurrentTaskRunner(max_workers=1))
    async def f() -> list[int]:
        return list(await (await fan_out()).result())

    with trio.fail_after(HANG_GUARD):
        # max_workers=1: the leaves run one at a time, in submission order.
        assert await f() == [3, 1, 2]


async def test_sync_task_using_as_completed_inside_one_worker_never_deadlocks() -> None:
    @task
    def fan_out() -> list[int]:
        futures = leaf.map([1, 2, 3])
        return sorted(future.result() for future in as_completed(futures))

    @flow(task_runner=ConcurrentTaskRunner(max_workers=1))
    def f() -> list[int]:
        return list(fan_out().result())

    with trio.fail_after(HANG_GUARD):
        assert await trio.to_thread.run_sync(f) == [2, 3, 4]


@pytest.mark.parametrize("runner", RUNNERS)
async def test_a_subflow_called_in_a_task_never_deadlocks(runner) -> None:  # type: ignore[no-untyped-def]
    @flow(task_runner=runner)
    def sub(x: int) -> int:
        return int(middle(x).result())

    @task
    def calls_subflow(x: int) -> int:
        return int(sub(x))

    @flow(task_runner=runner)
    def parent() -> list[int]:
        return [future.result() for future in calls_subflow.map([0, 10])]

    with trio.fail_after(HANG_GUARD):
        assert await trio.to_thread.run_sync(parent) == [1 + 2, 11 + 12]


async def test_an_async_subflow_awaited_in_an_async_flow_runs_on_its_own_runner(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @task
    async def runner_name() -> str:
        await trio.lowlevel.checkpoint()
        from trio_runners._base import current_runner

        return type(current_runner()).__name__

    @flow(task_runner=SequentialTaskRunner())
    async def sub() -> str:
        return str(await (await runner_name()).result())

    @flow(task_runner=ConcurrentTaskRunner(max_workers=1))
    async def parent() -> tuple[str, str]:
        return await (await runner_name()).result(), await sub()

    assert await parent() == ("ConcurrentTaskRunner", "SequentialTaskRunner")


async def test_a_subflow_in_an_abandoned_task_thread_is_cancelled_when_its_parent_ends() -> None:
    sub_started = trio.Event()
    sub_futures: list[object] = []

    @task
    async def forever() -> None:
        await trio.sleep_forever()

    @flow
    def sub() -> None:
        future = forever()
        sub_futures.append(future)
        trio.from_thread.run_sync(sub_started.set)
        future.result()

    @task
    def calls_subflow() -> None:
        sub()

    @flow
    async def parent() -> None:
        await calls_subflow()
        await trio.sleep_forever()

    with trio.fail_after(HANG_GUARD):
        async with trio.open_nursery() as nursery:

            async def run_parent(task_status: trio.TaskStatus[trio.CancelScope]) -> None:
                with trio.CancelScope() as scope:
                    task_status.started(scope)
                    await parent()

            scope = await nursery.start(run_parent)
            await sub_started.wait()
            scope.cancel()
        (future,) = sub_futures
        state = await future.wait()  # type: ignore[attr-defined]
    assert state.is_cancelled()
