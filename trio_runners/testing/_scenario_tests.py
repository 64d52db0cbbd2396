"""The scenario properties and the stateful test, made into tests for a kit subclass.

`SCENARIOS` maps a test name to a `Scenario` (a spec strategy and a function of
`_scenarios` / `_scenarios_calls` that plays it); `make_scenario_test` and `make_machine_test`
turn them into the tests a `RunnerConformance` subclass gets, or into skips that name the
missing capability. Every scenario runs its own ``trio.run``: each needs capability ``trio``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from . import (
    _landmarks,
    _scenarios,
    _scenarios_calls,
    _scenarios_context,
    _scenarios_lending,
    _scenarios_returned,
)
from . import strategies as _st
from ._errors import ConformanceError
from ._machine import run_machine
from ._settings import (
    KitSettings,
    always,
    in_process,
    is_exact,
    needs_exact,
    needs_in_process,
    skip_reason,
)
from .strategies import BaseExceptionSpec, ConsumerSpec, GatedSpec, WaitingSpec

__all__ = ["SCENARIOS", "Scenario", "make_machine_test", "make_scenario_test"]


def _needs_queue(cls: type[KitSettings]) -> str | None:
    if not in_process(cls):
        return needs_in_process(cls)
    if cls.sequential or cls.max_workers is not None:
        return None
    return "the runner has no queue: it declares neither sequential nor max_workers"


def _needs_max_pending(cls: type[KitSettings]) -> str | None:
    if cls.max_pending is None or cls.max_workers is None:
        return "the runner does not declare max_workers and max_pending"
    return needs_in_process(cls)


@attrs.frozen
class Scenario:
    """A property played by a scenario of its own (see ``_scenarios``)."""

    title: Callable[[type[KitSettings]], str]
    strategy: Callable[[type[KitSettings]], st.SearchStrategy[Any]]
    play: Callable[[KitSettings, Any], list[str]]
    skip: Callable[[type[KitSettings]], str | None]
    doc: str
    #: At most this many examples whatever the profile (the scenario is costly), or None.
    max_examples: int | None = None
    #: This share of the profile's examples (a scenario covers a lot per example).
    share: float = 1.0
    #: The specs it plays first, before any it draws (its landmarks).
    examples: Callable[[type[KitSettings]], list[Any]] = _landmarks.none
    #: The optional capabilities (`CAPABILITIES`) it cannot do without.
    needs: tuple[str, ...] = ()


def _gated_strategy(cls: type[KitSettings]) -> st.SearchStrategy[GatedSpec]:
    extra = (cls.max_pending or 2) + 2
    return _st.gated_specs(max_calls=min(cls.max_calls, (cls.max_workers or 1) + extra))


def _backpressure_examples(cls: type[KitSettings]) -> list[GatedSpec]:
    """Every worker busy, ``max_pending`` calls accepted and one more submit blocked; then
    queued calls are cancelled (or their submitters), each must make room at once."""
    k, p = cls.max_workers or 1, cls.max_pending or 1
    return [
        GatedSpec(k + p + 1, (("cancel", 0),)),
        GatedSpec(k + p + 1, (("cancel", 1), ("cancel", 0))),
        GatedSpec(k + p + 2, (("abandon", 0), ("release", 0))),
    ]


def _waiting_examples(cls: type[KitSettings]) -> list[WaitingSpec]:
    """An ``as_completed`` step cancelled by its timeout while it waits for an item, beside a
    waiter cancelled by its own scope; a consumer that releases each item as it comes."""
    return [
        WaitingSpec(
            durations=(2.0, 1.0),
            fails=(False, True),
            consumers=(ConsumerSpec((0, 1), 0.0, (0.5,), None, False),),
            waiters=((0, None, 1.0), (1, 3.0, 0.5)),
        ),
        WaitingSpec(
            durations=(1.0, 0.0),
            fails=(False, False),
            consumers=(ConsumerSpec((1, 0, 1), 0.0, (None, 0.5), None, True),),
            waiters=(),
        ),
    ]


def _base_exception_examples(cls: type[KitSettings]) -> list[BaseExceptionSpec]:
    """Each kind that must leave the run alone, raised by a call beside one still running."""
    return [
        BaseExceptionSpec(calls=((1.0, kind, False), (2.0, "ok", False)), delays=(0.0, 0.0))
        for kind in ("stray_cancelled", "custom_base", "base_group")
    ]


def _nested_strategy(cls: type[KitSettings]) -> st.SearchStrategy[Any]:
    # No bound on the number of calls, with or without max_pending: a call whose submit waits
    # for room lends its worker slot as a waiting call does, so no tree can deadlock.
    return _st.nested_specs()


def _needs_slots(cls: type[KitSettings]) -> str | None:
    if cls.max_workers is None or cls.sequential:
        return "the runner does not declare max_workers"
    if cls.max_pending == 0:
        return "max_pending=0 leaves no room for the queued calls the scenario needs"
    if not in_process(cls):
        return needs_in_process(cls)
    if cls.call_kind != "async":
        return "needs async calls (call_kind='async'): the scenario's calls wait on Trio events"
    return None


def _scenario_title(text: str) -> Callable[[type[KitSettings]], str]:
    return lambda cls: text


SCENARIOS: dict[str, Scenario] = {
    "test_admission_is_fifo_across_submitters": Scenario(
        title=_scenario_title("FIFO admission across submitters"),
        strategy=_gated_strategy,
        play=_scenarios.play_gated,
        share=0.5,
        skip=_needs_queue,
        doc="Calls submitted by several tasks, in an order fixed by structure, block until "
        "released; each time a worker frees, the first live queued call starts and nothing "
        "else (sequential: the next submitter in line). A LIFO dispatcher fails it.",
        needs=("cancel", "state", "statistics", "trio"),
    ),
    "test_max_pending_backpressure": Scenario(
        title=lambda cls: f"max_pending={cls.max_pending} backpressure",
        strategy=_gated_strategy,
        play=functools.partial(_scenarios.play_gated, pending=True),
        share=0.5,
        skip=_needs_max_pending,
        doc="submit() blocks exactly while max_pending live calls are accepted and not "
        "admitted; cancelling a queued call (or its blocked submitter) makes room at once; "
        "statistics().queued and running are exact after every step.",
        examples=_backpressure_examples,
        needs=("cancel", "state", "statistics", "trio"),
    ),
    "test_nested_calls_do_not_deadlock": Scenario(
        title=_scenario_title("nested calls"),
        strategy=_nested_strategy,
        play=_scenarios.play_nested,
        share=0.25,
        skip=needs_in_process,
        doc="Calls (async, and sync ones from worker threads) that submit to, wait on and "
        "iterate their own runner finish with their children's results; nothing deadlocks, "
        "even with one worker.",
        needs=("as_completed", "state", "statistics", "trio"),
    ),
    "test_waiters_and_as_completed_survive_their_own_cancellation": Scenario(
        title=_scenario_title("waiters and as_completed"),
        strategy=lambda cls: _st.waiting_specs(max_calls=min(cls.max_calls, 5)),
        play=_scenarios_calls.play_waiting,
        share=0.5,
        examples=_waiting_examples,
        skip=needs_exact,
        doc="as_completed consumers with steps cancelled by their own timeouts, duplicate "
        "keys, aclose() and release() while iterating, and waiters cancelled by their own "
        "scopes: no item lost or repeated, finish order kept, statistics().waiters back to 0.",
        needs=(
            "as_completed",
            "release",
            "statistics",
            "state",
            "mock_clock",
            "instruments",
            "trio",
        ),
    ),
    "test_a_call_cancelled_while_taking_its_slot_back_keeps_the_bound": Scenario(
        title=_scenario_title("a lent slot taken back"),
        strategy=lambda cls: _st.reclaim_specs(),
        play=_scenarios_lending.play_reclaim,
        skip=_needs_slots,
        doc="A call waiting on its own runner lends its worker slot; cancelled (cancel or "
        "cancel_all) while it waits to take a slot back, it still holds exactly one when it "
        "ends: afterwards no more than max_workers calls run at once.",
        max_examples=6,
        needs=("cancel", "cancel_all", "state", "trio"),
    ),
    "test_calls_raising_base_exceptions": Scenario(
        title=_scenario_title("calls raising BaseException"),
        strategy=lambda cls: _st.base_exception_specs(max_calls=min(cls.max_calls, 5)),
        play=_scenarios_calls.play_base_exceptions,
        share=0.5,
        examples=_base_exception_examples,
        skip=needs_exact,
        doc="A stray trio.Cancelled, a custom BaseException or a BaseExceptionGroup raised "
        "by a call: Crashed, the run left alone. KeyboardInterrupt / SystemExit (also in a "
        "group): Crashed and propagates out of start() at once, siblings Cancelled.",
        needs=("state", "mock_clock", "trio"),
    ),
    "test_abandoned_sync_calls_do_not_starve_threads": Scenario(
        title=_scenario_title("abandoned sync calls"),
        strategy=lambda cls: _st.abandon_specs(),
        play=_scenarios_calls.play_abandoned,
        skip=needs_in_process,
        doc="Sync calls blocked for good (more than Trio's 40 default thread tokens) are "
        "abandoned by cancel(), cancel_all() or the enclosing scope; afterwards "
        "trio.to_thread.run_sync and the runner's next run still work.",
        max_examples=25,
        needs=("cancel", "cancel_all", "state", "trio"),
    ),
    "test_calls_run_in_a_copy_of_their_submitters_context": Scenario(
        title=_scenario_title("a call's context"),
        strategy=lambda cls: _st.context_specs(max_calls=min(cls.max_calls, 6)),
        play=_scenarios_context.play_context,
        share=0.25,
        skip=needs_in_process,
        doc="Each call sees the contextvars its submitter had when it submitted it (also a "
        "queued call started after the submitter moved on, also a sync call in a worker "
        "thread), and its own ContextVar.set() reaches neither its submitter nor another call.",
        needs=("state", "trio"),
    ),
    "test_a_call_returning_a_state_ends_with_it": Scenario(
        title=_scenario_title("returned States"),
        strategy=lambda cls: _st.returned_specs(max_calls=min(cls.max_calls, 4)),
        play=_scenarios_returned.play_returned,
        skip=always,
        doc="A call that returns a Completed, Failed, Cancelled or Crashed State ends with "
        "that State, not with Completed(<the State>).",
        max_examples=10,
        needs=("returned_states", "trio"),
    ),
    "test_async_generator_functions_are_refused": Scenario(
        title=_scenario_title("async generator functions refused"),
        strategy=lambda cls: st.integers(0, 2),
        play=_scenarios_returned.play_agen,
        skip=always,
        doc="submit(key, async_generator_function) raises TypeError naming the key and "
        "disturbs nothing.",
        max_examples=3,
        needs=("state", "trio"),
    ),
}


def make_scenario_test(
    cls: type[KitSettings], name: str, scenario: Scenario
) -> Callable[..., None]:
    reason = skip_reason(cls, scenario.needs, scenario.skip)
    if reason is not None:

        def skipped(self: KitSettings) -> None:
            pytest.skip(reason)

        test: Callable[..., None] = skipped
    else:
        title = scenario.title(cls)

        def check(self: KitSettings, spec: Any) -> None:
            violations = scenario.play(self, spec)
            if violations:
                raise ConformanceError(title, violations, spec)

        check.__name__ = check.__qualname__ = name
        owner = f"{cls.__module__}.{cls.__qualname__}.{name}"
        check._hypothesis_internal_add_digest = owner.encode()  # type: ignore[attr-defined]
        parent = settings(cls.hypothesis_settings)
        limit = max(1, int(parent.max_examples * scenario.share))
        if scenario.max_examples is not None:
            limit = min(limit, scenario.max_examples)
        test = _landmarks.played_first(
            given(spec=scenario.strategy(cls))(check), scenario.examples(cls), "spec"
        )
        test = settings(parent, deadline=None, max_examples=limit)(test)
    test.__name__ = test.__qualname__ = name
    test.__doc__ = scenario.doc
    return test


_MACHINE_NEEDS = ("cancel", "cancel_all", "state", "release", "statistics", "as_completed", "trio")


def make_machine_test(cls: type[KitSettings]) -> Callable[[KitSettings], None]:
    """The stateful test for ``cls`` (see `_machine`), or a skip naming what it lacks."""
    exact = is_exact(cls)
    reason = skip_reason(cls, _MACHINE_NEEDS, always)

    def test_state_machine_agrees_with_reference_model(self: KitSettings) -> None:
        if reason is not None:
            pytest.skip(reason)
        if not exact:
            pytest.skip(
                "the state machine steps a MockClock and needs calls on the event loop"
                " (supports_mock_clock and call_kind='async')"
            )
        run_machine(self, settings(self.hypothesis_settings, deadline=None))

    test = test_state_machine_agrees_with_reference_model
    test.__doc__ = (
        "Random steps (submits from several submitters, scoped waiters, as_completed "
        "consumers, cancel / cancel_all / advance-clock / release, max_pending backpressure) "
        "played in one run on a MockClock agree, step by step, with the state machine's model."
    )
    if exact and reason is None:
        # As Hypothesis marks its own state machine tests, so that its pytest plugin reports
        # their statistics.
        test.is_hypothesis_test = True  # type: ignore[attr-defined]
    return test
