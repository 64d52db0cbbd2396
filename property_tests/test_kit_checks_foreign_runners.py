"""The kit checks a runner it did not write: a duck-typed runner with only the core.

`DictRunner` is written here, as a stranger would write one: no base class of ours, only
``start`` / ``submit`` / ``wait`` (the `CoreRunner` protocol), calls kept in a dict of Trio
tasks. Correct, it passes every property that applies and each other property is skipped
naming the capability it lacks. With one bug planted at a time (the three kinds the kit found
in Prefect 2's runners: ``wait`` raising for a running call, ``submit`` swallowing an
enclosing cancellation, ``start()`` swallowing it), the kit reports a `ConformanceError` of
the matching kind, with a shrunk schedule; the property's landmarks alone report it too. It has
none of the flow-layer hooks (capability ``flow_hooks``): those properties are skipped naming
it, or fail if it claims them.
"""

from __future__ import annotations

import math
import sys
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from broken_runners import DRAWN_AND_LANDMARKS, FAST, assert_reported, kit

from trio_runners.states import Cancelled, Completed, Crashed, Failed, State
from trio_runners.testing import (
    CancellationSwallowed,
    ConformanceError,
    CoreRunner,
    RunnerConformance,
    RunnerRaised,
)

if sys.version_info < (3, 11):
    pass


class DictRunner:
    """Runs each call in a task of its own nursery (``inline``: inside ``submit``)."""

    def __init__(self, *, inline: bool = False, bug: str | None = None) -> None:
        self.inline = inline
        self.bug = bug
        self._nursery: trio.Nursery | None = None
        self._done: dict[Hashable, trio.Event] = {}
        self._states: dict[Hashable, State[Any]] = {}

    @asynccontextmanager
    async def start(self) -> AsyncIterator[DictRunner]:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                yield self
            finally:
                self._nursery = None

    async def submit(self, key: Hashable, call: Callable[[], Any]) -> None:
        await trio.lowlevel.checkpoint()
        if self._nursery is None:
            raise RuntimeError("the runner has exited")
        self._done[key] = trio.Event()
        if self.inline:
            await self._run(key, call)
        else:
            self._nursery.start_soon(self._run, key, call)

    async def _run(self, key: Hashable, call: Callable[[], Any]) -> None:
        try:
            result = await call()
            # A call that returns a State ends with it (Prefect's convention).
            state: State[Any] = result if isinstance(result, State) else Completed(result)
        except Exception as exc:
            state = Failed(exc)
        except trio.Cancelled as exc:
            if trio.current_effective_deadline() != -math.inf:  # stray: no scope cancelled
                state = Crashed(exc)
            else:
                self._finish(key, Cancelled())
                if self.bug == "swallow":
                    return
                raise
        except BaseException as exc:  # a BaseException of the call's own: the run goes on
            state = Crashed(exc)
        self._finish(key, state)

    def _finish(self, key: Hashable, state: State[Any]) -> None:
        self._states[key] = state
        self._done[key].set()

    async def wait(self, key: Hashable, timeout: float | None = None) -> State[Any] | None:
        if self.bug == "wait_raises" and key not in self._states:
            raise KeyError(key)
        done = self._done[key]
        with trio.move_on_after(math.inf if timeout is None else timeout):
            await done.wait()
        return self._states.get(key)


def _typed(factory: Callable[[], DictRunner]) -> Callable[[], CoreRunner]:
    """The protocol is structural: a duck-typed runner needs no cast nor ``type: ignore``."""
    return factory


CORE_ONLY: dict[str, Any] = {
    "supports_cancel": False,
    "supports_cancel_all": False,
    "supports_state": False,
    "supports_release": False,
    "supports_statistics": False,
    "supports_as_completed": False,
    "supports_instruments": False,
}


class TestDictRunner(RunnerConformance):
    runner_factory = staticmethod(_typed(DictRunner))
    locals().update(CORE_ONLY)


class TestInlineDictRunner(RunnerConformance):
    runner_factory = staticmethod(_typed(lambda: DictRunner(inline=True)))
    sequential = True
    locals().update(CORE_ONLY)


def test_a_core_only_runner_gets_the_core_properties() -> None:
    for name in (
        "test_each_call_runs_exactly_once",
        "test_wait_returns_the_state_iff_finished_within_timeout",
        "test_cancellation_ends_each_call_once_and_propagates",
    ):
        assert getattr(TestDictRunner, name).__name__ == name
        assert hasattr(getattr(TestDictRunner, name), "hypothesis"), name  # a @given test
    assert hasattr(TestInlineDictRunner.test_sequential_ordering, "hypothesis")


@pytest.mark.parametrize(
    ("test_name", "capabilities"),
    [
        ("test_release_keeps_memory_bounded", ["'release'", "'statistics'", "'state'"]),
        ("test_max_workers_is_never_exceeded", ["'max_workers'"]),
        ("test_sequential_ordering", ["'sequential'"]),
        ("test_state_machine_agrees_with_reference_model", ["'cancel'", "'as_completed'"]),
        ("test_waiters_and_as_completed_survive_their_own_cancellation", ["'as_completed'"]),
    ],
)
def test_a_missing_capability_is_a_skip_that_names_it(
    test_name: str, capabilities: list[str]
) -> None:
    with pytest.raises(pytest.skip.Exception) as info:
        getattr(TestDictRunner(), test_name)()
    message = str(info.value)
    assert message.startswith("needs capability"), message
    for capability in capabilities:
        assert capability in message, message


def _check(*, bug: str, inline: bool = False, landmarks_only: bool = False) -> RunnerConformance:
    return kit(
        lambda: DictRunner(inline=inline, bug=bug),
        landmarks_only=landmarks_only,
        sequential=inline,
        **CORE_ONLY,
    )


#: The three kinds of bug the kit found in Prefect 2's runners, planted one at a time:
#: (bug, inline, the kit's test, the kind of error, what a violation says).
PLANTED = {
    "wait_raising_for_a_running_call": (
        "wait_raises",
        False,
        "test_wait_returns_the_state_iff_finished_within_timeout",
        RunnerRaised,
        "raised KeyError",
    ),
    "submit_swallowing_an_enclosing_cancellation": (
        "swallow",
        True,
        "test_cancellation_ends_each_call_once_and_propagates",
        CancellationSwallowed,
        "submit() of call",
    ),
    "start_swallowing_an_enclosing_cancellation": (
        "swallow",
        False,
        "test_cancellation_ends_each_call_once_and_propagates",
        CancellationSwallowed,
        "does not report cancelled_caught",
    ),
}


@DRAWN_AND_LANDMARKS
@pytest.mark.parametrize("planted", list(PLANTED))
def test_kit_reports(planted: str, landmarks_only: bool) -> None:
    """Found in every run: by the property's landmarks alone, and with its drawn schedules."""
    bug, inline, test, kind, detail = PLANTED[planted]
    check = _check(bug=bug, inline=inline, landmarks_only=landmarks_only)
    assert_reported(getattr(check, test), None, detail, kind)


FLOW_HOOK_TESTS = [
    "test_run_in_slot_runs_a_loop_calls_work",
    "test_nested_loop_calls_lend_their_slot",
    "test_lend_slot_outside_a_call_lends_nothing",
    "test_has_backpressure_says_whether_submit_may_wait",
]


def _flow_hooks_check(**flags: Any) -> RunnerConformance:
    """A new kit class each time: Hypothesis wants one executor per ``@given`` test."""
    cls = type(
        "Check",
        (RunnerConformance,),
        {
            "runner_factory": staticmethod(DictRunner),
            "hypothesis_settings": FAST,
            **CORE_ONLY,
            **flags,
        },
    )
    check: RunnerConformance = cls()
    return check


@pytest.mark.parametrize("test_name", FLOW_HOOK_TESTS)
def test_flow_hooks_missing_on_the_runner_are_skipped_naming_the_capability(
    test_name: str,
) -> None:
    # supports_flow_hooks = None (the default): found out on the runner when the test runs.
    with pytest.raises(pytest.skip.Exception) as info:
        getattr(_flow_hooks_check(), test_name)()
    message = str(info.value)
    assert message.startswith("needs capability 'flow_hooks' (supports_flow_hooks = None"), message
    assert "run_in_slot, lend_slot, has_backpressure" in message, message


@pytest.mark.parametrize("test_name", FLOW_HOOK_TESTS)
def test_flow_hooks_declared_false_are_skipped_naming_the_capability(test_name: str) -> None:
    with pytest.raises(
        pytest.skip.Exception,
        match=r"needs capability 'flow_hooks' \(supports_flow_hooks = False\)",
    ):
        getattr(_flow_hooks_check(supports_flow_hooks=False), test_name)()


@pytest.mark.parametrize("test_name", FLOW_HOOK_TESTS)
def test_flow_hooks_declared_but_missing_are_a_conformance_error(test_name: str) -> None:
    assert_reported(
        getattr(_flow_hooks_check(supports_flow_hooks=True), test_name),
        None,
        "supports_flow_hooks = True, but the runner has no run_in_slot, lend_slot",
        ConformanceError,
    )
