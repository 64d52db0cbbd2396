"""`RunnerConformance`: every guarantee as a Hypothesis property, for any runner."""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

import attrs
import pytest
import trio
import trio.testing
from hypothesis import example, given, settings
from hypothesis import strategies as st

from .._trace import TraceRecorder
from . import _checks, _scenarios
from . import strategies as _st
from ._driver import AsyncCall, FileTrace, MemoryTrace, Report, SyncCall, Trace, run_schedule
from ._protocol import CAPABILITIES, CoreRunner
from .strategies import CallSpec, GatedSpec, Schedule, schedules

__all__ = ["ConformanceError", "RunnerConformance"]


class ConformanceError(AssertionError):
    """A runner broke a guarantee. ``prop`` names the property, ``violations`` say how."""

    def __init__(self, prop: str, violations: list[str], schedule: object) -> None:
        self.prop = prop
        self.violations = violations
        self.schedule = schedule
        lines = "\n  ".join(violations)
        super().__init__(f"{prop} violated:\n  {lines}\nschedule: {schedule!r}")


class RunnerRaised(ConformanceError):
    """The runner raised where it must not: ``wait`` raised for a known key, or an exception
    of the runner's own left the example."""


class CancellationSwallowed(ConformanceError):
    """An enclosing cancellation did not propagate: ``submit`` returned normally after the
    call it ran was interrupted, or ``start()`` exited normally without ``cancelled_caught``."""


def _error_for(prop: str, violations: list[str], schedule: object) -> ConformanceError:
    """The `ConformanceError` subclass for the first kind of violation found (Hypothesis
    shrinks each kind separately, so each is reported with its own minimal schedule)."""
    kinds: list[type[ConformanceError]] = [CancellationSwallowed, RunnerRaised]
    for kind in kinds:
        if any(_kind_of(v) is kind for v in violations):
            return kind(prop, violations, schedule)
    return ConformanceError(prop, violations, schedule)


def _kind_of(violation: str) -> type[ConformanceError]:
    if "was swallowed" in violation:
        return CancellationSwallowed
    if violation.startswith("runner:"):
        return RunnerRaised
    return ConformanceError


class RunnerConformance:
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
    ``supports_instruments``. Schedules then draw no action that needs it, and a property
    that cannot do without it is skipped with the capability named.
      crashed_means: endings a foreign runner labels Crashed instead of Failed (``"error"``)
        or Cancelled (``"cancelled"``); cancellation is judged by its consequences anyway.

    Exact timing (the wait-timeout property to the instant, FIFO for ``max_workers > 1``, the
    stateful test) needs ``supports_mock_clock`` and ``call_kind == "async"``; otherwise those
    parts are skipped, with the reason given.
    """

    runner_factory: ClassVar[Callable[[], CoreRunner]]
    supports_cancel: ClassVar[bool] = True
    supports_cancel_all: ClassVar[bool] = True
    supports_state: ClassVar[bool] = True
    supports_release: ClassVar[bool] = True
    supports_statistics: ClassVar[bool] = True
    supports_as_completed: ClassVar[bool] = True
    supports_instruments: ClassVar[bool] = True
    crashed_means: ClassVar[frozenset[str]] = frozenset()
    sequential: ClassVar[bool] = False
    max_workers: ClassVar[int | None] = None
    max_pending: ClassVar[int | None] = None
    runs_calls_in_process: ClassVar[bool | None] = None
    supports_mock_clock: ClassVar[bool] = True
    call_kind: ClassVar[Literal["async", "sync"]] = "async"
    time_unit: ClassVar[float] = 0.002
    max_calls: ClassVar[int] = 8
    hypothesis_settings: ClassVar[settings | None] = None
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
    test_calls_raising_base_exceptions: ClassVar[Callable[..., None]]
    test_abandoned_sync_calls_do_not_starve_threads: ClassVar[Callable[..., None]]
    test_async_generator_functions_are_refused: ClassVar[Callable[..., None]]

    # ------------------------------------------------------------------ machinery

    @property
    def exact(self) -> bool:
        """Times are exact: calls run on the event loop under a MockClock."""
        return self.supports_mock_clock and self.call_kind == "async"

    @property
    def in_process(self) -> bool:
        """Calls run in this process (see ``runs_calls_in_process``)."""
        return _in_process(type(self))

    def new_runner(self) -> Any:
        """A new, unstarted runner from ``runner_factory`` (with the capabilities the
        subclass declares; the kit calls only those)."""
        return type(self).runner_factory()

    @classmethod
    def missing(cls, *capabilities: str) -> list[str]:
        """Which of ``capabilities`` (names of `CAPABILITIES`) the runner lacks."""
        lacking = []
        for name in capabilities:
            flag = CAPABILITIES[name][0]
            value = getattr(cls, flag)
            if value is None or value is False:
                lacking.append(name)
        return lacking

    def play(self, schedule: Schedule, trace: Trace | None = None) -> Report:
        """Play one schedule against a new runner, in a fresh ``trio.run``."""
        unit = self.time_unit
        if self.call_kind == "async":
            trace = trace or MemoryTrace()
            call_unit = 1.0 if self.exact else unit

            def make_call(tr: Trace, i: int, spec: CallSpec) -> Callable[[], Any]:
                return AsyncCall(tr, i, spec.duration * call_unit, spec.fails, spec.raises)

        else:
            assert trace is not None, "sync calls record to a FileTrace"

            def make_call(tr: Trace, i: int, spec: CallSpec) -> Callable[[], Any]:
                return SyncCall(tr, i, spec.duration * unit, spec.fails, spec.raises)

        clock = trio.testing.MockClock(autojump_threshold=0) if self.supports_mock_clock else None
        runner = self.new_runner()
        recorder = TraceRecorder()
        if self.supports_instruments:
            runner.add_instrument(recorder)
        driver = functools.partial(
            run_schedule,
            runner,
            schedule,
            trace=trace,
            make_call=make_call,
            exact=self.exact,
            sequential=self.sequential,
            time_unit=1.0 if self.supports_mock_clock else unit,
            hang_limit=1e6 if self.supports_mock_clock else 10.0 + 40 * unit,
            has_state=self.supports_state,
        )
        report: Report = trio.run(driver, clock=clock)
        if self.supports_instruments:
            runner.remove_instrument(recorder)
        report.lifecycle = recorder.events
        report.crashed_means = self.crashed_means
        return report

    @contextmanager
    def _traces(self) -> Iterator[Callable[[], Trace | None]]:
        if self.call_kind == "async":
            yield lambda: None
            return
        directory = tempfile.mkdtemp(prefix="trio-runners-kit-")
        counter = itertools.count()
        try:

            def new() -> Trace:
                path = os.path.join(directory, f"{next(counter)}.trace")
                open(path, "wb").close()
                return FileTrace(path)

            yield new
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def check_property(
        self,
        name: str,
        strategy: st.SearchStrategy[Schedule],
        check: Callable[[Report], list[str]],
    ) -> None:
        """Run ``check`` on every schedule Hypothesis draws from ``strategy``; raise
        `ConformanceError` (through Hypothesis, shrunk) if one reports a violation."""
        with self._traces() as new_trace:

            def prop(schedule: Schedule) -> None:
                report = self.play(schedule, new_trace())
                violations = check(report)
                if violations:
                    raise ConformanceError(name, violations, schedule)

            # Distinguish the saved examples of each runner and property in Hypothesis's
            # database (the same hook Hypothesis uses for parametrized tests).
            owner = f"{type(self).__module__}.{type(self).__qualname__}.{name}"
            prop._hypothesis_internal_add_digest = owner.encode()  # type: ignore[attr-defined]
            # Built now, so the active profile (e.g. --hypothesis-profile) is the parent.
            # deadline=None: an example's time depends on Trio start-up and, for runners on
            # real time, on the machine's load, not on the code under test.
            run = settings(self.hypothesis_settings, deadline=None)(given(strategy)(prop))
            run()

    # ------------------------------------------------------------------ the properties
    #
    # Each property is a real ``@given`` test, made for each subclass when it is defined (so
    # Hypothesis keeps separate statistics and saved examples per runner, and its settings are
    # the active profile's, plus ``hypothesis_settings``, at that moment).

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, prop in _PROPERTIES.items():
            setattr(cls, name, _make_test(cls, name, prop))
        for name, scenario in _SCENARIOS.items():
            setattr(cls, name, _make_scenario_test(cls, name, scenario))
        cls.test_state_machine_agrees_with_reference_model = _make_machine_test(cls)

    def _check_schedule(self, prop: _Property, schedule: Schedule) -> None:
        try:
            if self.call_kind == "async":
                report = self.play(schedule)
            else:
                fd, path = tempfile.mkstemp(prefix="trio-runners-kit-", suffix=".trace")
                os.close(fd)
                try:
                    report = self.play(schedule, FileTrace(path))
                finally:
                    os.unlink(path)
        except Exception as exc:  # the runner's own exception left the example
            raise RunnerRaised(
                prop.title(self),
                [f"runner: {exc!r} escaped from the runner ({type(exc).__qualname__})"],
                schedule,
            ) from exc
        violations = prop.check(self, report)
        if violations:
            raise _error_for(prop.title(self), violations, schedule)


@attrs.frozen
class _Property:
    """One property: what to draw, what to check, when it does not apply."""

    title: Callable[[RunnerConformance], str]
    strategy: Callable[[type[RunnerConformance]], st.SearchStrategy[Schedule]]
    check: Callable[[RunnerConformance, Report], list[str]]
    skip: Callable[[type[RunnerConformance]], str | None]
    doc: str
    #: The optional capabilities (`CAPABILITIES`) it cannot do without.
    needs: tuple[str, ...] = ()


def _skip_reason(
    cls: type[RunnerConformance],
    needs: tuple[str, ...],
    skip: Callable[[type[RunnerConformance]], str | None],
) -> str | None:
    """Why a property does not apply: the capabilities it needs and the runner lacks (each
    named, with its flag), else the property's own reason, else None."""
    missing = cls.missing(*needs)
    if missing:
        named = ", ".join(
            f"{m!r} ({CAPABILITIES[m][0]} = {getattr(cls, CAPABILITIES[m][0])})" for m in missing
        )
        return f"needs capability {named}, which the runner does not declare"
    return skip(cls)


def _always(cls: type[RunnerConformance]) -> str | None:
    return None


def _in_process(cls: type[RunnerConformance]) -> bool:
    declared = cls.runs_calls_in_process
    return cls.supports_mock_clock if declared is None else declared


def _needs_in_process(cls: type[RunnerConformance]) -> str | None:
    if _in_process(cls):
        return None
    return "the runner's calls do not run in this process (runs_calls_in_process)"


def _needs_exact(cls: type[RunnerConformance]) -> str | None:
    if cls.supports_mock_clock and cls.call_kind == "async" and _in_process(cls):
        return None
    return "needs async calls on a MockClock (supports_mock_clock and call_kind='async')"


def _needs_queue(cls: type[RunnerConformance]) -> str | None:
    if not _in_process(cls):
        return _needs_in_process(cls)
    if cls.sequential or cls.max_workers is not None:
        return None
    return "the runner has no queue: it declares neither sequential nor max_workers"


def _needs_max_pending(cls: type[RunnerConformance]) -> str | None:
    if cls.max_pending is None or cls.max_workers is None:
        return "the runner does not declare max_workers and max_pending"
    return _needs_in_process(cls)


def _needs_fifo_observable(cls: type[RunnerConformance]) -> str | None:
    if cls.max_workers is None:
        return "the runner does not declare max_workers"
    exact = cls.supports_mock_clock and cls.call_kind == "async"
    if not exact and cls.max_workers != 1:
        return (
            "FIFO admission with more than one worker needs exact start times"
            " (supports_mock_clock and call_kind='async'): a call in a thread or process"
            " records its start some time after it was admitted"
        )
    return None


def _draw(**kwargs: Any) -> Callable[[type[RunnerConformance]], st.SearchStrategy[Schedule]]:
    def strategy(cls: type[RunnerConformance]) -> st.SearchStrategy[Schedule]:
        # Calls that raise a stray Cancelled, a custom BaseException or a BaseExceptionGroup
        # (each must end Crashed and leave the run alone) on runners whose calls run here.
        # Per-call cancel() and cancel_all() only where the runner has them.
        options = dict(kwargs)
        options["cancels"] = options.get("cancels", True) and cls.supports_cancel
        options["cancel_all"] = options.get("cancel_all", False) and cls.supports_cancel_all
        return schedules(max_calls=cls.max_calls, crashes=True, **options)

    return strategy


def _k(kit: RunnerConformance) -> int:
    assert kit.max_workers is not None
    return kit.max_workers


_PROPERTIES: dict[str, _Property] = {
    "test_sequential_ordering": _Property(
        title=lambda kit: "sequential ordering",
        strategy=_draw(cancel_all=True, scope_cancel=True, raise_in_block=True),
        check=lambda kit, r: _checks.judge_sequential(r) + _checks.judge_max_workers(r, 1),
        skip=_always,
        doc="Calls start in submission order; each ends before the next starts; at most one "
        "runs -- under random durations, failures and cancellations.",
        needs=("sequential",),
    ),
    "test_max_workers_is_never_exceeded": _Property(
        title=lambda kit: f"max_workers={kit.max_workers} bound",
        strategy=_draw(cancel_all=True, scope_cancel=True),
        check=lambda kit, r: _checks.judge_max_workers(r, _k(kit)),
        skip=_always,
        doc="With max_workers=k the number of calls running never exceeds k.",
        needs=("max_workers",),
    ),
    "test_max_workers_admission_is_fifo": _Property(
        title=lambda kit: f"max_workers={kit.max_workers} FIFO admission",
        strategy=_draw(cancel_all=True),
        check=lambda kit, r: _checks.judge_fifo(r, _k(kit)),
        skip=_needs_fifo_observable,
        doc="With max_workers=k calls are admitted in submission order.",
        needs=("max_workers",),
    ),
    "test_each_call_runs_exactly_once": _Property(
        title=lambda kit: "exactly once",
        strategy=_draw(cancel_all=True, scope_cancel=True, raise_in_block=True),
        check=lambda kit, r: _checks.judge_exactly_once(r),
        skip=_always,
        doc="Each call runs at most once, and exactly once unless cancelled before it started.",
    ),
    "test_wait_returns_the_state_iff_finished_within_timeout": _Property(
        title=lambda kit: "wait semantics",
        strategy=_draw(waits=True),
        check=lambda kit, r: _checks.judge_wait(r),
        skip=_always,
        doc="wait(key, t) returns the State iff the call finished within t of the wait "
        "starting, else None; a later wait gets the State; the timeout never changes the "
        "outcome; concurrent waiters get the same State. To the instant where times are exact.",
    ),
    "test_cancellation_ends_each_call_once_and_propagates": _Property(
        title=lambda kit: "cancellation",
        strategy=_draw(waits=True, cancel_all=True, scope_cancel=True, raise_in_block=True),
        check=lambda kit, r: _checks.judge_cancellation(r),
        skip=_always,
        doc="Cancels at random instants (per call, cancel_all, the enclosing scope, an "
        "exception in the block): one terminal State per call, finished calls keep theirs, "
        "Cancelled is never swallowed, no waiter hangs after the runner exits.",
    ),
    "test_release_keeps_memory_bounded": _Property(
        title=lambda kit: "bounded memory",
        strategy=_draw(release=True, cancel_all=True),
        check=lambda kit, r: _checks.judge_memory(r),
        skip=_always,
        doc="With release, retained States never exceed the States not yet consumed.",
        needs=("release", "statistics", "state"),
    ),
}


def _make_test(cls: type[RunnerConformance], name: str, prop: _Property) -> Callable[..., None]:
    reason = _skip_reason(cls, prop.needs, prop.skip)
    if reason is not None:

        def skipped(self: RunnerConformance) -> None:
            pytest.skip(reason)

        test: Callable[..., None] = skipped
    else:

        def check(self: RunnerConformance, schedule: Schedule) -> None:
            self._check_schedule(prop, schedule)

        check.__name__ = check.__qualname__ = name
        check.__doc__ = prop.doc
        # Keep saved examples apart per runner class and property (the hook Hypothesis uses
        # for parametrized tests).
        owner = f"{cls.__module__}.{cls.__qualname__}.{name}"
        check._hypothesis_internal_add_digest = owner.encode()  # type: ignore[attr-defined]
        # deadline=None: an example's time depends on Trio's start-up and, for runners on real
        # time, on the machine's load, not on the code under test.
        test = settings(cls.hypothesis_settings, deadline=None)(
            given(schedule=prop.strategy(cls))(check)
        )
    test.__name__ = test.__qualname__ = name
    test.__doc__ = prop.doc
    return test


@attrs.frozen
class _Scenario:
    """A property played by a scenario of its own (see ``_scenarios``)."""

    title: Callable[[type[RunnerConformance]], str]
    strategy: Callable[[type[RunnerConformance]], st.SearchStrategy[Any]]
    play: Callable[[RunnerConformance, Any], list[str]]
    skip: Callable[[type[RunnerConformance]], str | None]
    doc: str
    #: At most this many examples whatever the profile (the scenario is costly), or None.
    max_examples: int | None = None
    #: This share of the profile's examples (a scenario covers a lot per example).
    share: float = 1.0
    examples: Callable[[type[RunnerConformance]], list[Any]] = lambda cls: []
    #: The optional capabilities (`CAPABILITIES`) it cannot do without.
    needs: tuple[str, ...] = ()


def _gated_strategy(cls: type[RunnerConformance]) -> st.SearchStrategy[GatedSpec]:
    extra = (cls.max_pending or 2) + 2
    return _st.gated_specs(max_calls=min(cls.max_calls, (cls.max_workers or 1) + extra))


def _backpressure_examples(cls: type[RunnerConformance]) -> list[GatedSpec]:
    """Every worker busy, ``max_pending`` calls accepted and one more submit blocked; then
    queued calls are cancelled (or their submitters), each must make room at once."""
    k, p = cls.max_workers or 1, cls.max_pending or 1
    return [
        GatedSpec(k + p + 1, (("cancel", 0),)),
        GatedSpec(k + p + 1, (("cancel", 1), ("cancel", 0))),
        GatedSpec(k + p + 2, (("abandon", 0), ("release", 0))),
    ]


def _nested_strategy(cls: type[RunnerConformance]) -> st.SearchStrategy[Any]:
    # No bound on the number of calls, with or without max_pending: a call whose submit waits
    # for room lends its worker slot as a waiting call does, so no tree can deadlock.
    return _st.nested_specs()


def _scenario_title(text: str) -> Callable[[type[RunnerConformance]], str]:
    return lambda cls: text


_SCENARIOS: dict[str, _Scenario] = {
    "test_admission_is_fifo_across_submitters": _Scenario(
        title=_scenario_title("FIFO admission across submitters"),
        strategy=_gated_strategy,
        play=_scenarios.play_gated,
        share=0.5,
        skip=_needs_queue,
        doc="Calls submitted by several tasks, in an order fixed by structure, block until "
        "released; each time a worker frees, the first live queued call starts and nothing "
        "else (sequential: the next submitter in line). A LIFO dispatcher fails it.",
        needs=("cancel", "state", "statistics"),
    ),
    "test_max_pending_backpressure": _Scenario(
        title=lambda cls: f"max_pending={cls.max_pending} backpressure",
        strategy=_gated_strategy,
        play=functools.partial(_scenarios.play_gated, pending=True),
        share=0.5,
        skip=_needs_max_pending,
        doc="submit() blocks exactly while max_pending live calls are accepted and not "
        "admitted; cancelling a queued call (or its blocked submitter) makes room at once; "
        "statistics().queued and running are exact after every step.",
        examples=_backpressure_examples,
        needs=("cancel", "state", "statistics"),
    ),
    "test_nested_calls_do_not_deadlock": _Scenario(
        title=_scenario_title("nested calls"),
        strategy=_nested_strategy,
        play=_scenarios.play_nested,
        share=0.25,
        skip=_needs_in_process,
        doc="Calls (async, and sync ones from worker threads) that submit to, wait on and "
        "iterate their own runner finish with their children's results; nothing deadlocks, "
        "even with one worker.",
        needs=("as_completed", "state", "statistics"),
    ),
    "test_waiters_and_as_completed_survive_their_own_cancellation": _Scenario(
        title=_scenario_title("waiters and as_completed"),
        strategy=lambda cls: _st.waiting_specs(max_calls=min(cls.max_calls, 5)),
        play=_scenarios.play_waiting,
        share=0.5,
        skip=_needs_exact,
        doc="as_completed consumers with steps cancelled by their own timeouts, duplicate "
        "keys, aclose() and release() while iterating, and waiters cancelled by their own "
        "scopes: no item lost or repeated, finish order kept, statistics().waiters back to 0.",
        needs=("as_completed", "release", "statistics", "state", "mock_clock", "instruments"),
    ),
    "test_calls_raising_base_exceptions": _Scenario(
        title=_scenario_title("calls raising BaseException"),
        strategy=lambda cls: _st.base_exception_specs(max_calls=min(cls.max_calls, 5)),
        play=_scenarios.play_base_exceptions,
        share=0.5,
        skip=_needs_exact,
        doc="A stray trio.Cancelled, a custom BaseException or a BaseExceptionGroup raised "
        "by a call: Crashed, the run left alone. KeyboardInterrupt / SystemExit (also in a "
        "group): Crashed and propagates out of start() at once, siblings Cancelled.",
        needs=("state", "mock_clock"),
    ),
    "test_abandoned_sync_calls_do_not_starve_threads": _Scenario(
        title=_scenario_title("abandoned sync calls"),
        strategy=lambda cls: _st.abandon_specs(),
        play=_scenarios.play_abandoned,
        skip=_needs_in_process,
        doc="Sync calls blocked for good (more than Trio's 40 default thread tokens) are "
        "abandoned by cancel(), cancel_all() or the enclosing scope; afterwards "
        "trio.to_thread.run_sync and the runner's next run still work.",
        max_examples=25,
        needs=("cancel", "cancel_all", "state"),
    ),
    "test_async_generator_functions_are_refused": _Scenario(
        title=_scenario_title("async generator functions refused"),
        strategy=lambda cls: st.integers(0, 2),
        play=_scenarios.play_agen,
        skip=_always,
        doc="submit(key, async_generator_function) raises TypeError naming the key and "
        "disturbs nothing.",
        max_examples=3,
        needs=("state",),
    ),
}


def _make_scenario_test(
    cls: type[RunnerConformance], name: str, scenario: _Scenario
) -> Callable[..., None]:
    reason = _skip_reason(cls, scenario.needs, scenario.skip)
    if reason is not None:

        def skipped(self: RunnerConformance) -> None:
            pytest.skip(reason)

        test: Callable[..., None] = skipped
    else:
        title = scenario.title(cls)

        def check(self: RunnerConformance, spec: Any) -> None:
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
        test = given(spec=scenario.strategy(cls))(check)
        for spec in scenario.examples(cls):
            test = example(spec=spec)(test)
        test = settings(parent, deadline=None, max_examples=limit)(test)
    test.__name__ = test.__qualname__ = name
    test.__doc__ = scenario.doc
    return test


_MACHINE_NEEDS = ("cancel", "cancel_all", "state", "release", "statistics", "as_completed")


def _make_machine_test(cls: type[RunnerConformance]) -> Callable[[RunnerConformance], None]:
    exact = cls.supports_mock_clock and cls.call_kind == "async"
    reason = _skip_reason(cls, _MACHINE_NEEDS, _always)

    def test_state_machine_agrees_with_reference_model(self: RunnerConformance) -> None:
        if reason is not None:
            pytest.skip(reason)
        if not exact:
            pytest.skip(
                "the state machine steps a MockClock and needs calls on the event loop"
                " (supports_mock_clock and call_kind='async')"
            )
        from ._machine import run_machine

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
