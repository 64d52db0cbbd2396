"""The flow-hook properties (capability ``flow_hooks``) catch runners that break the hooks.

Each broken runner breaks one promise of docs/contract.md ("What a call may ask of its
runner"): a ``lend_slot`` that does not lend (a nested wait with one worker deadlocks: the
kit's deadlock guard turns it into a `ConformanceError`, on a MockClock at once), a
``run_in_slot`` that is not a checkpoint, one that swallows the work's exception or its
cancellation, a
``has_backpressure`` that lies, and a ``lend_slot`` that lends a slot its caller does not
hold. Each test runs the property that should notice and asserts the kit reports it.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import Any

import pytest
import trio
from broken_runners import Caught, check_caught, kit

from trio_runners import ConcurrentTaskRunner, State, TaskConcurrencyType
from trio_runners._base import current_call, is_async_callable
from trio_runners.abc import BaseTaskRunner

# ---------------------------------------------------------------------- the broken runners


class DoesNotLend(ConcurrentTaskRunner):  # type: ignore[misc]
    """``lend_slot`` lends nothing (and ``wait``, which enters it, lends nothing either)."""

    def lend_slot(self) -> AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()


class OnlyWaitLends(DoesNotLend):
    """``wait`` lends the slot (on its own), ``lend_slot`` does not: a call that waits for its
    children by other means (an event, a retry's sleep) inside ``lend_slot()`` deadlocks."""

    async def wait(self, key: Hashable, timeout: float | None = None) -> State[Any] | None:
        async with self._slot_lent():
            return await super().wait(key, timeout)


class RunInSlotWithoutCheckpoint(ConcurrentTaskRunner):  # type: ignore[misc]
    """Async work is awaited directly: work that never checkpoints makes no checkpoint."""

    async def run_in_slot(self, call: Callable[[], Any]) -> Any:
        if not is_async_callable(call) or current_call.get() is None:
            return await super().run_in_slot(call)  # refuses calls from outside, as it should
        return await call()


class RunInSlotSwallowsErrors(ConcurrentTaskRunner):  # type: ignore[misc]
    """The work's exception is swallowed: ``run_in_slot`` returns None instead."""

    async def run_in_slot(self, call: Callable[[], Any]) -> Any:
        try:
            return await super().run_in_slot(call)
        except Exception:
            if current_call.get() is None:
                raise  # the refusal from outside its calls is kept
            return None


class RunInSlotSwallowsCancelled(ConcurrentTaskRunner):  # type: ignore[misc]
    """Work cancelled while it runs returns None instead of letting ``trio.Cancelled``
    through (it does checkpoint first: a scope cancelled before is honoured)."""

    async def run_in_slot(self, call: Callable[[], Any]) -> Any:
        await trio.lowlevel.checkpoint()
        try:
            return await super().run_in_slot(call)
        except trio.Cancelled:
            return None


class BackpressureDenied(ConcurrentTaskRunner):  # type: ignore[misc]
    """``has_backpressure`` says False although ``max_pending`` makes ``submit`` wait."""

    @property
    def has_backpressure(self) -> bool:
        return False


_in_call_of: ContextVar[BaseTaskRunner | None] = ContextVar("_in_call_of", default=None)


class LendsOutsideItsCalls(BaseTaskRunner):
    """A runner on the public ABC with one worker slot of its own (as a third party writes
    one), whose ``lend_slot`` gives the slot back even when its caller holds none: from
    outside its calls it lets a second call run."""

    def __init__(self) -> None:
        super().__init__()
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
        if worker is None:
            yield
            return
        worker.release()  # the bug: without checking that the caller is one of its calls
        try:
            yield
        finally:
            with trio.CancelScope(shield=True):
                await worker.acquire()


class LendsOnlyInsideItsCalls(LendsOutsideItsCalls):
    """The same runner, fixed: it lends only from inside its own calls."""

    @asynccontextmanager
    async def _lent(self) -> AsyncIterator[None]:
        if _in_call_of.get() is not self:
            yield
            return
        async with super()._lent():
            yield


# ---------------------------------------------------------------------- the tests


CAUGHT: dict[str, Caught] = {
    "a_lend_slot_that_does_not_lend": Caught(
        functools.partial(DoesNotLend, max_workers=1),
        "test_nested_loop_calls_lend_their_slot",
        "nested LoopCalls lend their slot",
        "a deadlock",
        {"max_workers": 1},
    ),
    "a_lend_slot_that_does_not_lend_even_if_wait_does": Caught(
        functools.partial(OnlyWaitLends, max_workers=1),
        "test_nested_loop_calls_lend_their_slot",
        "nested LoopCalls lend their slot",
        "a deadlock",
        {"max_workers": 1},
    ),
    "a_run_in_slot_that_is_not_a_checkpoint": Caught(
        RunInSlotWithoutCheckpoint,
        "test_run_in_slot_runs_a_loop_calls_work",
        "run_in_slot",
        "run_in_slot() must be a checkpoint",
    ),
    "a_run_in_slot_that_swallows_the_works_exception": Caught(
        RunInSlotSwallowsErrors,
        "test_run_in_slot_runs_a_loop_calls_work",
        "run_in_slot",
        "the work raised",
    ),
    "a_run_in_slot_that_swallows_the_cancellation_of_its_work": Caught(
        RunInSlotSwallowsCancelled,
        "test_run_in_slot_runs_a_loop_calls_work",
        "run_in_slot",
        "its scope was cancelled while the work ran",
    ),
    # The kit is not told about max_pending: the lie is caught by what submit does.
    "a_has_backpressure_that_hides_max_pending": Caught(
        functools.partial(BackpressureDenied, max_workers=1, max_pending=1),
        "test_has_backpressure_says_whether_submit_may_wait",
        "has_backpressure",
        "submit() waited for room",
        {"max_workers": 1},
    ),
    "a_has_backpressure_that_contradicts_the_declared_max_pending": Caught(
        functools.partial(BackpressureDenied, max_workers=2, max_pending=3),
        "test_has_backpressure_says_whether_submit_may_wait",
        "has_backpressure",
        "max_pending=3 (submit waits for room), but has_backpressure is False",
        {"max_workers": 2, "max_pending": 3},
    ),
    "a_lend_slot_that_lends_outside_the_runners_calls": Caught(
        LendsOutsideItsCalls,
        "test_lend_slot_outside_a_call_lends_nothing",
        "lend_slot outside a call",
        "lent a slot",
        {"max_workers": 1},
    ),
}


@pytest.mark.parametrize("bug", CAUGHT.values(), ids=list(CAUGHT))
def test_kit_catches(bug: Caught) -> None:
    check_caught(bug)


def test_the_same_runner_lending_only_inside_its_calls_passes() -> None:
    """The control: fixed, the runner of the previous test passes the flow-hook properties."""
    check = kit(LendsOnlyInsideItsCalls, max_workers=1)
    check.test_lend_slot_outside_a_call_lends_nothing()
    check.test_nested_loop_calls_lend_their_slot()
    check.test_run_in_slot_runs_a_loop_calls_work()
    check.test_has_backpressure_says_whether_submit_may_wait()
