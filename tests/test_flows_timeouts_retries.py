"""timeout_seconds and retries."""

import math
import threading
from collections.abc import Awaitable, Callable
from fractions import Fraction

import pytest
import trio
import trio.testing

from trio_runners import ConcurrentTaskRunner, State, Task, TaskFuture, TaskTimeout, flow, task


async def test_timeout_cancels_an_async_task_and_fails_it_with_task_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reached: list[str] = []

    @task(timeout_seconds=5)
    async def slow() -> None:
        try:
            await trio.sleep(100)
            reached.append("after sleep")
        except trio.Cancelled:
            reached.append("cancelled")
            raise

    @flow
    async def f() -> object:
        return await (await slow()).wait()

    state = await f()
    assert state.is_failed()
    assert isinstance(state.exception(), TaskTimeout)
    assert "slow-0" in str(state.exception())
    assert reached == ["cancelled"]
    assert trio.current_time() == 5


async def test_a_task_that_finishes_in_time_is_not_disturbed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @task(timeout_seconds=5)
    async def quick() -> str:
        await trio.sleep(4)
        return "done"

    @flow
    async def f() -> str:
        return str(await (await quick()).result())

    assert await f() == "done"


async def test_timeout_decides_a_sync_tasks_state_at_the_deadline_and_abandons_its_thread(
    mock_clock: trio.testing.MockClock,
) -> None:
    release = threading.Event()
    began = threading.Event()
    noticed = threading.Event()
    futures: list[TaskFuture] = []

    @task(timeout_seconds=5)
    def blocking() -> None:
        began.set()
        release.wait()
        try:
            trio.from_thread.check_cancelled()
        except trio.Cancelled:
            noticed.set()
            raise

    @flow
    async def f() -> object:
        futures.append(await blocking())
        return await futures[0].wait()

    states: list[object] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_run_into, states, f)
        await trio.to_thread.run_sync(began.wait)  # the function runs in its thread
        mock_clock.jump(5)  # its deadline: the State is decided now, the thread abandoned
    (state,) = states
    assert isinstance(state, State)
    assert state.is_failed()
    assert isinstance(state.exception(), TaskTimeout)
    assert trio.current_time() == 5
    assert not noticed.is_set()
    release.set()  # the abandoned thread goes on and can notice it was cancelled
    await trio.to_thread.run_sync(noticed.wait)


async def test_with_retries_an_abandoned_sync_attempt_runs_on_beside_the_next_attempt(
    mock_clock: trio.testing.MockClock,
) -> None:
    release = threading.Event()
    lock = threading.Lock()
    inside: list[int] = []  # attempts executing the function right now
    seen_inside: list[int] = []  # how many were inside as each attempt began
    began = threading.Semaphore(0)
    ended = threading.Semaphore(0)

    @task(timeout_seconds=5, retries=1)
    def stubborn() -> None:
        with lock:
            inside.append(1)
            seen_inside.append(len(inside))
        began.release()
        release.wait()
        with lock:
            inside.pop()
        ended.release()

    @flow  # ConcurrentTaskRunner(): no max_workers
    async def f() -> object:
        return await (await stubborn()).wait()

    states: list[object] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_run_into, states, f)
        await trio.to_thread.run_sync(began.acquire)  # the first attempt is running
        mock_clock.jump(5)  # its deadline: abandoned, and the retry starts
        await trio.to_thread.run_sync(began.acquire)
        assert seen_inside == [1, 2]  # the second began while the first still ran
        mock_clock.jump(5)
    (state,) = states
    assert isinstance(state, State)
    assert isinstance(state.exception(), TaskTimeout)
    release.set()
    for _ in range(2):
        await trio.to_thread.run_sync(ended.acquire)


async def test_with_max_workers_the_next_attempt_waits_for_the_abandoned_thread_within_its_deadline(
    mock_clock: trio.testing.MockClock,
) -> None:
    release = threading.Event()
    began = threading.Semaphore(0)
    calls: list[int] = []
    ended = threading.Event()

    @task(timeout_seconds=5, retries=1)
    def stubborn() -> None:
        calls.append(1)
        began.release()
        release.wait()
        ended.set()

    @flow(task_runner=ConcurrentTaskRunner(max_workers=1))
    async def f() -> object:
        return await (await stubborn()).wait()

    states: list[object] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_run_into, states, f)
        await trio.to_thread.run_sync(began.acquire)
        mock_clock.jump(5)  # abandoned; its thread keeps the only worker thread
        await trio.testing.wait_all_tasks_blocked()
        assert calls == [1]  # the retry waits for a thread...
        mock_clock.jump(5)  # ...and its deadline runs meanwhile
    (state,) = states
    assert isinstance(state, State)
    assert isinstance(state.exception(), TaskTimeout)
    assert calls == [1]
    release.set()
    await trio.to_thread.run_sync(ended.wait)


async def _run_into(states: list[object], flow_fn: Callable[[], Awaitable[object]]) -> None:
    states.append(await flow_fn())


async def test_retries_rerun_a_failed_task_after_the_delay_on_the_mock_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[float] = []

    @task(retries=3, retry_delay_seconds=10)
    async def flaky() -> str:
        attempts.append(trio.current_time())
        if len(attempts) < 3:
            raise ValueError("not yet")
        return "finally"

    @flow
    async def f() -> str:
        return str(await (await flaky()).result())

    assert await f() == "finally"
    assert attempts == [0, 10, 20]


async def test_when_retries_run_out_the_task_fails_with_the_last_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[int] = []

    @task(retries=2, retry_delay_seconds=1)
    async def broken() -> None:
        attempts.append(len(attempts))
        raise ValueError(f"attempt {len(attempts)}")

    @flow
    async def f() -> BaseException:
        return await (await broken()).result(raise_on_failure=False)  # type: ignore[no-any-return]

    error = await f()
    assert str(error) == "attempt 3"
    assert attempts == [0, 1, 2]


def test_retries_rerun_a_failed_sync_task() -> None:
    attempts: list[int] = []

    @task(retries=1)
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first")
        return len(attempts)

    @flow
    def f() -> int:
        return int(flaky().result())

    assert f() == 2


async def test_a_cancelled_task_is_never_retried(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[int] = []

    @task(retries=5)
    async def forever() -> None:
        attempts.append(1)
        await trio.sleep_forever()

    @flow
    async def f() -> object:
        future = await forever()
        await trio.testing.wait_all_tasks_blocked()
        future.cancel()
        return await future.wait()

    state = await f()
    assert state.is_cancelled()
    assert attempts == [1]


async def test_a_timed_out_attempt_is_retried(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[float] = []

    @task(retries=1, retry_delay_seconds=2, timeout_seconds=5)
    async def slow_then_quick() -> str:
        attempts.append(trio.current_time())
        if len(attempts) == 1:
            await trio.sleep_forever()
        return "second time"

    @flow
    async def f() -> str:
        return str(await (await slow_then_quick()).result())

    assert await f() == "second time"
    assert attempts == [0, 7]


async def test_the_retry_delay_does_not_hold_a_worker_slot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ran_at: list[float] = []

    @task(retries=1, retry_delay_seconds=10)
    async def flaky() -> None:
        if not ran_at:
            ran_at.append(-1)
            raise ValueError("retry me")

    @task
    async def other() -> None:
        ran_at.append(trio.current_time())

    @flow(task_runner=ConcurrentTaskRunner(max_workers=1))
    async def f() -> None:
        first = await flaky()
        await trio.testing.wait_all_tasks_blocked()
        await other()
        await first.wait()

    await f()
    assert ran_at == [-1, 0]  # `other` ran during flaky's 10 s retry delay


def fn() -> None:
    pass


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"retries": -1}, ValueError, r"retries must be an int >= 0, not -1"),
        ({"retries": "2"}, TypeError, r"retries must be an int, not '2' \(str\)"),
        ({"retries": 1.0}, TypeError, r"retries must be an int, not 1.0 \(float\)"),
        ({"retries": True}, TypeError, r"retries must be an int, not True \(bool\)"),
        ({"retry_delay_seconds": -1}, ValueError, r"retry_delay_seconds .* >= 0, not -1"),
        ({"retry_delay_seconds": math.nan}, ValueError, r"retry_delay_seconds .*, not nan"),
        ({"retry_delay_seconds": math.inf}, ValueError, r"retry_delay_seconds must be a finite"),
        ({"retry_delay_seconds": "1"}, TypeError, r"retry_delay_seconds must be .*, not '1'"),
        ({"retry_delay_seconds": False}, TypeError, r"retry_delay_seconds .*, not False \(bool"),
        ({"timeout_seconds": 0}, ValueError, r"timeout_seconds must be None or .* > 0, not 0"),
        ({"timeout_seconds": -5}, ValueError, r"timeout_seconds .* > 0, not -5"),
        ({"timeout_seconds": math.nan}, ValueError, r"timeout_seconds .* > 0, not nan"),
        (
            {"timeout_seconds": "5"},
            TypeError,
            r"timeout_seconds must be an int or a float, not '5'",
        ),
        ({"timeout_seconds": True}, TypeError, r"timeout_seconds .*, not True \(bool\)"),
        ({"name": 5}, TypeError, r"name must be a str or None, not 5 \(int\)"),
    ],
)
def test_bad_task_options_are_refused_at_decoration_naming_the_option_and_the_value(
    options: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        task(**options)  # type: ignore[call-overload]
    with pytest.raises(error, match=match):
        Task(fn, **options)  # type: ignore[arg-type]


def test_numbers_of_any_real_type_are_good_task_options() -> None:
    quick = task(retries=2, retry_delay_seconds=Fraction(1, 4), timeout_seconds=math.inf)(fn)
    assert (quick.retries, quick.retry_delay_seconds, quick.timeout_seconds) == (
        2,
        Fraction(1, 4),
        math.inf,
    )
    assert task(retry_delay_seconds=0.5, timeout_seconds=1)(fn).timeout_seconds == 1


async def test_an_infinite_timeout_is_no_deadline(autojump_clock: trio.testing.MockClock) -> None:
    @task(timeout_seconds=math.inf)
    async def long() -> str:
        await trio.sleep(10**6)
        return "done"

    @flow
    async def f() -> str:
        return str(await (await long()).result())

    assert await f() == "done"
