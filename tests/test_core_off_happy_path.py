"""The core's promises off the happy path: each test reproduces one hole of issue 12.

Backpressure that forgets cancelled calls, a stray ``trio.Cancelled`` raised by a call, threads
abandoned by cancelled sync calls, async generator functions, bad ``timeout`` values, submits
after the run, and bookkeeping that Ctrl-C could interrupt half-way.
"""

from __future__ import annotations

import functools
import math
import sys
import threading
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any

import pytest
import trio
import trio.testing

from trio_runners import (
    BaseTaskRunner,
    ConcurrentTaskRunner,
    SequentialTaskRunner,
    ThreadPoolTaskRunner,
)
from trio_runners.abc import Instrument
from trio_runners.states import State

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

LOOP_RUNNERS: dict[str, Callable[[], BaseTaskRunner]] = {
    "sequential": SequentialTaskRunner,
    "concurrent": ConcurrentTaskRunner,
    "concurrent-max2": functools.partial(ConcurrentTaskRunner, max_workers=2),
    "threadpool-max2": functools.partial(ThreadPoolTaskRunner, max_workers=2),
}


@pytest.fixture(params=sorted(LOOP_RUNNERS))
def loop_runner(request: pytest.FixtureRequest) -> BaseTaskRunner:
    return LOOP_RUNNERS[request.param]()


# ---------------------------------------------------------------- hole 1: backpressure


async def _assert_submit_does_not_block(runner: BaseTaskRunner, key: Hashable) -> None:
    """Submit ``key`` in a child task; fail if backpressure holds it once all tasks block."""
    done = trio.Event()

    async def submit() -> None:
        await runner.submit(key, trio.sleep_forever)
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(submit)
        await trio.testing.wait_all_tasks_blocked()
        assert done.is_set(), f"submit({key!r}) blocked though no live call was pending"


async def test_a_cancelled_queued_call_gives_its_pending_room_back_at_once() -> None:
    runner = ConcurrentTaskRunner(max_workers=1, max_pending=2)
    async with runner.start():
        for key in "ABC":  # A runs; B and C fill the two pending places
            await runner.submit(key, trio.sleep_forever)
        await trio.testing.wait_all_tasks_blocked()  # A is running
        runner.cancel("B")
        runner.cancel("C")
        assert runner.statistics().queued == 0
        await _assert_submit_does_not_block(runner, "D")
        runner.cancel_all()


async def test_a_submitter_blocked_by_backpressure_wakes_when_a_queued_call_is_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runner = ConcurrentTaskRunner(max_workers=1, max_pending=1)
    submitted = trio.Event()
    async with runner.start(), trio.open_nursery() as nursery:
        await runner.submit("A", trio.sleep_forever)
        await runner.submit("B", trio.sleep_forever)  # pending: 1 of 1

        async def third() -> None:
            await runner.submit("C", trio.sleep_forever)
            submitted.set()

        nursery.start_soon(third)
        await trio.testing.wait_all_tasks_blocked()
        assert not submitted.is_set()  # backpressure holds C's submitter
        runner.cancel("B")
        with trio.fail_after(1):  # MockClock: fails at once if nothing can ever wake it
            await submitted.wait()
        assert runner.statistics().queued == 1  # C, waiting for A's slot
        runner.cancel_all()


async def test_a_call_cancelled_while_its_submitter_waits_for_room_leaks_no_room() -> None:
    runner = ConcurrentTaskRunner(max_workers=1, max_pending=1)
    async with runner.start(), trio.open_nursery() as nursery:
        await runner.submit("A", trio.sleep_forever)
        await runner.submit("B", trio.sleep_forever)
        nursery.start_soon(runner.submit, "C", trio.sleep_forever)
        await trio.testing.wait_all_tasks_blocked()
        runner.cancel("C")  # its submitter is still blocked on backpressure
        runner.cancel("B")  # the room goes to C's submitter, which must hand it back
        await trio.testing.wait_all_tasks_blocked()
        await _assert_submit_does_not_block(runner, "D")
        runner.cancel_all()


# ---------------------------------------------------------------- hole 2: stray Cancelled


def _raise_stray_cancelled() -> None:
    raise trio.Cancelled._create()  # what no scope of ours caused


async def _raise_stray_cancelled_async() -> None:
    await trio.lowlevel.checkpoint()
    raise trio.Cancelled._create()


@pytest.mark.parametrize("bad", [_raise_stray_cancelled, _raise_stray_cancelled_async])
async def test_a_stray_cancelled_from_a_call_crashes_only_that_call(
    loop_runner: BaseTaskRunner, bad: Callable[[], Any], autojump_clock: trio.testing.MockClock
) -> None:
    block_finished = False
    with trio.CancelScope() as outer:
        async with loop_runner.start():
            await loop_runner.submit("sibling", functools.partial(trio.sleep, 1))
            await loop_runner.submit("bad", bad)
            state = await loop_runner.wait("bad")
            block_finished = True
    assert block_finished, "the rest of the start() block was skipped"
    assert not outer.cancelled_caught
    assert state is not None and state.is_crashed(), state
    assert "no cancel scope" in (state.message or "")
    # Never a bare Cancelled in a State: result() would raise it in the reader's task.
    error = state.exception()
    assert isinstance(error, RuntimeError) and isinstance(error.__cause__, trio.Cancelled)
    with pytest.raises(RuntimeError, match="no cancel scope"):
        state.result()
    sibling = loop_runner.state("sibling")
    assert sibling is not None and sibling.is_completed(), sibling


class _Custom(BaseException):
    pass


@pytest.mark.parametrize(
    "exc",
    [
        _Custom("mine"),
        GeneratorExit(),
        BaseExceptionGroup("group", [_Custom("a"), ValueError("b")]),
        BaseExceptionGroup("cancels", [trio.Cancelled._create()]),
    ],
    ids=["custom", "generatorexit", "group", "group-of-cancelled"],
)
async def test_a_base_exception_that_does_not_stop_the_process_crashes_only_that_call(
    loop_runner: BaseTaskRunner, exc: BaseException, autojump_clock: trio.testing.MockClock
) -> None:
    async def bad() -> None:
        await trio.lowlevel.checkpoint()
        raise exc

    async with loop_runner.start():
        await loop_runner.submit("sibling", functools.partial(trio.sleep, 1))
        await loop_runner.submit("bad", bad)
    state = loop_runner.state("bad")
    assert state is not None and state.is_crashed()
    if isinstance(exc, BaseExceptionGroup) and exc.subgroup(trio.Cancelled) is not None:
        assert isinstance(state.exception(), RuntimeError)
        assert state.exception().__cause__ is exc  # type: ignore[union-attr]
    else:
        assert state.exception() is exc
    sibling = loop_runner.state("sibling")
    assert sibling is not None and sibling.is_completed(), sibling


@pytest.mark.parametrize(
    "exc_type", [KeyboardInterrupt, SystemExit], ids=["keyboardinterrupt", "systemexit"]
)
async def test_keyboard_interrupt_or_system_exit_from_a_call_is_crashed_and_propagates(
    loop_runner: BaseTaskRunner,
    exc_type: type[BaseException],
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def bad() -> None:
        await trio.sleep(0.5)
        raise exc_type

    reached_end = False
    with pytest.RaisesGroup(exc_type, allow_unwrapped=True, flatten_subgroups=True):
        async with loop_runner.start():
            if loop_runner.name == "sequential":
                await loop_runner.submit("bad", bad)
            else:
                await loop_runner.submit("sibling", trio.sleep_forever)
                await loop_runner.submit("bad", bad)
                await trio.sleep(1)
            reached_end = True
    assert not reached_end
    state = loop_runner.state("bad")
    assert state is not None and state.is_crashed()
    assert isinstance(state.exception(), exc_type)
    if loop_runner.name != "sequential":
        sibling = loop_runner.state("sibling")
        assert sibling is not None and sibling.is_cancelled()


async def test_an_enclosing_cancel_is_still_recorded_cancelled_and_propagates(
    loop_runner: BaseTaskRunner, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.move_on_after(1) as scope:
        async with loop_runner.start():
            await loop_runner.submit("long", trio.sleep_forever)
    assert scope.cancelled_caught
    state = loop_runner.state("long")
    assert state is not None and state.is_cancelled()


# ---------------------------------------------------------------- hole 4: abandoned threads


@pytest.mark.parametrize(
    ("factory", "blocked"),
    [(SequentialTaskRunner, 1), (ConcurrentTaskRunner, 45)],
    ids=["sequential", "concurrent-unbounded"],
)
async def test_abandoned_sync_calls_do_not_take_the_process_thread_capacity_hostage(
    factory: Callable[[], BaseTaskRunner], blocked: int
) -> None:
    # Real threads, so no MockClock (it would jump while a thread works); the fail_after below
    # only turns a hang into a failure.
    release = threading.Event()
    try:
        with trio.CancelScope() as outer:
            async with trio.open_nursery() as nursery:

                async def cancel_once_every_call_blocks() -> None:
                    await trio.testing.wait_all_tasks_blocked()
                    outer.cancel()

                nursery.start_soon(cancel_once_every_call_blocks)
                runner = factory()
                async with runner.start():
                    for i in range(blocked):  # more than Trio's 40 default threads
                        await runner.submit(i, release.wait)
        assert outer.cancelled_caught
        # Trio's global default limiter is untouched by the abandoned threads ...
        default = trio.to_thread.current_default_thread_limiter()
        assert default.borrowed_tokens == 0, "abandoned threads hold the global limiter"
        with trio.fail_after(30):
            # ... so other trio.to_thread users and the next run are served.
            assert await trio.to_thread.run_sync(lambda: "still works") == "still works"
            again = factory()
            async with again.start():
                await again.submit("next", lambda: "next run works")
            state = again.state("next")
            assert state is not None and state.result() == "next run works"
    finally:
        release.set()


# ---------------------------------------------------------------- hole 6: async generators


async def _agen() -> AsyncIterator[int]:
    yield 1


class _AgenCallable:
    async def __call__(self) -> AsyncIterator[int]:
        yield 1


@pytest.mark.parametrize(
    "call",
    [_agen, functools.partial(_agen), _AgenCallable()],
    ids=["function", "partial", "object"],
)
async def test_an_async_generator_function_is_refused_at_submit_naming_the_key(
    loop_runner: BaseTaskRunner, call: Callable[[], Any]
) -> None:
    async with loop_runner.start():
        await loop_runner.submit("ok", trio.lowlevel.checkpoint)
        with pytest.raises(TypeError, match=r"'agen-key'.*async generator"):
            await loop_runner.submit("agen-key", call)
        with pytest.raises(KeyError):
            loop_runner.state("agen-key")  # nothing registered
        await loop_runner.submit("agen-key", trio.lowlevel.checkpoint)  # the key is still free
    stats = loop_runner.statistics()
    assert (stats.completed, stats.crashed, stats.failed) == (2, 0, 0)


async def test_a_non_callable_is_refused_naming_the_key(loop_runner: BaseTaskRunner) -> None:
    async with loop_runner.start():
        with pytest.raises(TypeError, match=r"'k'.*not int"):
            await loop_runner.submit("k", 5)  # type: ignore[arg-type]


# ---------------------------------------------------------------- errors that name what was wrong


async def test_an_unhashable_key_is_refused_by_every_method_saying_so(
    loop_runner: BaseTaskRunner,
) -> None:
    async with loop_runner.start():
        await loop_runner.submit("ok", trio.lowlevel.checkpoint)
        with pytest.raises(TypeError, match=r"key must be hashable, not list"):
            await loop_runner.submit([1], trio.lowlevel.checkpoint)
        with pytest.raises(TypeError, match=r"key must be hashable, not list"):
            await loop_runner.wait([1])
        for method in (loop_runner.cancel, loop_runner.release, loop_runner.state):
            with pytest.raises(TypeError, match=r"key must be hashable, not dict"):
                method({})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"key must be hashable, not set"):
            loop_runner.as_completed(["ok", {1}])
        with pytest.raises(TypeError, match=r"as_completed takes an iterable of keys, not int"):
            loop_runner.as_completed(5)  # type: ignore[arg-type]
    assert loop_runner.statistics().completed == 1  # nothing else was registered


@pytest.mark.parametrize("timeout", ["1", True, [1], object()], ids=["str", "bool", "list", "obj"])
async def test_wait_with_a_timeout_that_is_not_a_number_says_so(
    loop_runner: BaseTaskRunner, timeout: Any
) -> None:
    async with loop_runner.start():
        await loop_runner.submit("k", trio.lowlevel.checkpoint)
        with pytest.raises(TypeError, match="timeout must be None or a number of seconds"):
            await loop_runner.wait("k", timeout=timeout)
        assert await loop_runner.wait("k") is not None  # nothing disturbed


@pytest.mark.parametrize("timeout", [-1, math.nan], ids=["negative", "nan"])
async def test_wait_with_a_negative_or_nan_timeout_says_so(
    loop_runner: BaseTaskRunner, timeout: float
) -> None:
    async with loop_runner.start():
        await loop_runner.submit("k", trio.lowlevel.checkpoint)
        with pytest.raises(ValueError, match="timeout must be None or >= 0"):
            await loop_runner.wait("k", timeout=timeout)


async def test_submit_after_the_block_has_exited_says_has_exited(
    loop_runner: BaseTaskRunner,
) -> None:
    with pytest.raises(RuntimeError, match="is not started"):
        await loop_runner.submit("early", trio.lowlevel.checkpoint)
    async with loop_runner.start():
        pass
    with pytest.raises(RuntimeError, match=r"has exited.*'late'"):
        await loop_runner.submit("late", trio.lowlevel.checkpoint)


# ---------------------------------------------------------------- KI protection


class _KIProtection(Instrument):
    """Records whether each bookkeeping event runs under Trio's KeyboardInterrupt protection."""

    def __init__(self) -> None:
        self.seen: dict[str, bool] = {}

    def cancel_requested(self, runner: BaseTaskRunner, key: Hashable, time: float) -> None:
        self.seen["cancel_requested"] = trio.lowlevel.currently_ki_protected()

    def finished(
        self, runner: BaseTaskRunner, key: Hashable, state: State[Any], time: float
    ) -> None:
        self.seen.setdefault("finished", True)
        self.seen["finished"] &= trio.lowlevel.currently_ki_protected()

    def released(self, runner: BaseTaskRunner, key: Hashable, time: float) -> None:
        self.seen["released"] = trio.lowlevel.currently_ki_protected()


async def test_bookkeeping_runs_protected_from_keyboard_interrupt() -> None:
    probe = _KIProtection()
    runner = ConcurrentTaskRunner(max_workers=1, instruments=[probe])
    async with runner.start():
        await runner.submit("done", trio.lowlevel.checkpoint)
        await runner.submit("cancelled", trio.sleep_forever)
        await runner.wait("done")
        runner.cancel("cancelled")
        runner.release("done")
        await runner.submit("all", trio.sleep_forever)
        runner.cancel_all()
    assert probe.seen == {"cancel_requested": True, "finished": True, "released": True}


# ---------------------------------------------------------------- found by the kit's new properties


async def test_a_call_that_submits_children_past_max_pending_lends_its_slot_and_finishes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runner = ConcurrentTaskRunner(max_workers=1, max_pending=1)

    async def child(n: int) -> int:
        await trio.sleep(1)
        return n

    async def parent() -> list[Any]:
        for n in range(3):  # the second child waits for room while the parent holds the slot
            await runner.submit(("child", n), functools.partial(child, n))
        return [(await runner.wait(("child", n))).result() for n in range(3)]  # type: ignore[union-attr]

    with trio.fail_after(60):  # MockClock: fails at once on a deadlock
        async with runner.start():
            await runner.submit("parent", parent)
    state = runner.state("parent")
    assert state is not None and state.result() == [0, 1, 2]


def test_a_submit_racing_a_crashing_run_never_ends_in_the_runner_s_own_error() -> None:
    # Trio randomizes the order of tasks woken together, so the race between a submit resuming
    # and the dispatcher stopping is played many times; every outcome must be a contract one.
    async def interrupt() -> None:
        await trio.sleep(1)
        raise KeyboardInterrupt

    for _ in range(50):
        runner = ConcurrentTaskRunner(max_workers=1, max_pending=2)

        async def play(runner: ConcurrentTaskRunner = runner) -> None:
            with pytest.RaisesGroup(KeyboardInterrupt, flatten_subgroups=True):
                async with runner.start():
                    await runner.submit("a", interrupt)
                    await trio.sleep(1)
                    await runner.submit("b", trio.lowlevel.checkpoint)

        trio.run(play, clock=trio.testing.MockClock(autojump_threshold=0))
        try:
            state = runner.state("b")
        except KeyError:
            continue  # the block was cancelled before "b" was submitted
        assert state is not None and (state.is_cancelled() or state.is_completed()), state


class _Stubborn(BaseException):
    pass


async def test_a_base_exception_replacing_an_enclosing_cancel_does_not_escape_start(
    loop_runner: BaseTaskRunner, autojump_clock: trio.testing.MockClock
) -> None:
    async def stubborn() -> None:
        try:
            await trio.sleep_forever()
        finally:
            raise _Stubborn  # raised while the scope around start() is cancelled

    with trio.move_on_after(1) as scope:
        async with loop_runner.start():
            if loop_runner.name == "sequential":
                await loop_runner.submit("stubborn", stubborn)
            else:
                await loop_runner.submit("stubborn", stubborn)
                await trio.sleep_forever()
    assert scope.cancelled_caught
    state = loop_runner.state("stubborn")
    assert state is not None and (state.is_cancelled() or state.is_crashed()), state
