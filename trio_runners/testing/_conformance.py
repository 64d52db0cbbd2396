"""`RunnerConformance`: the base class that turns every property into tests for a runner.

A subclass declares its runner (`KitSettings`); when it is defined, ``__init_subclass__`` gives
it one test per timed property (`_properties`), per scenario and the stateful test
(`_scenario_tests`), each a Hypothesis test or a skip naming the missing capability.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from hypothesis import given, settings
from hypothesis import strategies as st

from ._errors import ConformanceError
from ._flow_hook_tests import FLOW_HOOK_SCENARIOS, sized
from ._log import CallLog
from ._play import new_logs, play
from ._properties import PROPERTIES, make_test
from ._report import Report
from ._scenario_tests import SCENARIOS, make_machine_test, make_scenario_test
from ._settings import KitSettings
from .strategies import Schedule

__all__ = ["RunnerConformance"]


class RunnerConformance(KitSettings):
    """Subclass this (with a name starting ``Test``) to run every property against a runner.

    Set ``runner_factory`` to a zero-argument callable returning a new, unstarted runner (a
    runner class, a `functools.partial`, a ``staticmethod``), and declare what the runner
    promises and can do::

        class TestMyRunner(RunnerConformance):
            runner_factory = functools.partial(MyRunner, max_workers=2)
            max_workers = 2

    Capabilities (class attributes):
      sequential: the runner runs one call at a time, in submission order, inside ``submit``.
      max_workers: the runner's worker limit (None: unbounded or not promised).
      max_pending: with ``max_workers``, how many accepted calls may wait for a worker before
        ``submit`` blocks (None: unbounded or not promised); checked exactly.
      runs_calls_in_process: calls run in this process, on the loop or in its threads, so a
        call can reach its own runner (nested calls), sync calls are abandoned threads, and a
        call's `KeyboardInterrupt` propagates out of ``start()``. None (default): the same as
        ``supports_mock_clock``.
      supports_mock_clock: the runner works under ``trio.testing.MockClock`` (False for runners
        whose calls run on real time elsewhere: processes, a Dask cluster).
      backend: the event loop the examples run on, through anyio: ``"trio"`` (default) or
        ``"asyncio"``, for a runner that lives on asyncio. On asyncio examples run in real
        time (``time_unit`` seconds per unit, no MockClock): the exact-timing checks become
        tolerance checks, and what needs a MockClock or Trio itself (the scenarios, the
        stateful test) is skipped naming capability ``mock_clock`` or ``trio``.
      call_kind: ``"async"`` submits async calls that run on the event loop; ``"sync"`` submits
        picklable sync calls that sleep real time (threads, processes, Dask) and record what
        they do in a file, so every clock-independent property is still checked.
      time_unit: real seconds per schedule time unit, where real time is used.
      max_calls: the largest number of calls in one example.
      hypothesis_settings: a parent `hypothesis.settings` (default: the active profile).

    Optional capabilities (see `trio_runners.testing.CAPABILITIES`): a runner needs only
    ``start``, ``submit`` and ``wait`` (`trio_runners.testing.CoreRunner`). Set a flag to False
    when it lacks one: ``supports_cancel``, ``supports_cancel_all``, ``supports_state``,
    ``supports_release``, ``supports_statistics``, ``supports_as_completed``,
    ``supports_instruments``, ``supports_returned_states`` (a call that returns a `State` ends
    with that State). Schedules then draw no action that needs it, and a property
    that cannot do without it is skipped with the capability named.
      supports_flow_hooks: ``run_in_slot``, ``lend_slot``, ``has_backpressure`` and
        ``LoopCall`` (`trio_runners.testing.FlowHooksRunner`, what the flow layer asks of a
        runner). None (default): found out on the runner when a test runs; a runner without
        them gets those properties skipped naming capability ``flow_hooks``. True: the kit
        fails if the runner lacks them. False: skipped.
      crashed_means: endings a foreign runner labels Crashed instead of Failed (``"error"``)
        or Cancelled (``"cancelled"``); cancellation is judged by its consequences anyway.

    Exact timing (the wait-timeout property to the instant, FIFO for ``max_workers > 1``, the
    stateful test) needs ``supports_mock_clock``, ``call_kind == "async"`` and ``backend ==
    "trio"``; otherwise those parts are skipped or judged within a tolerance, as said.
    """

    #: Made for each subclass, like the property tests (see ``__init_subclass__``).
    test_state_machine_agrees_with_reference_model: ClassVar[Callable[[RunnerConformance], None]]
    # The property tests, made for each subclass too (declared so that type checkers know them).
    test_sequential_ordering: ClassVar[Callable[..., None]]
    test_max_workers_is_never_exceeded: ClassVar[Callable[..., None]]
    test_max_workers_admission_is_fifo: ClassVar[Callable[..., None]]
    test_each_call_runs_exactly_once: ClassVar[Callable[..., None]]
    test_wait_returns_the_state_iff_finished_within_timeout: ClassVar[Callable[..., None]]
    test_cancellation_ends_each_call_once_and_propagates: ClassVar[Callable[..., None]]
    test_release_keeps_memory_bounded: ClassVar[Callable[..., None]]
    test_admission_is_fifo_across_submitters: ClassVar[Callable[..., None]]
    test_max_pending_backpressure: ClassVar[Callable[..., None]]
    test_nested_calls_do_not_deadlock: ClassVar[Callable[..., None]]
    test_waiters_and_as_completed_survive_their_own_cancellation: ClassVar[Callable[..., None]]
    test_a_call_cancelled_while_taking_its_slot_back_keeps_the_bound: ClassVar[Callable[..., None]]
    test_calls_raising_base_exceptions: ClassVar[Callable[..., None]]
    test_abandoned_sync_calls_do_not_starve_threads: ClassVar[Callable[..., None]]
    test_calls_run_in_a_copy_of_their_submitters_context: ClassVar[Callable[..., None]]
    test_a_call_returning_a_state_ends_with_it: ClassVar[Callable[..., None]]
    test_async_generator_functions_are_refused: ClassVar[Callable[..., None]]
    # Capability flow_hooks (see `_flow_hook_tests`).
    test_run_in_slot_runs_a_loop_calls_work: ClassVar[Callable[..., None]]
    test_nested_loop_calls_lend_their_slot: ClassVar[Callable[..., None]]
    test_lend_slot_outside_a_call_lends_nothing: ClassVar[Callable[..., None]]
    test_has_backpressure_says_whether_submit_may_wait: ClassVar[Callable[..., None]]

    def play(self, schedule: Schedule, log: CallLog | None = None) -> Report:
        """Play one schedule against a new runner, in a fresh event loop (see ``backend``)."""
        return play(self, schedule, log)

    def check_property(
        self,
        name: str,
        strategy: st.SearchStrategy[Schedule],
        check: Callable[[Report], list[str]],
    ) -> None:
        """Run ``check`` on every schedule Hypothesis draws from ``strategy``; raise
        `ConformanceError` (through Hypothesis, shrunk) if one reports a violation."""
        with new_logs(self) as new_log:

            def prop(schedule: Schedule) -> None:
                report = self.play(schedule, new_log())
                violations = check(report)
                if violations:
                    raise ConformanceError(name, violations, schedule)

            # Distinguish the saved examples of each runner and property in Hypothesis's
            # database (the same hook Hypothesis uses for parametrized tests).
            owner = f"{type(self).__module__}.{type(self).__qualname__}.{name}"
            prop._hypothesis_internal_add_digest = owner.encode()  # type: ignore[attr-defined]
            # Built now, so the active profile (e.g. --hypothesis-profile) is the parent.
            # deadline=None: an example's time depends on the event loop's start-up and, for
            # runners on real time, on the machine's load, not on the code under test.
            run = settings(self.hypothesis_settings, deadline=None)(given(strategy)(prop))
            run()

    # Each property is a real ``@given`` test, made for each subclass when it is defined (so
    # Hypothesis keeps separate statistics and saved examples per runner, and its settings are
    # the active profile's, plus ``hypothesis_settings``, at that moment).

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, prop in PROPERTIES.items():
            setattr(cls, name, make_test(cls, name, prop))
        for name, scenario in SCENARIOS.items():
            setattr(cls, name, make_scenario_test(cls, name, scenario))
        for name, scenario in FLOW_HOOK_SCENARIOS.items():
            setattr(cls, name, make_scenario_test(cls, name, sized(cls, scenario)))
        cls.test_state_machine_agrees_with_reference_model = make_machine_test(cls)
