"""The schedule of calls one example plays (`Schedule`) and the Hypothesis strategies that draw
it: durations, outcomes, cancel points, timeouts. Public through `trio_runners.testing.strategies`.
"""

from __future__ import annotations

import functools

import attrs
from hypothesis import strategies as st

__all__ = [
    "CRASH_KINDS",
    "CallSpec",
    "FRACTION",
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
      raises: after ``duration`` the call raises what is not an `Exception` and does not stop
        the run: ``stray_cancelled`` (a `trio.Cancelled` no scope caused), ``custom_base`` (a
        `BaseException` subclass) or ``base_group`` (a `BaseExceptionGroup` without
        KeyboardInterrupt/SystemExit); the call must end Crashed with it. None: it does not.
    """

    duration: float
    fails: bool = False
    submit_delay: float = 0.0
    cancel_after: float | None = None
    raises: str | None = None


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


# Strategies are built once per set of arguments and shared (they are immutable): Hypothesis
# validates a strategy object the first time it draws from it, and building and validating
# fresh ones for every draw of every example cost more than playing the example itself.


def ticks(max_units: int = 3) -> st.SearchStrategy[float]:
    """Non-negative times up to ``max_units``: whole numbers or k/64 fractions (exact floats)."""
    return _ticks(max_units)


@functools.cache
def _ticks(max_units: int) -> st.SearchStrategy[float]:
    # One integer draw, not a `one_of` of two: ``0 .. top`` are the k/64 fractions (0 first,
    # so values shrink towards 0), the rest are whole numbers, about as likely as a fraction,
    # so that times often coincide exactly.
    top = max_units * FRACTION

    def tick(k: int) -> float:
        return k / FRACTION if k <= top else float((k - top - 1) % (max_units + 1))

    return st.integers(0, 2 * top + 1).map(tick)


def durations(max_units: int = 3) -> st.SearchStrategy[float]:
    """How long a call runs: 0 (a single checkpoint) up to ``max_units``."""
    return ticks(max_units)


def timeouts(max_units: int = 4) -> st.SearchStrategy[float | None]:
    """A `wait` timeout: None (wait as long as it takes), 0 (poll), or a tick value."""
    return _timeouts(max_units)


@functools.cache
def _timeouts(max_units: int) -> st.SearchStrategy[float | None]:
    return st.one_of(st.none(), st.just(0.0), ticks(max_units))


def outcomes() -> st.SearchStrategy[bool]:
    """Whether a call fails (raises an `Exception`) instead of returning a value."""
    return st.booleans()


def cancel_points(max_units: int = 4) -> st.SearchStrategy[float | None]:
    """When to cancel: None (never), or a tick value (relative or absolute, per use)."""
    return _cancel_points(max_units)


@functools.cache
def _cancel_points(max_units: int) -> st.SearchStrategy[float | None]:
    return st.one_of(st.none(), ticks(max_units))


#: What a call of a `Schedule` may raise besides an `Exception`: the kinds that leave the run
#: alone (`CallSpec.raises`).
CRASH_KINDS = ("stray_cancelled", "custom_base", "base_group")


def call_specs(
    *, failures: bool = True, cancels: bool = True, max_duration: int = 3, crashes: bool = False
) -> st.SearchStrategy[CallSpec]:
    """One call: duration, outcome, delay before its submission, optional cancel point;
    ``crashes``: sometimes a `BaseException` of `CRASH_KINDS` instead."""
    return _call_specs(failures, cancels, max_duration, crashes)


@functools.cache
def _call_specs(
    failures: bool, cancels: bool, max_duration: int, crashes: bool
) -> st.SearchStrategy[CallSpec]:
    return st.builds(
        CallSpec,
        duration=durations(max_duration),
        fails=outcomes() if failures else st.just(False),
        submit_delay=st.one_of(st.just(0.0), ticks(1)),
        cancel_after=cancel_points() if cancels else st.none(),
        raises=(
            st.one_of(st.none(), st.none(), st.none(), st.sampled_from(CRASH_KINDS))
            if crashes
            else st.none()
        ),
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
    crashes: bool = False,
) -> Schedule:
    """A `Schedule`; each keyword switches one kind of event on or off."""
    calls = tuple(draw(_call_lists(min_calls, max_calls, failures, cancels, crashes)))
    n = len(calls)
    return Schedule(
        calls=calls,
        waits=tuple(draw(_wait_lists(n))) if waits else (),
        cancel_all_at=draw(cancel_points(6)) if cancel_all else None,
        scope_cancel_at=draw(cancel_points(6)) if scope_cancel else None,
        raise_at=draw(cancel_points(6)) if raise_in_block else None,
        consumer_delays=tuple(draw(_consumer_delays(n))) if release else None,
    )


@functools.cache
def _call_lists(
    min_calls: int, max_calls: int, failures: bool, cancels: bool, crashes: bool
) -> st.SearchStrategy[list[CallSpec]]:
    return st.lists(
        call_specs(failures=failures, cancels=cancels, crashes=crashes),
        min_size=min_calls,
        max_size=max_calls,
    )


@functools.cache
def _wait_lists(n: int) -> st.SearchStrategy[list[WaitSpec]]:
    """Up to ``2 * n`` waiters on calls ``0 .. n - 1``."""
    return st.lists(
        st.builds(WaitSpec, call=st.integers(0, n - 1), delay=ticks(4), timeout=timeouts()),
        max_size=2 * n,
    )


@functools.cache
def _consumer_delays(n: int) -> st.SearchStrategy[list[float]]:
    return st.lists(ticks(2), min_size=n, max_size=n)
