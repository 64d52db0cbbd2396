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
from hypothesis import given, settings
from hypothesis import strategies as st

from .._base import BaseTaskRunner
from .._trace import TraceRecorder
from . import _checks
from ._driver import AsyncCall, FileTrace, MemoryTrace, Report, SyncCall, Trace, run_schedule
from .strategies import CallSpec, Schedule, schedules

__all__ = ["ConformanceError", "RunnerConformance"]


class ConformanceError(AssertionError):
    """A runner broke a guarantee. ``prop`` names the property, ``violations`` say how."""

    def __init__(self, prop: str, violations: list[str], schedule: Schedule) -> None:
        self.prop = prop
        self.violations = violations
        self.schedule = schedule
        lines = "\n  ".join(violations)
        super().__init__(f"{prop} violated:\n  {lines}\nschedule: {schedule!r}")


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
      supports_mock_clock: the runner works under ``trio.testing.MockClock`` (False for runners
        whose calls run on real time elsewhere: processes, a Dask cluster).
      call_kind: ``"async"`` submits async calls that run on the event loop; ``"sync"`` submits
        picklable sync calls that sleep real time (threads, processes, Dask) and record what
        they do in a file, so every clock-independent property is still checked.
      time_unit: real seconds per schedule time unit, where real time is used.
      max_calls: the largest number of calls in one example.
      hypothesis_settings: a parent `hypothesis.settings` (default: the active profile).

    Exact timing (the wait-timeout property to the instant, FIFO for ``max_workers > 1``, the
    stateful test) needs ``supports_mock_clock`` and ``call_kind == "async"``; otherwise those
    parts are skipped, with the reason given.
    """

    runner_factory: ClassVar[Callable[[], BaseTaskRunner]]
    sequential: ClassVar[bool] = False
    max_workers: ClassVar[int | None] = None
    supports_mock_clock: ClassVar[bool] = True
    call_kind: ClassVar[Literal["async", "sync"]] = "async"
    time_unit: ClassVar[float] = 0.002
    max_calls: ClassVar[int] = 8
    hypothesis_settings: ClassVar[settings | None] = None
    #: Made for each subclass, like the property tests (see ``__init_subclass__``).
    test_state_machine_agrees_with_reference_model: ClassVar[Callable[[RunnerConformance], None]]

    # ------------------------------------------------------------------ machinery

    @property
    def exact(self) -> bool:
        """Times are exact: calls run on the event loop under a MockClock."""
        return self.supports_mock_clock and self.call_kind == "async"

    def new_runner(self) -> BaseTaskRunner:
        """A new, unstarted runner from ``runner_factory``."""
        return type(self).runner_factory()

    def play(self, schedule: Schedule, trace: Trace | None = None) -> Report:
        """Play one schedule against a new runner, in a fresh ``trio.run``."""
        unit = self.time_unit
        if self.call_kind == "async":
            trace = trace or MemoryTrace()
            call_unit = 1.0 if self.exact else unit

            def make_call(tr: Trace, i: int, spec: CallSpec) -> Callable[[], Any]:
                return AsyncCall(tr, i, spec.duration * call_unit, spec.fails)

        else:
            assert trace is not None, "sync calls record to a FileTrace"

            def make_call(tr: Trace, i: int, spec: CallSpec) -> Callable[[], Any]:
                return SyncCall(tr, i, spec.duration * unit, spec.fails)

        clock = trio.testing.MockClock(autojump_threshold=0) if self.supports_mock_clock else None
        runner = self.new_runner()
        recorder = TraceRecorder()
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
        )
        report: Report = trio.run(driver, clock=clock)
        runner.remove_instrument(recorder)
        report.lifecycle = recorder.events
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

    def _schedules(self, **kwargs: Any) -> st.SearchStrategy[Schedule]:
        return schedules(max_calls=self.max_calls, **kwargs)

    # ------------------------------------------------------------------ the properties
    #
    # Each property is a real ``@given`` test, made for each subclass when it is defined (so
    # Hypothesis keeps separate statistics and saved examples per runner, and its settings are
    # the active profile's, plus ``hypothesis_settings``, at that moment).

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, prop in _PROPERTIES.items():
            setattr(cls, name, _make_test(cls, name, prop))
        cls.test_state_machine_agrees_with_reference_model = _make_machine_test(cls)

    def _check_schedule(self, prop: _Property, schedule: Schedule) -> None:
        if self.call_kind == "async":
            report = self.play(schedule)
        else:
            fd, path = tempfile.mkstemp(prefix="trio-runners-kit-", suffix=".trace")
            os.close(fd)
            try:
                report = self.play(schedule, FileTrace(path))
            finally:
                os.unlink(path)
        violations = prop.check(self, report)
        if violations:
            raise ConformanceError(prop.title(self), violations, schedule)


@attrs.frozen
class _Property:
    """One property: what to draw, what to check, when it does not apply."""

    title: Callable[[RunnerConformance], str]
    strategy: Callable[[type[RunnerConformance]], st.SearchStrategy[Schedule]]
    check: Callable[[RunnerConformance, Report], list[str]]
    skip: Callable[[type[RunnerConformance]], str | None]
    doc: str


def _always(cls: type[RunnerConformance]) -> str | None:
    return None


def _needs_sequential(cls: type[RunnerConformance]) -> str | None:
    return None if cls.sequential else "the runner does not declare sequential = True"


def _needs_max_workers(cls: type[RunnerConformance]) -> str | None:
    return None if cls.max_workers is not None else "the runner does not declare max_workers"


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
        return schedules(max_calls=cls.max_calls, **kwargs)

    return strategy


def _k(kit: RunnerConformance) -> int:
    assert kit.max_workers is not None
    return kit.max_workers


_PROPERTIES: dict[str, _Property] = {
    "test_sequential_ordering": _Property(
        title=lambda kit: "sequential ordering",
        strategy=_draw(cancel_all=True, scope_cancel=True, raise_in_block=True),
        check=lambda kit, r: _checks.check_sequential(r) + _checks.check_max_workers(r, 1),
        skip=_needs_sequential,
        doc="Calls start in submission order; each ends before the next starts; at most one "
        "runs -- under random durations, failures and cancellations.",
    ),
    "test_max_workers_is_never_exceeded": _Property(
        title=lambda kit: f"max_workers={kit.max_workers} bound",
        strategy=_draw(cancel_all=True, scope_cancel=True),
        check=lambda kit, r: _checks.check_max_workers(r, _k(kit)),
        skip=_needs_max_workers,
        doc="With max_workers=k the number of calls running never exceeds k.",
    ),
    "test_max_workers_admission_is_fifo": _Property(
        title=lambda kit: f"max_workers={kit.max_workers} FIFO admission",
        strategy=_draw(cancel_all=True),
        check=lambda kit, r: _checks.check_fifo(r, _k(kit)),
        skip=_needs_fifo_observable,
        doc="With max_workers=k calls are admitted in submission order.",
    ),
    "test_each_call_runs_exactly_once": _Property(
        title=lambda kit: "exactly once",
        strategy=_draw(cancel_all=True, scope_cancel=True, raise_in_block=True),
        check=lambda kit, r: _checks.check_exactly_once(r),
        skip=_always,
        doc="Each call runs at most once, and exactly once unless cancelled before it started.",
    ),
    "test_wait_returns_the_state_iff_finished_within_timeout": _Property(
        title=lambda kit: "wait semantics",
        strategy=_draw(waits=True),
        check=lambda kit, r: _checks.check_wait(r),
        skip=_always,
        doc="wait(key, t) returns the State iff the call finished within t of the wait "
        "starting, else None; a later wait gets the State; the timeout never changes the "
        "outcome; concurrent waiters get the same State. To the instant where times are exact.",
    ),
    "test_cancellation_ends_each_call_once_and_propagates": _Property(
        title=lambda kit: "cancellation",
        strategy=_draw(waits=True, cancel_all=True, scope_cancel=True, raise_in_block=True),
        check=lambda kit, r: _checks.check_cancellation(r),
        skip=_always,
        doc="Cancels at random instants (per call, cancel_all, the enclosing scope, an "
        "exception in the block): one terminal State per call, finished calls keep theirs, "
        "Cancelled is never swallowed, no waiter hangs after the runner exits.",
    ),
    "test_release_keeps_memory_bounded": _Property(
        title=lambda kit: "bounded memory",
        strategy=_draw(release=True, cancel_all=True),
        check=lambda kit, r: _checks.check_memory(r),
        skip=_always,
        doc="With release, retained States never exceed the States not yet consumed.",
    ),
}


def _make_test(cls: type[RunnerConformance], name: str, prop: _Property) -> Callable[..., None]:
    reason = prop.skip(cls)
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


def _make_machine_test(cls: type[RunnerConformance]) -> Callable[[RunnerConformance], None]:
    exact = cls.supports_mock_clock and cls.call_kind == "async"

    def test_state_machine_agrees_with_reference_model(self: RunnerConformance) -> None:
        if not exact:
            pytest.skip(
                "the state machine steps a MockClock and needs calls on the event loop"
                " (supports_mock_clock and call_kind='async')"
            )
        from ._machine import run_machine

        run_machine(self, settings(self.hypothesis_settings, deadline=None))

    test = test_state_machine_agrees_with_reference_model
    test.__doc__ = (
        "Random submit / wait-with-timeout / cancel / cancel_all / advance-clock / release "
        "steps on one long-lived run agree, step by step, with `ReferenceModel`."
    )
    if exact:
        # As Hypothesis marks its own state machine tests, so that its pytest plugin reports
        # their statistics.
        test.is_hypothesis_test = True  # type: ignore[attr-defined]
    return test
