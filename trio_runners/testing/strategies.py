"""Hypothesis strategies for schedules of calls: durations, outcomes, cancel points, timeouts.

Every time value is a whole number or a multiple of 1/64, so sums and comparisons of them are
exact in floating point: on `trio.testing.MockClock` "finished within the timeout" is then a
question with an exact answer. A `Schedule` is plain data (attrs, frozen) that the conformance
kit plays against a runner; build your own with the strategies here or by hand.
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

__all__ = [
    "FRACTION",
    "CallSpec",
    "Schedule",
    "WaitSpec",
    "call_specs",
    "cancel_points",
    "durations",
    "outcomes",
    "schedules",
    "ticks",
    "timeouts",
]

#: Time values are drawn as ``k / FRACTION`` (or whole numbers): exact binary fractions.
FRACTION = 64


@attrs.frozen
class CallSpec:
    """One call of a schedule.

    Attributes:
      duration: how long the call runs (clock units; seconds on a MockClock).
      fails: the call raises (an `Exception`) instead of returning.
      submit_delay: how long the submitter sleeps before submitting this call.
      cancel_after: ``runner.cancel(key)`` this long after the call was submitted; None: never.
    """

    duration: float
    fails: bool = False
    submit_delay: float = 0.0
    cancel_after: float | None = None


@attrs.frozen
class WaitSpec:
    """A waiter: ``delay`` after call ``call`` is submitted, ``await runner.wait(key, timeout)``."""

    call: int
    delay: float
    timeout: float | None


@attrs.frozen
class Schedule:
    """What the kit does to a runner in one example.

    Attributes:
      calls: submitted in this order by one submitter task (for `SequentialTaskRunner` the
        submitter is the ``start()`` block itself).
      waits: extra waiters with timeouts (each call also gets one waiter without a timeout).
      cancel_all_at: time of a ``runner.cancel_all()``; None: none.
      scope_cancel_at: time at which the cancel scope enclosing ``start()`` is cancelled.
      raise_at: time at which the ``start()`` block raises an exception.
      consumer_delays: if not None, a consumer waits for each call in submission order, sleeps
        ``consumer_delays[i]``, then ``release()``s it (the bounded-memory property).
    """

    calls: tuple[CallSpec, ...]
    waits: tuple[WaitSpec, ...] = ()
    cancel_all_at: float | None = None
    scope_cancel_at: float | None = None
    raise_at: float | None = None
    consumer_delays: tuple[float, ...] | None = None


def ticks(max_units: int = 3) -> st.SearchStrategy[float]:
    """Non-negative times up to ``max_units``: whole numbers or k/64 fractions (exact floats)."""
    return st.one_of(
        st.integers(0, max_units).map(float),
        st.integers(0, max_units * FRACTION).map(lambda k: k / FRACTION),
    )


def durations(max_units: int = 3) -> st.SearchStrategy[float]:
    """How long a call runs: 0 (a single checkpoint) up to ``max_units``."""
    return ticks(max_units)


def timeouts(max_units: int = 4) -> st.SearchStrategy[float | None]:
    """A `wait` timeout: None (wait as long as it takes), 0 (poll), or a tick value."""
    return st.one_of(st.none(), st.just(0.0), ticks(max_units))


def outcomes() -> st.SearchStrategy[bool]:
    """Whether a call fails (raises an `Exception`) instead of returning a value."""
    return st.booleans()


def cancel_points(max_units: int = 4) -> st.SearchStrategy[float | None]:
    """When to cancel: None (never), or a tick value (relative or absolute, per use)."""
    return st.one_of(st.none(), ticks(max_units))


def call_specs(
    *, failures: bool = True, cancels: bool = True, max_duration: int = 3
) -> st.SearchStrategy[CallSpec]:
    """One call: duration, outcome, delay before its submission, optional cancel point."""
    return st.builds(
        CallSpec,
        duration=durations(max_duration),
        fails=outcomes() if failures else st.just(False),
        submit_delay=st.one_of(st.just(0.0), ticks(1)),
        cancel_after=cancel_points() if cancels else st.none(),
    )


@st.composite
def schedules(
    draw: st.DrawFn,
    *,
    min_calls: int = 1,
    max_calls: int = 8,
    failures: bool = True,
    cancels: bool = True,
    waits: bool = False,
    cancel_all: bool = False,
    scope_cancel: bool = False,
    raise_in_block: bool = False,
    release: bool = False,
) -> Schedule:
    """A `Schedule`; each keyword switches one kind of event on or off."""
    calls = tuple(
        draw(
            st.lists(
                call_specs(failures=failures, cancels=cancels),
                min_size=min_calls,
                max_size=max_calls,
            )
        )
    )
    n = len(calls)
    wait_specs: tuple[WaitSpec, ...] = ()
    if waits:
        wait_specs = tuple(
            draw(
                st.lists(
                    st.builds(
                        WaitSpec,
                        call=st.integers(0, n - 1),
                        delay=ticks(4),
                        timeout=timeouts(),
                    ),
                    max_size=2 * n,
                )
            )
        )
    return Schedule(
        calls=calls,
        waits=wait_specs,
        cancel_all_at=draw(cancel_points(6)) if cancel_all else None,
        scope_cancel_at=draw(cancel_points(6)) if scope_cancel else None,
        raise_at=draw(cancel_points(6)) if raise_in_block else None,
        consumer_delays=(
            tuple(draw(st.lists(ticks(2), min_size=n, max_size=n))) if release else None
        ),
    )
