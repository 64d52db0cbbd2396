"""wait() and as_completed() from async flows (awaitables) and sync flows (blocking)."""

import math
from collections.abc import Hashable
from typing import Any

import pytest
import trio
import trio.testing

from trio_runners import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    BaseTaskRunner,
    ConcurrentTaskRunner,
    State,
    TaskFuture,
    as_completed,
    flow,
    task,
    wait,
)
from trio_runners.abc import Instrument


@task
async def after(delay: float, fail: bool = False) -> float:
    await trio.sleep(delay)
    if fail:
        raise ValueError(f"failed after {delay}")
    return delay


def delays(futures: set[TaskFuture]) -> list[float]:
    return sorted(f.state.result(raise_on_failure=False) for f in futures)  # type: ignore[union-attr,misc]


async def test_wait_all_completed_returns_when_every_future_is_done(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @flow
    async def f() -> tuple[list[float], int, float]:
        futures = await after.map([3, 1, 2])
        done, not_done = await wait(futures)
        return delays(done), len(not_done), trio.current_time()

    assert await f() == ([1, 2, 3], 0, 3)


async def test_wait_first_completed_returns_as_soon_as_one_is_done(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @flow
    async def f() -> tuple[list[float], int, float]:
        futures = await after.map([3, 1, 2])
        done, not_done = await wait(futures, return_when=FIRST_COMPLETED)
        return delays(done), len(not_done), trio.current_time()

    assert await f() == ([1], 2, 1)


async def test_wait_first_exception_returns_at_the_first_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @flow
    async def f() -> tuple[int, int, float]:
        ok = await after.map([1, 5])
        bad = await after(2, fail=True)
        done, not_done = await wait([*ok, bad], return_when=FIRST_EXCEPTION)
        assert bad in done
        for future in done:
            await future.wait()  # looked at
        return len(done), len(not_done), trio.current_time()

    assert await f() == (2, 1, 2)


async def test_wait_first_exception_without_failures_waits_for_all(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @flow
    async def f() -> tuple[int, float]:
        done, _ = await wait(await after.map([1, 4]), return_when=FIRST_EXCEPTION)
        return len(done), trio.current_time()

    assert await f() == (2, 4)


async def test_wait_timeout_returns_what_is_done_so_far(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @flow
    async def f() -> tuple[list[float], int, float]:
        futures = await after.map([1, 10])
        done, not_done = await wait(futures, timeout=5, return_when=ALL_COMPLETED)
        return delays(done), len(not_done), trio.current_time()

    assert await f() == ([1], 1, 5)


class ReleaseOnFinish(Instrument):
    """Releases each State the moment it is recorded: only waiters already waiting get it."""

    def finished(
        self, runner: BaseTaskRunner, key: Hashable, state: State[Any], time: float
    ) -> None:
        runner.release(key)


@pytest.mark.parametrize(
    ("return_when", "done_at"),
    [(FIRST_COMPLETED, [1]), (FIRST_EXCEPTION, [1, 2]), (ALL_COMPLETED, [1, 2])],
)
async def test_wait_counts_as_done_what_it_waited_for_though_the_runner_released_it(
    return_when: str, done_at: list[float], autojump_clock: trio.testing.MockClock
) -> None:
    @flow(task_runner=ConcurrentTaskRunner(instruments=[ReleaseOnFinish()]))
    async def f() -> tuple[list[float], int]:
        slow, quick = await after.map([2, 1])
        done, not_done = await wait([slow, quick], return_when=return_when)
        delay = {slow: 2.0, quick: 1.0}
        return sorted(delay[future] for future in done), len(not_done)

    assert await f() == (done_at, 2 - len(done_at))


async def test_wait_rejects_an_unknown_return_when() -> None:
    with pytest.raises(ValueError, match="return_when"):
        wait([], return_when="WHENEVER")


@pytest.mark.parametrize(
    ("timeout", "error", "match"),
    [
        ("1", TypeError, r"timeout must be an int or a float, not '1' \(str\)"),
        (True, TypeError, r"timeout must be an int or a float, not True \(bool\)"),
        (-1, ValueError, r"timeout must be None or a number >= 0, not -1"),
        (math.nan, ValueError, r"timeout must be None or a number >= 0, not nan"),
    ],
)
async def test_a_bad_timeout_is_refused_at_once_naming_timeout(
    timeout: object, error: type[Exception], match: str
) -> None:
    @flow
    async def f() -> None:
        future = await after(1)
        with pytest.raises(error, match=match):
            future.wait(timeout)  # type: ignore[arg-type]
        with pytest.raises(error, match=match):
            future.result(timeout)  # type: ignore[arg-type]
        with pytest.raises(error, match=match):
            wait([future], timeout)  # type: ignore[arg-type]
        with pytest.raises(error, match=match):
            as_completed([future], timeout)  # type: ignore[arg-type]
        assert await future.result() == 1  # the task run was not disturbed

    await f()


async def test_as_completed_yields_futures_in_completion_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @flow
    async def f() -> list[float]:
        futures = await after.map([3, 1, 2])
        return [await future.result() async for future in as_completed(futures)]

    assert await f() == [1, 2, 3]


async def test_as_completed_timeout_raises_timeout_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @flow
    async def f() -> list[float]:
        futures = await after.map([1, 10])
        seen: list[float] = []

        async def consume() -> None:
            async for future in as_completed(futures, timeout=5):
                seen.append(await future.result())

        with pytest.raises(TimeoutError):
            await consume()
        assert trio.current_time() == 5
        futures[1].cancel()
        return seen

    assert await f() == [1]


def test_wait_and_as_completed_block_in_a_sync_flow() -> None:
    @task
    def square(x: int) -> int:
        return x * x

    @flow
    def f() -> tuple[list[int], list[int]]:
        futures = square.map([1, 2, 3])
        done, not_done = wait(futures)
        assert not not_done
        assert set(futures) == done
        first_done, _ = wait(square.map([4]), return_when=FIRST_COMPLETED)
        return (
            sorted(future.result() for future in as_completed(futures)),
            [future.result() for future in first_done],
        )

    assert f() == ([1, 4, 9], [16])


def test_wait_and_as_completed_of_nothing() -> None:
    @flow
    def f() -> tuple[object, list[object]]:
        return wait([]), list(as_completed([]))

    assert f() == ((set(), set()), [])
