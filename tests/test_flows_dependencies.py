"""Dependencies: futures as arguments, wait_for, UpstreamFailed, and no slot held while waiting."""

from collections.abc import Hashable
from typing import Any

import pytest
import trio
import trio.testing

from trio_runners import (
    BaseTaskRunner,
    ConcurrentTaskRunner,
    FlowRunFailed,
    SequentialTaskRunner,
    State,
    TaskFuture,
    UpstreamFailed,
    flow,
    task,
)
from trio_runners.abc import Instrument


@task
async def value_after(value: object, delay: float) -> object:
    await trio.sleep(delay)
    return value


@task
async def echo(*args: object, **kwargs: object) -> tuple[tuple[object, ...], dict[str, object]]:
    await trio.lowlevel.checkpoint()
    return args, kwargs


async def test_futures_in_arguments_are_resolved_before_the_task_starts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @flow
    async def f() -> object:
        a = await value_after("a", 3)
        b = await value_after("b", 1)
        c = await value_after("c", 2)
        d = await value_after("d", 4)
        future = await echo(a, [b, (c,)], key={"inner": d}, plain=5)
        return await future.result()

    args, kwargs = await f()
    assert args == ("a", ["b", ("c",)])
    assert kwargs == {"key": {"inner": "d"}, "plain": 5}
    assert trio.current_time() == 4


def test_sync_flow_passes_futures_between_sync_tasks() -> None:
    @task
    def add(a: int, b: int) -> int:
        return a + b

    @flow
    def f() -> int:
        one = add(1, 0)
        two = add(one, one)
        return int(add(two, one).result())

    assert f() == 3


async def test_wait_for_orders_without_passing_data(
    autojump_clock: trio.testing.MockClock,
) -> None:
    order: list[str] = []

    @task
    async def step(name: str, delay: float) -> None:
        await trio.sleep(delay)
        order.append(name)

    @flow
    async def f() -> None:
        first = await step("first", 5)
        await step.submit("second", 0, wait_for=[first])

    await f()
    assert order == ["first", "second"]


def test_a_failed_upstream_fails_the_downstream_with_upstream_failed_and_it_never_runs() -> None:
    ran: list[str] = []

    @task
    def broken() -> int:
        raise ValueError("upstream broke")

    @task
    def downstream(x: int) -> None:
        ran.append("downstream")

    @task
    def ordered() -> None:
        ran.append("ordered")

    @flow
    def f() -> tuple[BaseException, BaseException]:
        up = broken()
        data = downstream(up)
        order = ordered(wait_for=[up])
        return (
            data.result(raise_on_failure=False),
            order.result(raise_on_failure=False),
        )

    with pytest.raises(FlowRunFailed) as caught:  # broken-0 itself was never looked at
        f()
    assert caught.value.task_runs == ("broken-0",)
    assert ran == []


def test_upstream_failed_names_the_upstream_task_run() -> None:
    @task
    def broken() -> int:
        raise ValueError("upstream broke")

    @task
    def downstream(x: int) -> int:
        return x

    @flow
    def f() -> object:
        up = broken()
        up.wait()
        return downstream(up).result(raise_on_failure=False)

    error = f()
    assert isinstance(error, UpstreamFailed)
    assert error.upstream == "broken-0"
    assert error.task_run == "downstream-0"
    assert "broken-0" in str(error)
    assert error.upstream_state.is_failed()


async def test_a_cancelled_upstream_fails_the_downstream(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @task
    async def forever() -> None:
        await trio.sleep_forever()

    @flow
    async def f() -> object:
        up = await forever()
        down = await echo.submit(wait_for=[up])
        await trio.testing.wait_all_tasks_blocked()
        up.cancel()
        return await down.result(raise_on_failure=False)

    error = await f()
    assert isinstance(error, UpstreamFailed)
    assert error.upstream_state.is_cancelled()


async def test_a_task_waiting_for_upstreams_does_not_hold_a_worker_slot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Two slots. The gate holds one until `unblock` runs; the downstream waits for the gate. If
    # the waiting downstream held the second slot, `unblock` could never run: deadlock.
    gate_open = trio.Event()

    @task
    async def gate() -> str:
        await gate_open.wait()
        return "gate"

    @task
    async def unblock() -> None:
        await trio.lowlevel.checkpoint()
        gate_open.set()

    @flow(task_runner=ConcurrentTaskRunner(max_workers=2))
    async def f() -> object:
        g = await gate()
        down = await echo(g)
        await trio.testing.wait_all_tasks_blocked()
        await unblock()
        return await down.result()

    with trio.fail_after(60):  # all on the mock clock: a deadlock jumps here at once
        assert await f() == (("gate",), {})


def test_sequential_runner_runs_dependencies_in_order() -> None:
    @task
    def add(a: int, b: int) -> int:
        return a + b

    @flow(task_runner=SequentialTaskRunner())
    def f() -> list[TaskFuture]:
        one = add(1, 1)
        return [one, add(one, 10)]

    assert f() == [2, 12]


class ReleaseOnFinish(Instrument):
    """Releases each State the moment it is recorded: waiters already waiting still get it
    (`BaseTaskRunner.wait` returns the State it was woken for), later readers do not."""

    def finished(
        self, runner: BaseTaskRunner, key: Hashable, state: State[Any], time: float
    ) -> None:
        runner.release(key)


async def test_a_downstream_gets_the_upstream_state_it_waited_for_though_the_runner_released_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @flow(task_runner=ConcurrentTaskRunner(instruments=[ReleaseOnFinish()]))
    async def f() -> object:
        up = await value_after(1, 1)
        down = await echo(up, wait_for=[up])
        return await down.result()  # waiting before it finishes: gets its State

    assert await f() == ((1,), {})


async def test_a_returned_future_resolves_to_the_state_waited_for_though_the_runner_released_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @flow(task_runner=ConcurrentTaskRunner(instruments=[ReleaseOnFinish()]))
    async def f() -> object:
        return [await value_after("late", 1)]  # unfinished: the flow waits for it

    assert await f() == ["late"]


async def test_a_future_put_into_an_argument_before_the_task_run_starts_is_waited_for(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @flow(task_runner=ConcurrentTaskRunner(max_workers=1))
    async def f() -> object:
        blocker = await value_after("blocker", 1)  # holds the only slot: echo stays queued
        items: list[object] = []
        down = await echo(items)
        items.append(await value_after("later", 5))  # before echo has started
        await blocker.wait()
        return await down.result()

    assert await f() == ((["later"],), {})
    assert trio.current_time() == 6


async def test_a_future_put_into_an_argument_while_it_is_waited_for_fails_the_task_run_clearly(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @flow
    async def f() -> object:
        up = await value_after("up", 1)
        items: list[object] = [up]
        down = await echo(items)
        await trio.testing.wait_all_tasks_blocked()  # echo is waiting for `up`
        late = await value_after("late", 5)
        items.append(late)
        state = await down.wait()
        await late.wait()
        return state

    state = await f()
    assert state.is_failed()
    with pytest.raises(RuntimeError, match=r"'value_after-1' has not finished: it was put among"):
        state.result()


async def test_an_upstream_whose_state_was_released_before_the_wait_fails_the_task_run_clearly(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @flow(task_runner=ConcurrentTaskRunner(instruments=[ReleaseOnFinish()]))
    async def f() -> object:
        slow = await value_after("slow", 2)
        quick = await value_after("quick", 1)
        down = await echo(slow, quick)  # waits for slow; quick is released meanwhile
        return await down.wait()

    state = await f()
    assert state.is_failed()
    with pytest.raises(RuntimeError, match=r"State of task run 'value_after-1' was released"):
        state.result()
