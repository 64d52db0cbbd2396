"""ConcurrentTaskRunner: worker limit, FIFO admission, backpressure, nested waits."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import trio
import trio.testing

from trio_runners import ConcurrentTaskRunner


class Tracker:
    """Records how many calls run at once and the order they start in."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.started: list[Any] = []

    def call(self, key: Any, seconds: float) -> Any:
        async def tracked() -> Any:
            self.started.append(key)
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                await trio.sleep(seconds)
            finally:
                self.running -= 1
            return key

        return tracked


@pytest.mark.parametrize("max_workers", [1, 2, 3])
async def test_never_more_than_max_workers_run(
    max_workers: int, autojump_clock: trio.testing.MockClock
) -> None:
    tracker = Tracker()
    runner = ConcurrentTaskRunner(max_workers=max_workers)
    async with runner.start():
        for i in range(10):
            await runner.submit(i, tracker.call(i, 1 + i % 3))
    assert tracker.peak == max_workers
    assert runner.statistics().completed == 10


async def test_sync_and_async_calls_share_the_worker_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    import threading

    running = 0
    peak = 0
    lock = threading.Lock()
    gate = trio.Event()
    sync_running = trio.Event()

    def sync_call() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        trio.from_thread.run_sync(sync_running.set)
        trio.from_thread.run(gate.wait)
        with lock:
            running -= 1

    async def async_call() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await gate.wait()
        running -= 1

    runner = ConcurrentTaskRunner(max_workers=2)
    async with runner.start():
        for i in range(3):
            await runner.submit(("sync", i), sync_call)
            await runner.submit(("async", i), async_call)
        await sync_running.wait()  # the first sync call is in its thread (no Trio task shows it)
        await trio.testing.wait_all_tasks_blocked()
        assert runner.statistics().running == 2
        assert runner.statistics().queued == 4
        gate.set()
    assert peak == 2


async def test_admission_is_fifo_in_submission_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tracker = Tracker()
    runner = ConcurrentTaskRunner(max_workers=1)
    async with runner.start():
        for i in range(8):
            await runner.submit(i, tracker.call(i, 1))
    assert tracker.started == list(range(8))


async def test_queued_call_cancelled_never_starts(autojump_clock: trio.testing.MockClock) -> None:
    tracker = Tracker()
    runner = ConcurrentTaskRunner(max_workers=1)
    async with runner.start():
        await runner.submit("busy", tracker.call("busy", 5))
        await runner.submit("queued", tracker.call("queued", 1))
        await runner.submit("next", tracker.call("next", 1))
        assert runner.cancel("queued")
        state = await runner.wait("queued")
        assert state is not None and state.is_cancelled()
        assert trio.current_time() == 0  # decided at once, not when a slot frees
    assert tracker.started == ["busy", "next"]


async def test_max_pending_applies_backpressure_to_submit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runner = ConcurrentTaskRunner(max_workers=1, max_pending=2)
    submitted: list[int] = []

    async def submitter() -> None:
        for i in range(6):
            await runner.submit(i, functools.partial(trio.sleep, 1))
            submitted.append(i)

    async with runner.start(), trio.open_nursery() as nursery:
        nursery.start_soon(submitter)
        await trio.testing.wait_all_tasks_blocked()
        # call 0 runs, calls 1 and 2 are pending; submit(3) waits for room
        assert submitted == [0, 1, 2]
        stats = runner.statistics()
        assert (stats.running, stats.queued) == (1, 3)  # 3 = two pending + one blocked submit
        await trio.sleep(1)
        await trio.testing.wait_all_tasks_blocked()
        assert submitted == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_workers": 0}, ValueError, "max_workers must be >= 1"),
        ({"max_workers": "2"}, TypeError, "max_workers must be an int"),
        ({"max_workers": True}, TypeError, "max_workers must be an int"),
        ({"max_workers": 1, "max_pending": 0}, ValueError, "max_pending must be >= 1"),
        ({"max_pending": 3}, ValueError, "max_pending needs max_workers"),
    ],
)
def test_bad_options_raise_clear_errors(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        ConcurrentTaskRunner(**kwargs)


async def test_nested_submit_and_wait_never_deadlocks_with_one_worker(
    autojump_clock: trio.testing.MockClock,
) -> None:
    runner = ConcurrentTaskRunner(max_workers=1)

    async def leaf(n: int) -> int:
        await trio.sleep(1)
        return n

    async def parent() -> int:
        for n in range(3):
            await runner.submit(("leaf", n), lambda n=n: leaf(n))
        total = 0
        async for _, state in runner.as_completed([("leaf", n) for n in range(3)]):
            total += state.result()
        return total

    def sync_parent() -> int:
        trio.from_thread.run(runner.submit, "sync-leaf", lambda: leaf(10))
        state = trio.from_thread.run(runner.wait, "sync-leaf")
        assert state is not None
        return int(state.result()) + 1

    async def waiting_parent() -> int:
        await runner.submit("child", lambda: leaf(5))
        state = await runner.wait("child")
        assert state is not None
        return int(state.result())

    async with runner.start():
        await runner.submit("waiting", waiting_parent)
        await runner.submit("sync", sync_parent)
        await runner.submit("as_completed", parent)
    assert runner.state("waiting").result() == 5  # type: ignore[union-attr]
    assert runner.state("sync").result() == 11  # type: ignore[union-attr]


async def test_options_are_reported_in_repr_and_equality() -> None:
    runner = ConcurrentTaskRunner(max_workers=4, max_pending=8)
    assert repr(runner) == "ConcurrentTaskRunner(max_workers=4, max_pending=8)"
    assert runner == ConcurrentTaskRunner(max_workers=4, max_pending=8)
    assert runner != ConcurrentTaskRunner(max_workers=4)
    assert runner.duplicate() == runner


async def test_a_call_cancelled_while_its_submit_checkpoints_is_never_admitted() -> None:
    # submit() registers the call, then checkpoints before it queues it: a cancel that lands
    # in between (here from an instrument, synchronously, at "submitted") must keep the call
    # from taking a free worker slot, as the dispatcher skips a cancelled queued call.
    from collections.abc import Hashable

    from trio_runners.abc import Instrument

    events: list[tuple[str, Hashable]] = []

    class CancelAtSubmit(Instrument):
        def submitted(self, runner: Any, key: Hashable, time: float) -> None:
            events.append(("submitted", key))
            if key == "cancelled":
                runner.cancel(key)

        def admitted(self, runner: Any, key: Hashable, time: float) -> None:
            events.append(("admitted", key))

        def started(self, runner: Any, key: Hashable, time: float) -> None:
            events.append(("started", key))

    ran: list[str] = []

    async def call(name: str) -> None:
        ran.append(name)
        await trio.lowlevel.checkpoint()

    runner = ConcurrentTaskRunner(max_workers=1, instruments=[CancelAtSubmit()])
    async with runner.start():
        await runner.submit("cancelled", functools.partial(call, "cancelled"))
        await runner.submit("next", functools.partial(call, "next"))
    state = runner.state("cancelled")
    assert state is not None and state.is_cancelled()
    assert ran == ["next"]
    assert events == [
        ("submitted", "cancelled"),
        ("submitted", "next"),
        ("admitted", "next"),
        ("started", "next"),
    ]
    assert runner.statistics().running == 0


async def test_a_queued_call_runs_in_a_copy_of_its_submitters_context() -> None:
    # As a call started at once (and as trio.to_thread.run_sync does): whether a slot was free
    # when it was submitted must not change what the call sees.
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    gate = trio.Event()

    async def first() -> str:
        await gate.wait()
        return var.get()

    async def second() -> str:
        return var.get()

    def sync_third() -> str:
        return var.get()

    runner = ConcurrentTaskRunner(max_workers=1)
    async with runner.start():
        var.set("first")
        await runner.submit("first", first)  # takes the only slot at once
        var.set("second")
        await runner.submit("second", second)  # queued: admitted by the dispatcher later
        var.set("third")
        await runner.submit("third", sync_third)  # queued, and runs in a worker thread
        var.set("submitter")
        await trio.testing.wait_all_tasks_blocked()
        assert runner.state("second") is None
        gate.set()
    assert [runner.state(k).result() for k in ("first", "second", "third")] == [  # type: ignore[union-attr]
        "first",
        "second",
        "third",
    ]
