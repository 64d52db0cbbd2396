"""A kit that cannot fail is worthless: each deliberately broken runner here is caught.

Each broken runner is one of ours with one hook overridden. Each test runs the conformance
property that should notice and asserts the kit reports that property: found by a landmark
the property plays first, or by a schedule Hypothesis drew and shrank. Where the property has
landmarks, a second test checks that they alone catch the bug (in every run).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import math
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from broken_runners import Caught, check_caught, kit

from trio_runners import (
    Cancelled,
    Completed,
    ConcurrentTaskRunner,
    SequentialTaskRunner,
    State,
    ThreadPoolTaskRunner,
)
from trio_runners._calls import current_call
from trio_runners._execution import execute
from trio_runners.testing._landmarks import none as no_landmarks
from trio_runners.testing._properties import PROPERTIES
from trio_runners.testing._scenario_tests import SCENARIOS
from trio_runners.testing._scenarios import play_nested
from trio_runners.testing.strategies import NestedCall, NestedSpec

# ---------------------------------------------------------------------- the broken runners


class SwallowsCancelled(SequentialTaskRunner):  # type: ignore[misc]
    """Turns the trio.Cancelled that ends a call into a Cancelled State and returns normally."""

    async def _invoke(self, call: Callable[[], Any]) -> Any:
        try:
            return await super()._invoke(call)
        except trio.Cancelled:
            return Cancelled("swallowed")


class _Lifo:
    """Admits the most recently submitted queued call first: its own admission instead of the
    runner's FIFO slots, one admitting task per call, each taking a slot and then starting the
    newest queued call."""

    _nursery: trio.Nursery | None
    max_workers: int | None

    async def _submit(self, record: Any) -> None:
        run = self._nursery
        assert run is not None
        if getattr(self, "_lifo_run", None) is not run:  # a new run
            self._lifo_run = run
            self._lifo_stack: list[Any] = []
            self._lifo_slots = trio.Semaphore(self._worker_limit())  # type: ignore[attr-defined]
        self._lifo_stack.append(record)
        run.start_soon(self._admit_newest)
        await trio.lowlevel.checkpoint()

    async def _admit_newest(self) -> None:
        async with self._lifo_slots:
            # Newest first; like the dispatcher it replaces, it reports no `admitted` event.
            record = self._lifo_stack.pop()
            await execute(self._table, record, self._invoke, True)  # type: ignore[attr-defined]


class LifoAdmission(_Lifo, ConcurrentTaskRunner):  # type: ignore[misc]
    """ConcurrentTaskRunner admitting the newest queued call first."""


class LifoThreadPool(_Lifo, ThreadPoolTaskRunner):  # type: ignore[misc]
    """ThreadPoolTaskRunner admitting the newest queued call first."""


class OneWorkerTooMany(ConcurrentTaskRunner):  # type: ignore[misc]
    """max_workers off by one: the run has an extra slot."""

    def _worker_limit(self) -> int | None:
        limit = super()._worker_limit()
        return None if limit is None else limit + 1


class TimeoutCancelsTheCall(ConcurrentTaskRunner):  # type: ignore[misc]
    """A wait that times out cancels the call it was waiting for."""

    async def wait(self, key: Hashable, timeout: float | None = None) -> State[Any] | None:
        state = await super().wait(key, timeout)
        if state is None:
            self.cancel(key)
        return state


class RetriesFailures(ConcurrentTaskRunner):  # type: ignore[misc]
    """Runs a call a second time when it fails: a call runs twice on that path."""

    async def _invoke(self, call: Callable[[], Any]) -> Any:
        try:
            return await super()._invoke(call)
        except Exception:
            return await super()._invoke(call)


class ReleaseForgetsNothing(ConcurrentTaskRunner):  # type: ignore[misc]
    """release() checks its argument but keeps the State: memory grows without bound."""

    def release(self, key: Hashable) -> None:
        if self.state(key) is None:
            raise RuntimeError(f"call {key!r} has not finished")


# One broken runner per hole of issue 12, each the old behaviour brought back.


class PendingRoomKeptByCancelledCalls(ConcurrentTaskRunner):  # type: ignore[misc]
    """Hole 1: backpressure is the FIFO channel's buffer, so a cancelled queued call keeps its
    place until the dispatcher reaches it."""

    @asynccontextmanager
    async def _backend(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        assert self.max_workers is not None and self.max_pending is not None
        send, receive = trio.open_memory_channel[Any](self.max_pending - 1)
        slots = trio.Semaphore(self.max_workers)

        async def run(record: Any) -> None:
            try:
                await self._execute(record)
            finally:
                slots.release()

        async def dispatch() -> None:
            async with receive:
                async for record in receive:
                    if record.state is not None:
                        continue
                    await slots.acquire()
                    if record.state is not None:
                        slots.release()
                        continue
                    nursery.start_soon(run, record)

        self._buffer = send
        nursery.start_soon(dispatch)
        try:
            yield
        finally:
            send.close()

    async def _submit(self, record: Any) -> None:
        await self._buffer.send(record)


class StrayCancelledCancelsTheRun(ConcurrentTaskRunner):  # type: ignore[misc]
    """Hole 2: a trio.Cancelled that no scope caused is taken for the run's cancellation."""

    async def _invoke(self, call: Callable[[], Any]) -> Any:
        try:
            return await super()._invoke(call)
        except trio.Cancelled:
            if trio.current_effective_deadline() != -math.inf:  # no scope is cancelled
                assert self._nursery is not None
                self._nursery.cancel_scope.cancel()
            raise


class SharesTheGlobalThreadLimiter(ConcurrentTaskRunner):  # type: ignore[misc]
    """Hole 4: sync calls take tokens of Trio's global default thread limiter."""

    def _make_thread_limiter(self) -> trio.CapacityLimiter:
        return trio.to_thread.current_default_thread_limiter()


class AcceptsAsyncGenerators(ConcurrentTaskRunner):  # type: ignore[misc]
    """Hole 6: an async generator function is accepted (and run as a sync call whose result is
    an unstarted async generator)."""

    async def submit(self, key: Hashable, call: Callable[[], Any]) -> None:
        if inspect.isasyncgenfunction(call):
            agen_function = call
            call = lambda: agen_function()  # noqa: E731
        await super().submit(key, call)


class WaiterLeaksWhenCancelled(ConcurrentTaskRunner):  # type: ignore[misc]
    """A waiter cancelled by its own scope stays counted in statistics().waiters."""

    async def wait(self, key: Hashable, timeout: float | None = None) -> State[Any] | None:
        try:
            return await super().wait(key, timeout)
        except trio.Cancelled:
            self._table.waiters += 1
            raise


class _CountsBeforeReceiving:
    """An as_completed step that counts its item before receiving it: a step cancelled while
    it waits loses one item (the iteration ends one item early)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __aiter__(self) -> _CountsBeforeReceiving:
        return self

    async def __anext__(self) -> Any:
        inner = self._inner
        if inner._remaining == 0:
            await trio.lowlevel.checkpoint()
            raise StopAsyncIteration
        inner._remaining -= 1
        async with inner._lent():
            return await inner._receive.receive()

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _CountsBeforeReceiving:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class AsCompletedLosesCancelledSteps(ConcurrentTaskRunner):  # type: ignore[misc]
    def as_completed(self, keys: Iterable[Hashable]) -> Any:
        return _CountsBeforeReceiving(super().as_completed(keys))


class StartsCallsInTheRunsContext(ConcurrentTaskRunner):  # type: ignore[misc]
    """Every call's task starts in a copy of the context ``start()`` was entered in, as a
    dispatcher task of the run would start it (this runner's own queued calls did, once), not
    in a copy of its submitter's."""

    @asynccontextmanager
    async def _backend(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        self._run_context = contextvars.copy_context()
        async with super()._backend(nursery):
            yield

    async def _submit(self, record: Any) -> None:
        assert self._nursery is not None
        self._run_context.run(self._nursery.start_soon, self._execute, record)
        await trio.lowlevel.checkpoint()


class WaitsForCancelledThreads(ConcurrentTaskRunner):  # type: ignore[misc]
    """A cancelled sync call's thread is waited for instead of abandoned (`trio.to_thread`'s
    ``abandon_on_cancel=False``): a call blocked for good keeps the run from ever ending."""

    def _invoke(self, call: Callable[[], Any]) -> Any:
        if inspect.iscoroutinefunction(call):
            return super()._invoke(call)
        return trio.to_thread.run_sync(call, limiter=self._thread_limiter)


class WrapsReturnedStates(ConcurrentTaskRunner):  # type: ignore[misc]
    """A call that returns a State ends Completed with that State as its value."""

    def _invoke(self, call: Callable[[], Any]) -> Any:
        async def wrapped() -> Any:
            result = await super(WrapsReturnedStates, self)._invoke(call)
            return Completed(result) if isinstance(result, State) else result

        return wrapped()


class KeepsItsSlotWhileWaiting(ConcurrentTaskRunner):  # type: ignore[misc]
    """A call waiting on its own runner keeps its worker slot, and takes one more (shielded,
    as a lending call takes its slot back) when the wait ends: with one worker, a nested wait
    deadlocks where no cancellation reaches."""

    def _slot_lent(self) -> Any:
        slots = self._slots
        assert slots is not None

        @asynccontextmanager
        async def kept() -> AsyncIterator[None]:
            try:
                yield
            finally:
                with trio.CancelScope(shield=True):
                    await slots._slots.acquire()

        return kept()


class GivesUpTakingItsSlotBack(ConcurrentTaskRunner):  # type: ignore[misc]
    """A call waiting on its own runner lends its slot, and takes one back unshielded: cancelled
    while it waits for one, it ends without a slot, yet gives one back (the count grows)."""

    def _slot_lent(self) -> Any:
        slots, current = self._slots, current_call.get()
        if slots is None or current is None or current[0] is not self:
            return super()._slot_lent()

        @asynccontextmanager
        async def lent() -> AsyncIterator[None]:
            slots._slots.release()
            try:
                yield
            finally:
                await slots._slots.acquire()

        return lent()


class RunsCallsInTheSubmittersOwnContext(SequentialTaskRunner):  # type: ignore[misc]
    """Runs each call inside ``submit`` in the submitter's own context, not a copy of it:
    what the call sets leaks into its submitter."""

    async def _submit(self, record: Any) -> None:
        async with self._lock:
            await self._execute(record)


# ---------------------------------------------------------------------- the tests


def _two_workers(runner_class: type[Any], **options: Any) -> Callable[[], Any]:
    return functools.partial(runner_class, max_workers=2, **options)


CAUGHT: dict[str, Caught] = {
    "a_runner_that_swallows_cancelled": Caught(
        SwallowsCancelled,
        "test_cancellation_ends_each_call_once_and_propagates",
        "cancellation",
        "trio.Cancelled was swallowed",
        {"sequential": True},
    ),
    "lifo_admission": Caught(
        _two_workers(LifoAdmission),
        "test_max_workers_admission_is_fifo",
        "max_workers=2 FIFO admission",
        "submitted earlier",
        {"max_workers": 2},
    ),
    "max_workers_off_by_one": Caught(
        _two_workers(OneWorkerTooMany),
        "test_max_workers_is_never_exceeded",
        "max_workers=2 bound",
        "max_workers=2",
        {"max_workers": 2},
    ),
    "a_wait_timeout_that_cancels_the_call": Caught(
        TimeoutCancelsTheCall,
        "test_wait_returns_the_state_iff_finished_within_timeout",
        "wait semantics",
        "nothing cancelled it",
    ),
    "a_call_that_runs_twice": Caught(
        RetriesFailures, "test_each_call_runs_exactly_once", "exactly once", "ran 2 times"
    ),
    "a_release_that_keeps_the_state": Caught(
        ReleaseForgetsNothing, "test_release_keeps_memory_bounded", "bounded memory", "release"
    ),
    "lifo_admission_of_the_thread_pool": Caught(
        _two_workers(LifoThreadPool),
        "test_admission_is_fifo_across_submitters",
        "FIFO admission across submitters",
        "admission must be FIFO",
        {"max_workers": 2, "call_kind": "sync", "time_unit": 0.0005},
    ),
    "pending_room_kept_by_cancelled_calls": Caught(
        functools.partial(PendingRoomKeptByCancelledCalls, max_workers=1, max_pending=2),
        "test_max_pending_backpressure",
        "max_pending=2 backpressure",
        "is blocked",
        {"max_workers": 1, "max_pending": 2},
    ),
    "a_stray_cancelled_that_cancels_the_run": Caught(
        StrayCancelledCancelsTheRun,
        "test_calls_raising_base_exceptions",
        "calls raising BaseException",
        "Cancelled",
    ),
    "sync_calls_on_the_global_thread_limiter": Caught(
        SharesTheGlobalThreadLimiter,
        "test_abandoned_sync_calls_do_not_starve_threads",
        "abandoned sync calls",
        "default thread limiter",
    ),
    # Caught at the deadlock guard (10 s), where the scenario lets the blocked threads return
    # so that the run can end: no shrinking, one failing example is enough.
    "a_runner_waiting_for_its_cancelled_threads": Caught(
        WaitsForCancelledThreads,
        "test_abandoned_sync_calls_do_not_starve_threads",
        "abandoned sync calls",
        "did not exit within",
        shrink=False,
    ),
    "an_accepted_async_generator_function": Caught(
        AcceptsAsyncGenerators,
        "test_async_generator_functions_are_refused",
        "async generator functions refused",
        "accepted an async generator function",
    ),
    "a_waiter_leaking_the_waiters_count": Caught(
        WaiterLeaksWhenCancelled,
        "test_waiters_and_as_completed_survive_their_own_cancellation",
        "waiters and as_completed",
        "statistics().waiters",
    ),
    "an_as_completed_step_losing_its_item": Caught(
        AsCompletedLosesCancelledSteps,
        "test_waiters_and_as_completed_survive_their_own_cancellation",
        "waiters and as_completed",
        "must lose no item",
    ),
    "calls_started_in_the_runs_context": Caught(
        StartsCallsInTheRunsContext,
        "test_calls_run_in_a_copy_of_their_submitters_context",
        "a call's context",
        "not a copy of its submitter's context",
    ),
    "calls_run_in_their_submitters_own_context": Caught(
        RunsCallsInTheSubmittersOwnContext,
        "test_calls_run_in_a_copy_of_their_submitters_context",
        "a call's context",
        "ran in its submitter's own context",
        {"sequential": True},
    ),
    "a_call_giving_up_taking_its_slot_back": Caught(
        functools.partial(GivesUpTakingItsSlotBack, max_workers=1),
        "test_a_call_cancelled_while_taking_its_slot_back_keeps_the_bound",
        "a lent slot taken back",
        "gave back a slot it did not hold",
        {"max_workers": 1},
    ),
    "a_sequential_runner_running_calls_at_once": Caught(
        ConcurrentTaskRunner,
        "test_sequential_ordering",
        "sequential ordering",
        "before call",
        {"sequential": True},
    ),
    "a_runner_wrapping_returned_states": Caught(
        WrapsReturnedStates,
        "test_a_call_returning_a_state_ends_with_it",
        "returned States",
        "not the State it returned",
    ),
}


@pytest.mark.parametrize("bug", CAUGHT.values(), ids=list(CAUGHT))
def test_kit_catches(bug: Caught) -> None:
    check_caught(bug)


#: The rows whose property or scenario plays landmarks (explicit examples) first: those alone
#: must catch the bug, in every run (a drawn example finds it only with some probability).
LANDMARKED = [
    name
    for name, bug in CAUGHT.items()
    if bug.test in PROPERTIES
    or (bug.test in SCENARIOS and SCENARIOS[bug.test].examples is not no_landmarks)
]


@pytest.mark.parametrize("name", LANDMARKED)
def test_the_landmarks_alone_catch(name: str) -> None:
    check_caught(CAUGHT[name], landmarks_only=True)  # fails if there is no landmark to play


def test_every_timed_property_has_a_broken_runner_its_landmarks_catch() -> None:
    caught = {CAUGHT[name].test for name in LANDMARKED}
    assert caught >= set(PROPERTIES), set(PROPERTIES) - caught


@pytest.mark.parametrize(
    ("runner_class", "workers"),
    [(LifoAdmission, 2), (OneWorkerTooMany, 1)],
    ids=["lifo_admission", "max_workers_off_by_one"],
)
def test_state_machine_catches(runner_class: type[Any], workers: int) -> None:
    check = kit(
        functools.partial(runner_class, max_workers=workers), shrink=False, max_workers=workers
    )
    with pytest.raises(AssertionError, match="started at"):
        check.test_state_machine_agrees_with_reference_model()


def test_the_nested_scenario_reports_a_deadlock_no_cancellation_reaches() -> None:
    """The deadlock guard cannot end this run (the wait it is stuck in is shielded): the
    scenario reports it once the run has not ended in time, instead of hanging the kit. Played
    once, directly: each example takes the whole watch (20 s)."""
    check = kit(functools.partial(KeepsItsSlotWhileWaiting, max_workers=1), max_workers=1)
    root = NestedCall(
        sync=False, collect="wait", children=(NestedCall(sync=False, collect="none"),)
    )
    violations = play_nested(check, NestedSpec(roots=(root,)))
    assert len(violations) == 1
    assert "a deadlock in a shielded wait" in violations[0]
