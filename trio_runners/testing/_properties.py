"""The timed properties: each a schedule strategy and a judge, made into a ``@given`` test.

`PROPERTIES` maps a test name to a `Property` (what to draw, what to check, which capabilities
it needs, when it does not apply); `make_test` turns one into the test a `RunnerConformance`
subclass gets, or into a skip that names the missing capability.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from . import _checks, _landmarks
from ._play import play_checked
from ._report import Report
from ._settings import KitSettings, always, is_exact, skip_reason
from .strategies import Schedule, schedules

__all__ = ["PROPERTIES", "Property", "make_test"]


@attrs.frozen
class Property:
    """One property: what to draw, what to check, when it does not apply."""

    title: Callable[[KitSettings], str]
    strategy: Callable[[type[KitSettings]], st.SearchStrategy[Schedule]]
    check: Callable[[KitSettings, Report], list[str]]
    skip: Callable[[type[KitSettings]], str | None]
    doc: str
    #: The optional capabilities (`CAPABILITIES`) it cannot do without.
    needs: tuple[str, ...] = ()
    #: The schedules it plays first, before any it draws (see `_landmarks`).
    landmarks: Callable[[type[KitSettings]], list[Schedule]] = _landmarks.none


def _needs_fifo_observable(cls: type[KitSettings]) -> str | None:
    if cls.max_workers is None:
        return "the runner does not declare max_workers"
    if not is_exact(cls) and cls.max_workers != 1:
        return (
            "FIFO admission with more than one worker needs exact start times"
            " (supports_mock_clock and call_kind='async'): a call in a thread or process"
            " records its start some time after it was admitted"
        )
    return None


def _draw(**kwargs: Any) -> Callable[[type[KitSettings]], st.SearchStrategy[Schedule]]:
    def strategy(cls: type[KitSettings]) -> st.SearchStrategy[Schedule]:
        # Calls that raise a stray Cancelled, a custom BaseException or a BaseExceptionGroup
        # (each must end Crashed and leave the run alone) on runners whose calls run here.
        # Per-call cancel() and cancel_all() only where the runner has them.
        options = dict(kwargs)
        options["cancels"] = options.get("cancels", True) and cls.supports_cancel
        options["cancel_all"] = options.get("cancel_all", False) and cls.supports_cancel_all
        return schedules(max_calls=cls.max_calls, crashes=True, **options)

    return strategy


def _k(kit: KitSettings) -> int:
    if kit.max_workers is None:  # the property needs capability max_workers
        raise RuntimeError("the kit declares no max_workers")
    return kit.max_workers


PROPERTIES: dict[str, Property] = {
    "test_sequential_ordering": Property(
        title=lambda kit: "sequential ordering",
        strategy=_draw(cancel_all=True, scope_cancel=True, raise_in_block=True),
        check=lambda kit, r: _checks.judge_sequential(r) + _checks.judge_max_workers(r, 1),
        skip=always,
        doc="Calls start in submission order; each ends before the next starts; at most one "
        "runs -- under random durations, failures and cancellations.",
        needs=("sequential",),
        landmarks=_landmarks.fitting(_landmarks.sequential),
    ),
    "test_max_workers_is_never_exceeded": Property(
        title=lambda kit: f"max_workers={kit.max_workers} bound",
        strategy=_draw(cancel_all=True, scope_cancel=True),
        check=lambda kit, r: _checks.judge_max_workers(r, _k(kit)),
        skip=always,
        doc="With max_workers=k the number of calls running never exceeds k.",
        needs=("max_workers",),
        landmarks=_landmarks.fitting(_landmarks.bound),
    ),
    "test_max_workers_admission_is_fifo": Property(
        title=lambda kit: f"max_workers={kit.max_workers} FIFO admission",
        strategy=_draw(cancel_all=True),
        check=lambda kit, r: _checks.judge_fifo(r, _k(kit)),
        skip=_needs_fifo_observable,
        doc="With max_workers=k calls are admitted in submission order.",
        needs=("max_workers",),
        landmarks=_landmarks.fitting(_landmarks.bound),
    ),
    "test_each_call_runs_exactly_once": Property(
        title=lambda kit: "exactly once",
        strategy=_draw(cancel_all=True, scope_cancel=True, raise_in_block=True),
        check=lambda kit, r: _checks.judge_exactly_once(r),
        skip=always,
        doc="Each call runs at most once, and exactly once unless cancelled before it started.",
        landmarks=_landmarks.fitting(_landmarks.exactly_once),
    ),
    "test_wait_returns_the_state_iff_finished_within_timeout": Property(
        title=lambda kit: "wait semantics",
        strategy=_draw(waits=True),
        check=lambda kit, r: _checks.judge_wait(r),
        skip=always,
        doc="wait(key, t) returns the State iff the call finished within t of the wait "
        "starting, else None; a later wait gets the State; the timeout never changes the "
        "outcome; concurrent waiters get the same State. To the instant where times are exact.",
        landmarks=_landmarks.fitting(_landmarks.wait),
    ),
    "test_cancellation_ends_each_call_once_and_propagates": Property(
        title=lambda kit: "cancellation",
        strategy=_draw(waits=True, cancel_all=True, scope_cancel=True, raise_in_block=True),
        check=lambda kit, r: _checks.judge_cancellation(r),
        skip=always,
        doc="Cancels at random instants (per call, cancel_all, the enclosing scope, an "
        "exception in the block): one terminal State per call, finished calls keep theirs, "
        "Cancelled is never swallowed, no waiter hangs after the runner exits.",
        landmarks=_landmarks.fitting(_landmarks.cancellation),
    ),
    "test_release_keeps_memory_bounded": Property(
        title=lambda kit: "bounded memory",
        strategy=_draw(release=True, cancel_all=True),
        check=lambda kit, r: _checks.judge_memory(r),
        skip=always,
        doc="With release, retained States never exceed the States not yet consumed.",
        needs=("release", "statistics", "state"),
        landmarks=_landmarks.fitting(_landmarks.memory),
    ),
}


def make_test(cls: type[KitSettings], name: str, prop: Property) -> Callable[..., None]:
    reason = skip_reason(cls, prop.needs, prop.skip)
    if reason is not None:

        def skipped(self: KitSettings) -> None:
            pytest.skip(reason)

        test: Callable[..., None] = skipped
    else:

        def check(self: KitSettings, schedule: Schedule) -> None:
            play_checked(self, prop.title(self), lambda r: prop.check(self, r), schedule)

        check.__name__ = check.__qualname__ = name
        check.__doc__ = prop.doc
        # Keep saved examples apart per runner class and property (the hook Hypothesis uses
        # for parametrized tests).
        owner = f"{cls.__module__}.{cls.__qualname__}.{name}"
        check._hypothesis_internal_add_digest = owner.encode()  # type: ignore[attr-defined]
        # deadline=None: an example's time depends on Trio's start-up and, for runners on real
        # time, on the machine's load, not on the code under test.
        test = _landmarks.played_first(
            given(schedule=prop.strategy(cls))(check), prop.landmarks(cls), "schedule"
        )
        test = settings(cls.hypothesis_settings, deadline=None)(test)
    test.__name__ = test.__qualname__ = name
    test.__doc__ = prop.doc
    return test
