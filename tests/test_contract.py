"""The runner contract, checked on every event-loop runner (see conftest.RUNNER_FACTORIES)."""

from __future__ import annotations

import math
import pickle
import threading
import time
from typing import Any

import pytest
import trio
import trio.testing

from trio_runners import (
    BaseTaskRunner,
    CancelledRun,
    Crashed,
    Failed,
    State,
    StateType,
)


def returns(value: Any) -> Any:
    async def call() -> Any:
        return value

    return call


def sleeps(seconds: float, value: Any = None) -> Any:
    async def call() -> Any:
        await trio.sleep(seconds)
        return value

    return call


async def raise_value_error() -> None:
    raise ValueError("boom")


# ---------------------------------------------------------------- start()


async def test_start_yields_the_runner(runner: BaseTaskRunner) -> None:
    async with runner.start() as started:
        assert started is runner
        assert runner.started
    assert not runner.started


async def test_starting_a_started_runner_raises_runtime_error(runner: BaseTaskRunner) -> None:
    async with runner.start():
        with pytest.raises(RuntimeError, match="already started"):
            async with runner.start():
                pass  # pragma: no cover
        await runner.submit("still-works", returns(1))
    state = runner.state("still-works")
    assert state is not None and state.result() == 1


async def test_runner_restarts_with_a_fresh_run(runner: BaseTaskRunner) -> None:
    async with runner.start():
        await runner.submit("k", returns(1))
    async with runner.start():
        with pytest.raises(KeyError):
            await runner.wait("k")
        await runner.submit("k", returns(2))  # the key is free again in the new run
    state = await runner.wait("k")
    assert state is not None and state.result() == 2


async def test_leaving_the_block_waits_for_in_flight_calls(
    runner: BaseTaskRunner, autojump_clock: trio.testing.MockClock
) -> None:
    finished: list[str] = []

    async def slow() -> None:
        await trio.sleep(5)
        finished.append("slow")

    async with trio.open_nursery() as nursery, runner.start():
        nursery.start_soon(runner.submit, "slow", slow)
        await trio.testing.wait_all_tasks_blocked()
    assert finished == ["slow"]
    assert trio.current_time() == 5


async def test_calls_may_submit_more_calls_while_the_block_drains(
    runner: BaseTaskRunner,
) -> None:
    async def parent() -> None:
        await trio.lowlevel.checkpoint()
        await runner.submit("child", returns("c"))

    async with runner.start():
        await runner.submit("parent", parent)
    state = runner.state("child")
    assert state is not None and state.result() == "c"


async def test_exception_in_block_cancels_in_flight_calls_and_propagates(
    runner: BaseTaskRunner,
) -> None:
    reached = trio.Event()

    async def forever() -> None:
        reached.set()
        await trio.sleep_forever()

    with pytest.RaisesGroup(ZeroDivisionError, flatten_subgroups=True):
        async with trio.open_nursery() as nursery, runner.start():
            nursery.start_soon(runner.submit, "forever", forever)
            await reached.wait()
            1 / 0  # noqa: B018
    state = runner.state("forever")
    assert state is not None and state.is_cancelled()


async def test_enclosing_cancel_marks_calls_cancelled_and_is_not_swallowed(
    runner: BaseTaskRunner, autojump_clock: trio.testing.MockClock
) -> None:
    after_checkpoint: list[str] = []

    async def forever() -> None:
        await trio.sleep_forever()
        after_checkpoint.append("ran")  # pragma: no cover

    with trio.move_on_after(3) as scope:
        async with trio.open_nursery() as nursery, runner.start():
            nursery.start_soon(runner.submit, "forever", forever)
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert trio.current_time() == 3
    assert after_checkpoint == []
    state = runner.state("forever")
    assert state is not None and state.is_cancelled()


# ---------------------------------------------------------------- submit()


async def test_submit_outside_start_raises_runtime_error(runner: BaseTaskRunner) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        await runner.submit("k", returns(1))
    async with runner.start():
        pass
    with pytest.raises(RuntimeError, match="not started"):
        await runner.submit("k", returns(1))


async def test_duplicate_key_raises_value_error_and_disturbs_nothing(
    runner: BaseTaskRunner,
) -> None:
    async with runner.start():
        await runner.submit("k", returns(1))
        with pytest.raises(ValueError, match="already submitted"):
            await runner.submit("k", returns(2))
    state = runner.state("k")
    assert state is not None and state.result() == 1


async def test_non_callable_raises_type_error(runner: BaseTaskRunner) -> None:
    async with runner.start():
        with pytest.raises(TypeError, match="callable"):
            await runner.submit("k", 42)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="unhashable"):
            await runner.submit(["not", "hashable"], returns(1))
        await runner.submit("k", returns(1))  # the bad call left no trace


async def test_submit_accepts_sync_async_and_state_returning_calls(
    runner: BaseTaskRunner,
) -> None:
    kept = Failed(ValueError("from the call"))

    async def returns_state() -> State[Any]:
        return kept

    async def coroutine() -> str:
        return "async"

    async with runner.start():
        await runner.submit("sync", lambda: "sync")
        await runner.submit("async", returns("async"))
        await runner.submit("awaitable", lambda: coroutine())
        await runner.submit("state", returns_state)
        await runner.submit("sync-state", lambda: kept)
    assert runner.state("sync").result() == "sync"  # type: ignore[union-attr]
    assert runner.state("async").result() == "async"  # type: ignore[union-attr]
    assert runner.state("awaitable").result() == "async"  # type: ignore[union-attr]
    assert runner.state("state") is kept
    assert runner.state("sync-state") is kept


async def test_sync_calls_do_not_block_the_event_loop(runner: BaseTaskRunner) -> None:
    release = threading.Event()

    def blocking() -> str:
        release.wait()
        return "done"

    async with trio.open_nursery() as nursery, runner.start():
        nursery.start_soon(runner.submit, "blocking", blocking)
        await trio.testing.wait_all_tasks_blocked()
        release.set()  # only reachable because the loop is free while the thread blocks
    assert runner.state("blocking").result() == "done"  # type: ignore[union-attr]


async def test_cancelled_sync_call_is_abandoned_and_can_cooperate(runner: BaseTaskRunner) -> None:
    entered = threading.Event()
    noticed = threading.Event()

    def cooperative() -> None:
        entered.set()
        while True:
            try:
                trio.from_thread.check_cancelled()
            except trio.Cancelled:
                noticed.set()
                raise
            time.sleep(0.001)  # one step of a long computation (not synchronisation)

    async with trio.open_nursery() as nursery, runner.start():
        nursery.start_soon(runner.submit, "sync", cooperative)
        await trio.to_thread.run_sync(entered.wait)
        assert runner.cancel("sync")
        state = runner.state("sync")
        assert state is not None and state.is_cancelled()  # decided at once
        await trio.to_thread.run_sync(noticed.wait)


async def test_sequential_submit_runs_the_call_to_completion() -> None:
    from trio_runners import SequentialTaskRunner

    runner = SequentialTaskRunner()
    async with runner.start():
        await runner.submit("k", sleeps(0, "v"))
        state = runner.state("k")
        assert state is not None and state.result() == "v"


async def test_concurrent_submit_returns_before_the_call_finishes() -> None:
    from trio_runners import ConcurrentTaskRunner

    runner = ConcurrentTaskRunner()
    async with runner.start():
        await runner.submit("k", trio.sleep_forever)
        assert runner.state("k") is None
        runner.cancel("k")


async def test_public_async_methods_checkpoint(runner: BaseTaskRunner) -> None:
    async with runner.start():
        with trio.testing.assert_checkpoints():
            await runner.submit("k", lambda: None)
        await runner.wait("k")
        with trio.testing.assert_checkpoints():
            await runner.wait("k")  # fast path: already finished
        with trio.testing.assert_checkpoints():
            await runner.wait("k", timeout=0)
        with trio.testing.assert_checkpoints():
            async for _ in runner.as_completed(["k"]):
                pass


# ---------------------------------------------------------------- wait()


async def test_wait_returns_the_final_state(runner: BaseTaskRunner) -> None:
    async with runner.start():
        await runner.submit("k", returns(7))
        state = await runner.wait("k")
    assert state is not None and state.is_completed() and state.result() == 7


async def test_wait_timeout_is_exact_and_returns_none(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from trio_runners import ConcurrentTaskRunner

    runner = ConcurrentTaskRunner()
    async with runner.start():
        await runner.submit("k", sleeps(2, "v"))
        assert await runner.wait("k", timeout=1.5) is None
        assert trio.current_time() == 1.5
        state = await runner.wait("k", timeout=1)
        assert trio.current_time() == 2
        assert state is not None and state.result() == "v"


async def test_wait_timeout_zero_polls(
    runner: BaseTaskRunner, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery, runner.start():
        nursery.start_soon(runner.submit, "slow", sleeps(1))
        await trio.testing.wait_all_tasks_blocked()
        assert await runner.wait("slow", timeout=0) is None
        assert trio.current_time() == 0
        assert await runner.wait("slow") is not None
        assert await runner.wait("slow", timeout=0) is not None


async def test_wait_timeout_never_disturbs_the_call(
    runner: BaseTaskRunner, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery, runner.start():
        nursery.start_soon(runner.submit, "k", sleeps(10, "done"))
        await trio.testing.wait_all_tasks_blocked()
        for _ in range(3):
            assert await runner.wait("k", timeout=1) is None
    state = runner.state("k")
    assert state is not None and state.result() == "done"


@pytest.mark.parametrize("timeout", [-1, -0.5, math.nan])
async def test_wait_rejects_negative_or_nan_timeout(runner: BaseTaskRunner, timeout: float) -> None:
    async with runner.start():
        await runner.submit("k", returns(1))
        with pytest.raises(ValueError, match="timeout"):
            await runner.wait("k", timeout=timeout)


async def test_wait_unknown_key_raises_key_error(runner: BaseTaskRunner) -> None:
    with pytest.raises(KeyError, match="unknown key"):
        await runner.wait("never")
    async with runner.start():
        with pytest.raises(KeyError, match="unknown key"):
            await runner.wait("never")


async def test_the_calls_exception_never_escapes_wait(runner: BaseTaskRunner) -> None:
    async with runner.start():
        await runner.submit("k", raise_value_error)
        state = await runner.wait("k")
    assert state is not None and state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), ValueError)


async def test_every_waiter_gets_the_same_state(
    runner: BaseTaskRunner, autojump_clock: trio.testing.MockClock
) -> None:
    got: list[State[Any] | None] = []

    async def waiter() -> None:
        got.append(await runner.wait("k"))

    async with trio.open_nursery() as nursery, runner.start():
        nursery.start_soon(runner.submit, "k", sleeps(1, "v"))
        await trio.testing.wait_all_tasks_blocked()
        for _ in range(5):
            nursery.start_soon(waiter)
    assert len(got) == 5
    assert all(state is got[0] for state in got)
    assert got[0] is runner.state("k")


async def test_cancelled_waiter_propagates_and_leaves_the_call_alone(
    runner: BaseTaskRunner, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery, runner.start():
        nursery.start_soon(runner.submit, "k", sleeps(5, "v"))
        await trio.testing.wait_all_tasks_blocked()
        with trio.CancelScope() as scope:
            scope.cancel()
            await runner.wait("k")
            pytest.fail("wait returned in a cancelled scope")  # pragma: no cover
        assert scope.cancelled_caught
    state = runner.state("k")
    assert state is not None and state.result() == "v"


# ---------------------------------------------------------------- cancel()


async def test_cancel_running_call_cancels_its_own_scope(
    runner: BaseTaskRunner, autojump_clock: trio.testing.MockClock
) -> None:
    reached_end = False

    async def forever() -> None:
        nonlocal reached_end
        await trio.sleep_forever()
        reached_end = True  # pragma: no cover

    async with trio.open_nursery() as nursery, runner.start():
        nursery.start_soon(runner.submit, "k", forever)
        await trio.testing.wait_all_tasks_blocked()
        assert runner.cancel("k") is True
        state = await runner.wait("k")
    assert state is not None and state.is_cancelled()
    with pytest.raises(CancelledRun):
        state.result()
    assert not reached_end


async def test_cancel_finished_call_returns_false_and_keeps_its_state(
    runner: BaseTaskRunner,
) -> None:
    async with runner.start():
        await runner.submit("k", returns(1))
        state = await runner.wait("k")
        assert runner.cancel("k") is False
        assert runner.state("k") is state


async def test_cancel_unknown_key_raises_key_error(runner: BaseTaskRunner) -> None:
    async with runner.start():
        with pytest.raises(KeyError):
            runner.cancel("never")


async def test_cancel_one_call_never_cancels_its_siblings_or_the_runner(
    runner: BaseTaskRunner, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery, runner.start():
        nursery.start_soon(runner.submit, "victim", sleeps(5, "v"))
        await trio.testing.wait_all_tasks_blocked()
        runner.cancel("victim")
        await runner.submit("sibling", sleeps(1, "s"))
        await runner.submit("later", returns("l"))
    assert runner.state("victim").is_cancelled()  # type: ignore[union-attr]
    assert runner.state("sibling").result() == "s"  # type: ignore[union-attr]
    assert runner.state("later").result() == "l"  # type: ignore[union-attr]


async def test_cancel_all_cancels_every_unfinished_call(
    runner: BaseTaskRunner, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery, runner.start():
        await runner.submit("done", returns(1))
        for key in ("a", "b"):
            nursery.start_soon(runner.submit, key, trio.sleep_forever)
        await trio.testing.wait_all_tasks_blocked()
        assert runner.cancel_all() == 2
        await runner.submit("after", returns(2))  # the runner still accepts work
    assert runner.state("done").is_completed()  # type: ignore[union-attr]
    assert runner.state("a").is_cancelled()  # type: ignore[union-attr]
    assert runner.state("b").is_cancelled()  # type: ignore[union-attr]
    assert runner.state("after").is_completed()  # type: ignore[union-attr]


# ---------------------------------------------------------------- as_completed()


async def test_as_completed_yields_in_completion_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from trio_runners import ConcurrentTaskRunner

    runner = ConcurrentTaskRunner()
    async with runner.start():
        await runner.submit("first-done", returns(0))
        await runner.wait("first-done")
        for key, delay in (("slow", 3), ("fast", 1), ("mid", 2)):
            await runner.submit(key, sleeps(delay, key))
        order = [key async for key, _ in runner.as_completed(["slow", "fast", "mid", "first-done"])]
    assert order == ["first-done", "fast", "mid", "slow"]


async def test_as_completed_reports_duplicates_once_and_rejects_unknown_keys(
    runner: BaseTaskRunner,
) -> None:
    async with runner.start():
        await runner.submit("k", returns(1))
        with pytest.raises(KeyError):
            runner.as_completed(["k", "unknown"])
        seen = [(key, state.result()) async for key, state in runner.as_completed(["k", "k"])]
    assert seen == [("k", 1)]


async def test_as_completed_aclose_stops_listening(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from trio_runners import ConcurrentTaskRunner

    runner = ConcurrentTaskRunner()
    async with runner.start():
        await runner.submit("a", sleeps(1))
        await runner.submit("b", sleeps(2))
        async with runner.as_completed(["a", "b"]) as stream:
            async for key, _ in stream:
                assert key == "a"
                break
    assert runner.state("b").is_completed()  # type: ignore[union-attr]


# ---------------------------------------------------------------- release()


async def test_release_forgets_a_finished_state_and_frees_the_key(
    runner: BaseTaskRunner,
) -> None:
    async with runner.start():
        await runner.submit("k", returns(1))
        await runner.wait("k")
        assert runner.statistics().retained == 1
        runner.release("k")
        assert runner.statistics().retained == 0
        with pytest.raises(KeyError):
            await runner.wait("k")
        await runner.submit("k", returns(2))
        assert (await runner.wait("k")).result() == 2  # type: ignore[union-attr]


async def test_release_of_unfinished_call_raises_runtime_error(runner: BaseTaskRunner) -> None:
    async with trio.open_nursery() as nursery, runner.start():
        nursery.start_soon(runner.submit, "k", trio.sleep_forever)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(RuntimeError, match="not finished"):
            runner.release("k")
        with pytest.raises(KeyError):
            runner.release("unknown")
        runner.cancel("k")


async def test_states_are_kept_after_exit_until_next_start(runner: BaseTaskRunner) -> None:
    async with runner.start():
        await runner.submit("k", returns(1))
    assert (await runner.wait("k")).result() == 1  # type: ignore[union-attr]
    assert (await runner.wait("k", timeout=0)) is not None


# ---------------------------------------------------------------- identity, options, pickling


async def test_duplicate_equality_and_pickling_use_options_only(runner: BaseTaskRunner) -> None:
    twin = runner.duplicate()
    assert twin == runner and twin is not runner
    assert hash(twin) == hash(runner)
    async with runner.start():
        await runner.submit("k", returns(1))
        copy = pickle.loads(pickle.dumps(runner))  # while started
        assert copy == runner
        assert not copy.started
        with pytest.raises(KeyError):
            copy.state("k")
        assert runner == twin  # runtime state never enters equality
    async with copy.start():
        await copy.submit("k", returns(2))


def test_name_and_concurrency_type(runner: BaseTaskRunner) -> None:
    from trio_runners import TaskConcurrencyType

    expected = {
        "SequentialTaskRunner": ("sequential", TaskConcurrencyType.SEQUENTIAL),
        "ConcurrentTaskRunner": ("concurrent", TaskConcurrencyType.CONCURRENT),
    }[type(runner).__name__]
    assert (runner.name, runner.concurrency_type) == expected


# ---------------------------------------------------------------- crashes


async def test_keyboard_interrupt_from_a_call_is_crashed_and_propagates(
    runner: BaseTaskRunner,
) -> None:
    woken: list[State[Any] | None] = []

    async def interrupt() -> None:
        await trio.lowlevel.checkpoint()
        raise KeyboardInterrupt

    async def waiter() -> None:
        woken.append(await runner.wait("ki"))

    with pytest.RaisesGroup(KeyboardInterrupt, flatten_subgroups=True):
        async with runner.start(), trio.open_nursery() as nursery:
            nursery.start_soon(runner.submit, "ki", interrupt)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(waiter)
            await trio.sleep_forever()
    state = runner.state("ki")
    assert state is not None and state.is_crashed()
    assert isinstance(state.result(raise_on_failure=False), KeyboardInterrupt)
    assert state.type is StateType.CRASHED
    assert isinstance(Crashed(KeyboardInterrupt()).exception(), KeyboardInterrupt)
