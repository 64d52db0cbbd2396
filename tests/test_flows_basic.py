"""@flow / @task: decorators, calling conventions, futures, runner configuration."""

import asyncio
import re
import threading
import uuid
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from trio_runners import (
    ConcurrentTaskRunner,
    SequentialTaskRunner,
    State,
    TaskFuture,
    flow,
    task,
)
from trio_runners._base import current_runner
from trio_runners.embed import run_in_background_async


@task
def double(x: int) -> int:
    return 2 * x


@task
async def adouble(x: int) -> int:
    await trio.lowlevel.checkpoint()
    return 2 * x


@task(name="shout", retries=1)
def loud(x: str) -> str:
    return x.upper()


def test_decorators_work_with_and_without_parentheses() -> None:
    @flow
    def bare() -> int:
        return 1

    @flow(name="named", task_runner=SequentialTaskRunner())
    def with_options() -> int:
        return 2

    assert (bare.name, bare()) == ("bare", 1)
    assert (with_options.name, with_options()) == ("named", 2)
    assert isinstance(with_options.task_runner, SequentialTaskRunner)
    assert (double.name, loud.name, loud.retries) == ("double", "shout", 1)


def test_default_runner_is_a_concurrent_task_runner() -> None:
    @flow
    def f() -> None:
        pass

    assert f.task_runner == ConcurrentTaskRunner()


def test_outside_a_flow_calling_a_task_calls_its_function() -> None:
    assert double(21) == 42
    assert loud("hi") == "HI"


async def test_outside_a_flow_an_async_task_call_is_its_coroutine() -> None:
    assert await adouble(4) == 8


def test_outside_a_flow_submit_and_map_raise() -> None:
    with pytest.raises(RuntimeError, match="inside a flow"):
        double.submit(1)
    with pytest.raises(RuntimeError, match="inside a flow"):
        double.map([1])


def test_sync_flow_returns_its_body_value_and_task_calls_return_futures() -> None:
    @flow
    def f(x: int) -> tuple[object, int, object, uuid.UUID]:
        future = double(x)
        assert isinstance(future, TaskFuture)
        return future.result(), double.submit(x).result(), future.state, future.key

    value, submitted, state, key = f(5)
    assert (value, submitted) == (10, 10)
    assert isinstance(state, State)
    assert state.is_completed()
    assert isinstance(key, uuid.UUID)
    assert key.version == 4


def test_future_wait_returns_the_final_state() -> None:
    @flow
    def f() -> object:
        return double(3).wait()

    state = f()
    assert isinstance(state, State)
    assert state.result() == 6


def test_task_runs_are_named_after_their_task_and_counted_per_flow_run() -> None:
    @flow
    def f() -> list[str]:
        return [double(1).name, double(2).name, loud("a").name, double(3).name]

    assert f() == ["double-0", "double-1", "shout-0", "double-2"]
    assert f() == ["double-0", "double-1", "shout-0", "double-2"]


def test_map_returns_one_future_per_item() -> None:
    @flow
    def f() -> list[int]:
        futures = double.map([1, 2, 3])
        assert all(isinstance(fut, TaskFuture) for fut in futures)
        return [fut.result() for fut in futures]

    assert f() == [2, 4, 6]


def test_map_zips_several_iterables_and_shares_keyword_arguments() -> None:
    @task
    def add(a: int, b: int, c: int = 0) -> int:
        return a + b + c

    @flow
    def f() -> list[int]:
        return [fut.result() for fut in add.map([1, 2], [10, 20], c=100)]

    assert f() == [111, 122]


def test_a_future_in_the_return_value_is_resolved() -> None:
    @flow
    def f() -> object:
        return {"one": double(1), "many": [double(2), (double(3),)]}

    assert f() == {"one": 2, "many": [4, (6,)]}


def test_return_state_returns_the_flow_runs_state() -> None:
    @flow
    def f() -> int:
        return 7

    state = f(return_state=True)
    assert isinstance(state, State)
    assert state.is_completed()
    assert state.result() == 7


def test_an_async_generator_function_is_refused_as_a_task_or_a_flow_at_decoration() -> None:
    async def numbers() -> AsyncIterator[int]:
        yield 1

    with pytest.raises(TypeError, match=r"@task cannot decorate the async generator .*'numbers'"):
        task(numbers)
    with pytest.raises(TypeError, match=r"@task cannot decorate the async generator .*'numbers'"):
        task(retries=1)(numbers)
    with pytest.raises(TypeError, match=r"@flow cannot decorate the async generator .*'numbers'"):
        flow(numbers)


def test_return_state_must_be_a_bool_and_the_flow_does_not_run_otherwise() -> None:
    ran: list[str] = []

    @flow
    def f() -> None:
        ran.append("body")

    with pytest.raises(TypeError, match=r"return_state must be True or False, not 'no' \(str\)"):
        f(return_state="no")  # type: ignore[call-arg]
    assert ran == []


def test_replacing_task_runner_changes_the_runner_of_later_calls() -> None:
    @task
    def which() -> object:
        return type(current_runner())

    @flow(task_runner=SequentialTaskRunner())
    def f() -> object:
        return which().result()

    assert f() is SequentialTaskRunner
    f.task_runner = ConcurrentTaskRunner(max_workers=2)
    assert f() is ConcurrentTaskRunner


def test_task_runner_may_be_given_as_a_class_but_not_as_anything_else() -> None:
    @flow(task_runner=SequentialTaskRunner)
    def f() -> None:
        pass

    assert f.task_runner == SequentialTaskRunner()
    with pytest.raises(TypeError, match="task runner"):
        f.task_runner = "sequential"  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"task_runner": "sequential"}, r"task_runner must be a task runner .*, not 'sequential'"),
        ({"task_runner": int}, r"task_runner must be a task runner .*, not <class 'int'>"),
        ({"task_runner": 4}, r"task_runner must be .* not 4 \(int\)"),
        ({"name": 5}, r"name must be a str or None, not 5 \(int\)"),
    ],
)
def test_bad_flow_options_are_refused_at_decoration_naming_the_option_and_the_value(
    options: dict[str, object], match: str
) -> None:
    with pytest.raises(TypeError, match=match):
        flow(**options)  # type: ignore[call-overload]


def test_each_call_runs_on_a_duplicate_and_the_configured_runner_is_never_started() -> None:
    configured = ConcurrentTaskRunner(max_workers=3)
    seen: list[object] = []

    @task
    def grab() -> None:
        seen.append(current_runner())

    @flow(task_runner=configured)
    def f() -> None:
        grab().result()

    f()
    f()
    assert len(seen) == 2
    assert seen[0] is not seen[1]
    assert all(runner is not configured and runner == configured for runner in seen)
    assert not configured.started
    assert configured.statistics().finished == 0


def test_one_flow_object_can_run_twice_at_once() -> None:
    both_inside = threading.Barrier(2)

    @task
    def meet() -> str:
        both_inside.wait()  # returns only when the two flow runs' tasks run at the same time
        return "met"

    @flow
    def f() -> str:
        return str(meet().result())

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(f())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["met", "met"]


async def test_sync_flow_called_on_the_trio_thread_raises() -> None:
    @flow
    def f() -> None:
        pass

    with pytest.raises(RuntimeError, match="would block the event loop"):
        f()


async def test_sync_flow_runs_on_the_callers_loop_from_a_trio_worker_thread() -> None:
    @flow
    def f() -> object:
        return trio.from_thread.run_sync(trio.lowlevel.current_trio_token)

    assert await trio.to_thread.run_sync(f) is trio.lowlevel.current_trio_token()


async def test_async_flow_awaits_tasks_which_return_futures(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @flow
    async def f(x: int) -> tuple[int, int, int]:
        one = await adouble(x)
        two = await adouble.submit(x + 1)
        sync_one = await double(x + 2)  # a sync task runs in a thread
        assert all(isinstance(fut, TaskFuture) for fut in (one, two, sync_one))
        state = await two.wait()
        assert state is not None
        return await one.result(), state.result(), await sync_one.result()

    assert await f(1) == (2, 4, 6)


async def test_async_flow_map_returns_futures() -> None:
    @flow
    async def f() -> list[int]:
        futures = await adouble.map(range(3))
        return [await fut.result() for fut in futures]

    assert await f() == [0, 2, 4]


def test_async_flow_called_from_sync_code_runs_to_completion() -> None:
    @flow
    async def f(x: int) -> int:
        return int(await (await adouble(x)).result())

    assert f(4) == 8


def test_an_async_flow_called_on_an_asyncio_loop_is_refused_and_says_to_use_embed() -> None:
    ran: list[str] = []

    @flow
    async def f() -> int:
        ran.append("body")
        return 1

    message = r"async flow 'f' called on an asyncio event loop.*trio_runners\.embed"
    caught: list[BaseException] = []

    async def main() -> None:
        with pytest.raises(RuntimeError, match=message):
            await f()
        # also from a plain callback of the loop (no asyncio task is current there)
        called = asyncio.Event()

        def callback() -> None:
            try:
                f()
            except RuntimeError as exc:
                caught.append(exc)
            called.set()

        asyncio.get_running_loop().call_soon(callback)
        await called.wait()

    asyncio.run(main())
    assert len(caught) == 1
    assert re.search(message, str(caught[0]))
    assert ran == []  # the flow never ran


def test_an_async_flow_runs_from_asyncio_through_embed_as_the_error_says() -> None:
    @flow
    async def f(x: int) -> int:
        return int(await (await adouble(x)).result())

    async def main() -> object:
        async with run_in_background_async(SequentialTaskRunner()) as background:
            await background.submit("f", lambda: f(21))
            state = await background.wait("f")
            assert state is not None
            return state.result()

    assert asyncio.run(main()) == 42


def test_a_sync_flow_called_on_an_asyncio_loop_runs_to_completion() -> None:
    # Like any blocking call made by asyncio code (a notebook cell, say): it blocks that loop.
    async def main() -> int:
        return int(sync_doubler(5))

    assert asyncio.run(main()) == 10


@flow
def sync_doubler(x: int) -> int:
    return int(double(x).result())


def test_inside_a_sync_task_calling_a_task_submits_it_to_the_same_flow_run() -> None:
    @task
    def outer() -> tuple[bool, object, object]:
        inner = double(4)
        return isinstance(inner, TaskFuture), inner.result(), current_runner()

    @task
    def runner_of() -> object:
        return current_runner()

    @flow
    def f() -> tuple[object, object]:
        is_future, value, outer_runner = outer().result()
        assert is_future
        assert value == 8
        return outer_runner, runner_of().result()

    outer_runner, other = f()
    assert outer_runner is other


async def test_inside_an_async_task_awaiting_a_task_submits_it_to_the_same_flow_run() -> None:
    @task
    async def outer() -> tuple[int, bool]:
        inner = await adouble(5)
        assert isinstance(inner, TaskFuture)
        return int(await inner.result()), inner.runner is current_runner()

    @flow
    async def f() -> tuple[int, bool]:
        return await (await outer()).result()  # type: ignore[no-any-return]

    assert await f() == (10, True)


async def test_a_flow_waits_for_every_task_it_submitted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    finished: list[int] = []

    @task
    async def slow(i: int) -> None:
        await trio.sleep(10 + i)
        finished.append(i)

    @flow
    async def f() -> None:
        for i in range(5):
            await slow(i)  # never waited for in the body

    await f()
    assert sorted(finished) == [0, 1, 2, 3, 4]
    assert trio.current_time() == 14


async def test_one_async_flow_object_can_run_twice_at_once_as_trio_tasks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @task
    async def nap(x: int) -> int:
        await trio.sleep(10)
        return x

    @flow(task_runner=ConcurrentTaskRunner(max_workers=1))
    async def f(x: int) -> int:
        return int(await (await nap(x)).result())

    results: list[int] = []

    async def call(x: int) -> None:
        results.append(await f(x))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(call, 1)
        nursery.start_soon(call, 2)
    assert sorted(results) == [1, 2]
    assert trio.current_time() == 10  # each call had its own runner and its own slot


async def test_future_wait_and_result_with_a_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @task
    async def nap() -> str:
        await trio.sleep(10)
        return "awake"

    @flow
    async def f() -> tuple[object, float, object]:
        future = await nap()
        assert await future.wait(timeout=3) is None
        with pytest.raises(TimeoutError, match="nap-0"):
            await future.result(timeout=3)
        waited_until = trio.current_time()
        return future.done(), waited_until, await future.result(timeout=100)

    assert await f() == (False, 6, "awake")


def test_sync_future_result_timeout_raises_timeout_error() -> None:
    release = threading.Event()

    @task
    def blocked() -> str:
        release.wait()
        return "released"

    @flow
    def f() -> tuple[object, str]:
        future = blocked()
        with pytest.raises(TimeoutError):
            future.result(timeout=0)
        state = future.wait(timeout=0)
        release.set()
        return state, str(future.result())

    assert f() == (None, "released")


def test_tasks_pickle_by_reference_like_functions() -> None:
    import pickle

    assert pickle.loads(pickle.dumps(double)) is double
