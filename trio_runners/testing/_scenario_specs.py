"""Structured situations for the kit's scenarios (backpressure with several submitters, nested
calls, waiters and consumers, BaseExceptions, abandoned sync calls) and the strategies that draw
them. Public through `trio_runners.testing.strategies`.
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

from ._schedule_specs import durations, ticks, timeouts

__all__ = [
    "AbandonSpec",
    "BASE_EXCEPTION_KINDS",
    "BaseExceptionSpec",
    "ConsumerSpec",
    "ContextSpec",
    "GatedSpec",
    "NestedCall",
    "NestedSpec",
    "ReturnedSpec",
    "PROPAGATING_KINDS",
    "RETURNED_KINDS",
    "ReclaimSpec",
    "WaitingSpec",
    "abandon_specs",
    "base_exception_specs",
    "context_specs",
    "gated_specs",
    "nested_calls",
    "nested_specs",
    "reclaim_specs",
    "returned_specs",
    "waiting_specs",
]

# ---------------------------------------------------------------------- scenario specs
#
# Structured situations, each played by its own scenario of the kit (`RunnerConformance`):
# several submitter tasks and backpressure (`gated_specs`), nested calls (`nested_specs`),
# waiters and ``as_completed`` consumers cancelled by their own scopes (`waiting_specs`),
# calls raising what is not an `Exception` (`base_exception_specs`), sync calls abandoned
# for good (`abandon_specs`), the context calls run in (`context_specs`), calls returning a
# State (`returned_specs`) and a lent slot taken back (`reclaim_specs`).


def _check_max_calls(strategy: str, max_calls: int) -> None:
    """A spec needs at least one call."""
    if isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls < 1:
        raise ValueError(
            f"{strategy}(max_calls=...) must be an int of at least 1, got {max_calls!r}"
        )


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
    _check_max_calls("gated_specs", max_calls)
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
    _check_max_calls("waiting_specs", max_calls)
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
    _check_max_calls("base_exception_specs", max_calls)
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


@attrs.frozen
class ContextSpec:
    """Submitter tasks, each submitting its calls in turn (``True``: a sync call, run in a
    worker thread). A submitter sets a `contextvars.ContextVar` to a value of its own before
    each submit, and to another once it is done; every call reads the variable, then sets it
    (which must reach neither its submitter nor any other call)."""

    submitters: tuple[tuple[bool, ...], ...]


@st.composite
def context_specs(draw: st.DrawFn, *, max_calls: int = 6, sync: bool = True) -> ContextSpec:
    """One to three submitters with one to three calls each, ``max_calls`` in all at most
    (``sync=False``: async calls only)."""
    _check_max_calls("context_specs", max_calls)
    kinds = st.booleans() if sync else st.just(False)
    submitters = draw(st.integers(1, min(3, max_calls)))
    left = max_calls
    drawn: list[tuple[bool, ...]] = []
    for i in range(submitters):
        most = min(3, left - (submitters - i - 1))  # a call at least for each one still to come
        calls = tuple(draw(st.lists(kinds, min_size=1, max_size=most)))
        left -= len(calls)
        drawn.append(calls)
    return ContextSpec(submitters=tuple(drawn))


#: The States a call of `ReturnedSpec` may return.
RETURNED_KINDS = ("completed", "failed", "cancelled", "crashed")


@attrs.frozen
class ReturnedSpec:
    """Calls that each *return* a State of the given kind (one of `RETURNED_KINDS`) instead of
    a plain value: async calls, or sync ones for ``call_kind = "sync"``."""

    calls: tuple[str, ...]


def returned_specs(*, max_calls: int = 4) -> st.SearchStrategy[ReturnedSpec]:
    """One to ``max_calls`` calls of any kind."""
    _check_max_calls("returned_specs", max_calls)
    return st.builds(
        ReturnedSpec,
        calls=st.lists(st.sampled_from(RETURNED_KINDS), min_size=1, max_size=max_calls).map(tuple),
    )


@attrs.frozen
class ReclaimSpec:
    """A parent call waiting on its child lends its worker slot; ``max_workers + extra``
    blockers then hold every slot while it waits to take one back, and it is cancelled there
    by ``how``: ``cancel`` (the parent alone) or ``cancel_all``."""

    extra: int
    how: str


def reclaim_specs() -> st.SearchStrategy[ReclaimSpec]:
    """Zero to two blockers more than the slots, cancelled either way."""
    return st.builds(
        ReclaimSpec, extra=st.integers(0, 2), how=st.sampled_from(("cancel", "cancel_all"))
    )
