"""Hypothesis strategies for schedules of calls: durations, outcomes, cancel points, timeouts.

Every time value is a whole number or a multiple of 1/64, so sums and comparisons of them are
exact in floating point: on `trio.testing.MockClock` "finished within the timeout" is then a
question with an exact answer. A `Schedule` is plain data (attrs, frozen) that the conformance
kit plays against a runner; build your own with the strategies here or by hand.
"""

from __future__ import annotations

import functools

import attrs
from hypothesis import strategies as st

__all__ = [
    "BASE_EXCEPTION_KINDS",
    "CRASH_KINDS",
    "FRACTION",
    "PROPAGATING_KINDS",
    "AbandonSpec",
    "BaseExceptionSpec",
    "CallSpec",
    "ConsumerSpec",
    "GatedSpec",
    "NestedCall",
    "NestedSpec",
    "Schedule",
    "WaitSpec",
    "WaitingSpec",
    "abandon_specs",
    "base_exception_specs",
    "call_specs",
    "gated_specs",
    "nested_calls",
    "nested_specs",
    "waiting_specs",
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


# ---------------------------------------------------------------------- scenario specs
#
# Structured situations, each played by its own scenario of the kit (`RunnerConformance`):
# several submitter tasks and backpressure (`gated_specs`), nested calls (`nested_specs`),
# waiters and ``as_completed`` consumers cancelled by their own scopes (`waiting_specs`),
# calls raising what is not an `Exception` (`base_exception_specs`), and sync calls
# abandoned for good (`abandon_specs`).

#: What a call may raise besides an `Exception` (see `BaseExceptionSpec`).
BASE_EXCEPTION_KINDS = (
    "stray_cancelled",
    "custom_base",
    "base_group",
    "keyboard_interrupt",
    "system_exit",
    "ki_group",
)
#: The kinds that propagate out of ``start()`` (KeyboardInterrupt / SystemExit, or a
#: BaseExceptionGroup holding one); the others leave the run alone.
PROPAGATING_KINDS = frozenset({"keyboard_interrupt", "system_exit", "ki_group"})


@attrs.frozen
class GatedSpec:
    """Calls that block until the scenario opens their gate, each submitted by a task of its
    own, and what the scenario then does, in order.

    Attributes:
      calls: how many calls (call ``i`` is submitted after call ``i - 1``'s submitter has
        returned or blocked in ``submit``).
      actions: ``("release", r)``: open the gate of running call ``r`` (modulo how many run);
        ``("cancel", q)``: ``runner.cancel()`` live queued call ``q``; ``("abandon", q)``:
        cancel the scope of a submitter still blocked in ``submit``.
    """

    calls: int
    actions: tuple[tuple[str, int], ...] = ()


def gated_specs(*, max_calls: int = 6, abandon: bool = True) -> st.SearchStrategy[GatedSpec]:
    """`GatedSpec` with 1..``max_calls`` calls and up to ``2 * calls + 2`` actions."""
    kinds = ("release", "cancel", "abandon") if abandon else ("release", "cancel")
    return st.integers(1, max_calls).flatmap(
        lambda n: st.builds(
            GatedSpec,
            calls=st.just(n),
            actions=st.lists(
                st.tuples(st.sampled_from(kinds), st.integers(0, 7)), max_size=2 * n + 2
            ).map(tuple),
        )
    )


@attrs.frozen
class NestedCall:
    """A call that submits ``children`` to its own runner, then collects their results by
    ``collect``: ``none`` (does not wait), ``wait``, ``wait_timeout`` (a wait with a long
    timeout) or ``as_completed``. A ``sync`` call runs in a worker thread and reaches the
    runner through ``trio.from_thread.run``. It returns 1 + what it collected."""

    sync: bool
    collect: str
    children: tuple[NestedCall, ...] = ()


@attrs.frozen
class NestedSpec:
    """Root calls submitted in order from the ``start()`` block."""

    roots: tuple[NestedCall, ...]


def nested_calls(*, depth: int = 2, sync: bool = True) -> st.SearchStrategy[NestedCall]:
    """A tree of nested calls ``depth`` levels deep at most."""
    kinds = st.booleans() if sync else st.just(False)
    collect = st.sampled_from(("none", "wait", "wait_timeout", "as_completed"))
    leaf = st.builds(NestedCall, sync=kinds, collect=st.just("none"))
    if depth <= 0:
        return leaf
    children = st.lists(nested_calls(depth=depth - 1, sync=sync), max_size=3).map(tuple)
    return st.one_of(leaf, st.builds(NestedCall, sync=kinds, collect=collect, children=children))


def _size(call: NestedCall) -> int:
    return 1 + sum(_size(c) for c in call.children)


def nested_specs(
    *, sync: bool = True, max_total: int | None = None
) -> st.SearchStrategy[NestedSpec]:
    """One to three root calls, each a tree two levels deep at most; ``max_total`` calls in
    all at most (None: no limit)."""
    specs = st.builds(
        NestedSpec, roots=st.lists(nested_calls(sync=sync), min_size=1, max_size=3).map(tuple)
    )
    if max_total is None:
        return specs
    return specs.filter(lambda spec: sum(map(_size, spec.roots)) <= max_total)


@attrs.frozen
class ConsumerSpec:
    """An ``as_completed`` consumer.

    Attributes:
      keys: the calls it iterates over (duplicates allowed: each is reported once).
      delay: when it starts (after its keys are submitted).
      step_timeouts: a timeout scope around each step in turn (None: none; after the last,
        none); a cancelled step is simply followed by the next one.
      aclose_after: ``aclose()`` after this many items (None: iterate to the end).
      release: ``release()`` each key as soon as it is received.
    """

    keys: tuple[int, ...]
    delay: float
    step_timeouts: tuple[float | None, ...]
    aclose_after: int | None
    release: bool


@attrs.frozen
class WaitingSpec:
    """Async calls (durations, whether each fails) submitted at once, ``as_completed``
    consumers, and waiters ``(call, timeout, cancel_after)`` cancelled by their own scope
    ``cancel_after`` after they start."""

    durations: tuple[float, ...]
    fails: tuple[bool, ...]
    consumers: tuple[ConsumerSpec, ...]
    waiters: tuple[tuple[int, float | None, float], ...]


@st.composite
def waiting_specs(draw: st.DrawFn, *, max_calls: int = 5) -> WaitingSpec:
    """A `WaitingSpec`; a releasing consumer is alone and has no waiters beside it."""
    n = draw(st.integers(1, max_calls))
    indices = st.integers(0, n - 1)
    release = draw(st.booleans())

    def consumer(releases: bool) -> st.SearchStrategy[ConsumerSpec]:
        return st.builds(
            ConsumerSpec,
            keys=st.lists(indices, min_size=1, max_size=n + 2).map(tuple),
            delay=ticks(2),
            step_timeouts=st.lists(st.one_of(st.none(), ticks(2)), max_size=n + 2).map(tuple),
            aclose_after=st.one_of(st.none(), st.integers(0, n)),
            release=st.just(releases),
        )

    consumers: tuple[ConsumerSpec, ...]
    if release:
        consumers = (draw(consumer(True)),)
        waiters: tuple[tuple[int, float | None, float], ...] = ()
    else:
        consumers = tuple(draw(st.lists(consumer(False), max_size=3)))
        waiters = tuple(draw(st.lists(st.tuples(indices, timeouts(), ticks(3)), max_size=2 * n)))
    return WaitingSpec(
        durations=tuple(draw(st.lists(durations(), min_size=n, max_size=n))),
        fails=tuple(draw(st.lists(st.booleans(), min_size=n, max_size=n))),
        consumers=consumers,
        waiters=waiters,
    )


@attrs.frozen
class BaseExceptionSpec:
    """Calls ``(duration, kind, sync)`` submitted at the (non-decreasing) times ``delays``.

    ``kind``: ``ok`` (returns its index), ``fail`` (raises an `Exception`) or one of
    `BASE_EXCEPTION_KINDS`. An async call raises after ``duration``; a ``sync`` call (never
    of a propagating kind) raises at once in a worker thread.
    """

    calls: tuple[tuple[float, str, bool], ...]
    delays: tuple[float, ...]


@st.composite
def base_exception_specs(
    draw: st.DrawFn, *, max_calls: int = 5, sync: bool = True
) -> BaseExceptionSpec:
    """Calls of every kind next to ordinary siblings."""
    kinds = st.sampled_from(("ok", "fail", *BASE_EXCEPTION_KINDS))
    calls = draw(
        st.lists(st.tuples(durations(), kinds, st.booleans()), min_size=1, max_size=max_calls)
    )
    calls = [(d, k, s and sync and k not in PROPAGATING_KINDS) for d, k, s in calls]
    delays = sorted(draw(st.lists(ticks(2), min_size=len(calls), max_size=len(calls))))
    return BaseExceptionSpec(calls=tuple(calls), delays=tuple(delays))


@attrs.frozen
class AbandonSpec:
    """``calls`` sync calls blocked for good, abandoned by ``how``: ``cancel`` (each call in
    turn), ``cancel_all`` or ``scope`` (the scope around ``start()``)."""

    calls: int
    how: str


def abandon_specs() -> st.SearchStrategy[AbandonSpec]:
    """A few blocked calls, or more than Trio's default thread limiter holds (40)."""
    return st.builds(
        AbandonSpec,
        calls=st.one_of(st.integers(1, 3), st.integers(41, 43)),
        how=st.sampled_from(("cancel", "cancel_all", "scope")),
    )
