"""A kit that cannot fail is worthless: each deliberately broken runner here is caught.

Each broken runner is one of ours with one hook overridden. Each test runs the conformance
property that should notice and asserts the kit reports that property (after Hypothesis has
found and shrunk a failing schedule).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Hashable
from typing import Any

import pytest
import trio
from hypothesis import Phase, settings

from trio_runners import Cancelled, ConcurrentTaskRunner, SequentialTaskRunner, State
from trio_runners.testing import ConformanceError, RunnerConformance

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup


# ---------------------------------------------------------------------- the broken runners


class SwallowsCancelled(SequentialTaskRunner):  # type: ignore[misc]
    """Turns the trio.Cancelled that ends a call into a Cancelled State and returns normally."""

    async def _invoke(self, call: Callable[[], Any]) -> Any:
        try:
            return await super()._invoke(call)
        except trio.Cancelled:
            return Cancelled("swallowed")


class LifoAdmission(ConcurrentTaskRunner):  # type: ignore[misc]
    """Admits the most recently submitted queued call first: its own admission instead of the
    runner's FIFO slots, one admitting task per call, each taking a slot and then starting the
    newest queued call."""

    async def _submit(self, record: Any) -> None:
        run = self._nursery
        assert run is not None
        if getattr(self, "_lifo_run", None) is not run:  # a new run
            self._lifo_run = run
            self._lifo_stack: list[Any] = []
            self._lifo_slots = trio.Semaphore(self.max_workers)
        self._lifo_stack.append(record)
        run.start_soon(self._admit_newest)
        await trio.lowlevel.checkpoint()

    async def _admit_newest(self) -> None:
        async with self._lifo_slots:
            # Newest first; like the dispatcher it replaces, it reports no `admitted` event.
            await self._execute_admitted(self._lifo_stack.pop())


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


# ---------------------------------------------------------------------- helpers

# Every broken runner is found within the ci profile's 200 examples (whatever the profile).
FAST = settings(max_examples=200, report_multiple_bugs=False)
# Shrinking a state machine's steps takes most of a minute and is not what these tests are
# about: they only need the machine to fail.
NO_SHRINK = settings(FAST, phases=[Phase.explicit, Phase.reuse, Phase.generate])


def kit(
    factory: Callable[[], Any], *, shrink: bool = True, **capabilities: Any
) -> RunnerConformance:
    cls = type(
        "Check",
        (RunnerConformance,),
        {
            "runner_factory": staticmethod(factory),
            "hypothesis_settings": FAST if shrink else NO_SHRINK,
            **capabilities,
        },
    )
    return cls()  # type: ignore[no-any-return]


def assert_reported(test: Callable[[], None], prop: str, detail: str) -> None:
    """``test`` fails with a ConformanceError for ``prop`` whose violations mention ``detail``."""
    with pytest.raises((AssertionError, BaseExceptionGroup)) as info:
        test()
    errors: list[BaseException] = [info.value]
    leaves = []
    while errors:
        error = errors.pop()
        if isinstance(error, BaseExceptionGroup):
            errors.extend(error.exceptions)
        else:
            leaves.append(error)
    found = [e for e in leaves if isinstance(e, ConformanceError) and e.prop == prop]
    assert found, f"expected the kit to report {prop!r}, got {leaves!r}"
    assert any(detail in v for e in found for v in e.violations), found[0].violations


# ---------------------------------------------------------------------- the tests


def test_kit_catches_a_runner_that_swallows_cancelled() -> None:
    check = kit(SwallowsCancelled, sequential=True)
    assert_reported(
        check.test_cancellation_ends_each_call_once_and_propagates,
        "cancellation",
        "trio.Cancelled was swallowed",
    )


def test_kit_catches_lifo_admission() -> None:
    check = kit(functools.partial(LifoAdmission, max_workers=2), max_workers=2)
    assert_reported(
        check.test_max_workers_admission_is_fifo,
        "max_workers=2 FIFO admission",
        "submitted earlier",
    )


def test_kit_catches_max_workers_off_by_one() -> None:
    check = kit(functools.partial(OneWorkerTooMany, max_workers=2), max_workers=2)
    assert_reported(
        check.test_max_workers_is_never_exceeded, "max_workers=2 bound", "max_workers=2"
    )


def test_kit_catches_a_wait_timeout_that_cancels_the_call() -> None:
    check = kit(TimeoutCancelsTheCall)
    assert_reported(
        check.test_wait_returns_the_state_iff_finished_within_timeout,
        "wait semantics",
        "nothing cancelled it",
    )


def test_kit_catches_a_call_that_runs_twice() -> None:
    check = kit(RetriesFailures)
    assert_reported(check.test_each_call_runs_exactly_once, "exactly once", "ran 2 times")


def test_kit_catches_a_release_that_keeps_the_state() -> None:
    check = kit(ReleaseForgetsNothing)
    assert_reported(check.test_release_keeps_memory_bounded, "bounded memory", "release")


def test_state_machine_catches_lifo_admission() -> None:
    check = kit(functools.partial(LifoAdmission, max_workers=2), shrink=False, max_workers=2)
    with pytest.raises(AssertionError, match="started at"):
        check.test_state_machine_agrees_with_reference_model()


def test_state_machine_catches_max_workers_off_by_one() -> None:
    check = kit(functools.partial(OneWorkerTooMany, max_workers=1), shrink=False, max_workers=1)
    with pytest.raises(AssertionError, match="started at"):
        check.test_state_machine_agrees_with_reference_model()
