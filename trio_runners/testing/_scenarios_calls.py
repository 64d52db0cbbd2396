"""Scenario properties of calls and waiters: waiters and ``as_completed`` consumers cancelled
by their own scopes, calls raising a `BaseException`, sync calls abandoned for good. Played and
judged as in `_scenarios`.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable, Hashable
from typing import Any

import trio
import trio.testing

from .._states import State
from .._trace import TraceRecorder
from ._calls import make_raising
from ._scenario_tools import HANG, MOCK_HANG
from ._scenario_tools import contains as _contains
from ._scenario_tools import is_or_caused_by as _is_or_caused_by
from ._scenario_tools import key as _key
from ._scenario_tools import leaves as _leaves
from ._scenario_tools import settle as _settle
from ._settings import KitSettings
from .strategies import PROPAGATING_KINDS, AbandonSpec, BaseExceptionSpec, ConsumerSpec, WaitingSpec

if sys.version_info < (3, 11):  # pragma: no cover
    pass

__all__ = ["play_abandoned", "play_base_exceptions", "play_waiting"]


# ---------------------------------------------------------------------- waiters, as_completed


def play_waiting(kit: KitSettings, spec: WaitingSpec) -> list[str]:
    """Waiters and ``as_completed`` consumers cancelled by their own scopes mid-run.

    Calls run on a MockClock. Each consumer iterates ``as_completed`` over some keys (with
    duplicates), each step under its own timeout scope; it may ``aclose()`` early, and it may
    ``release`` each key it receives. Waiters wait under their own scope, cancelled mid-wait.
    Checked: no step loses an item (each distinct key exactly once, unless closed early, then
    a prefix and then nothing), items come in the order the calls finished, every item's State
    is the call's final State, and ``statistics().waiters`` is back to 0 once every waiter has
    left, cancelled or not.
    """
    return trio.run(_waiting, kit, spec, clock=trio.testing.MockClock(autojump_threshold=0))


async def _waiting(kit: KitSettings, spec: WaitingSpec) -> list[str]:
    runner = kit.new_runner()
    recorder = TraceRecorder()
    runner.add_instrument(recorder)
    n = len(spec.durations)
    violations: list[str] = []
    received: dict[int, list[tuple[Hashable, State[Any]]]] = {}
    registered = [trio.Event() for _ in range(n)]
    created: dict[int, int] = {}  # consumer -> lifecycle events recorded before as_completed
    t0 = trio.current_time()

    def make_call(i: int) -> Callable[[], Any]:
        async def call() -> int:
            await trio.sleep(spec.durations[i])
            if spec.fails[i]:
                raise ValueError(i)
            return i

        return call

    async def consumer(c: int, consumer_spec: ConsumerSpec) -> None:
        for i in consumer_spec.keys:
            await registered[i].wait()
        await trio.sleep_until(t0 + consumer_spec.delay)
        got = received[c] = []
        created[c] = len(recorder.events)
        results = runner.as_completed([_key(i) for i in consumer_spec.keys])
        steps = iter(consumer_spec.step_timeouts)
        while True:
            if consumer_spec.aclose_after is not None and len(got) == consumer_spec.aclose_after:
                await results.aclose()
                try:
                    extra = await results.__anext__()
                except StopAsyncIteration:
                    pass
                else:
                    violations.append(f"consumer {c}: as_completed gave {extra!r} after aclose()")
                return
            timeout = next(steps, None)
            with trio.move_on_after(math.inf if timeout is None else timeout):
                try:
                    item = await results.__anext__()
                except StopAsyncIteration:
                    return
                got.append(item)
                if consumer_spec.release:
                    runner.release(item[0])

    async def waiter(i: int, timeout: float | None, cancel_after: float) -> None:
        with trio.move_on_after(cancel_after):
            await runner.wait(_key(i), timeout)

    with trio.move_on_after(MOCK_HANG) as guard:
        async with runner.start(), trio.open_nursery() as nursery:
            for c, consumer_spec in enumerate(spec.consumers):
                nursery.start_soon(consumer, c, consumer_spec)
            for i in range(n):
                # The next waiters and consumers run once submit() has registered the key.
                registered[i].set()
                for call, w_timeout, cancel_after in spec.waiters:
                    if call == i:
                        nursery.start_soon(waiter, i, w_timeout, cancel_after)
                await runner.submit(_key(i), make_call(i))
        # Every waiter and consumer has left, cancelled by its own scope or not.
        stats = runner.statistics()
    if guard.cancelled_caught:
        return [f"waiters or consumers still blocked at t={MOCK_HANG} ({runner.statistics()})"]
    if stats.waiters != 0:
        violations.append(
            f"statistics().waiters == {stats.waiters} after every waiter and consumer left"
            " (some were cancelled by their own scopes)"
        )
    finish: dict[Hashable, tuple[int, float]] = {}
    for event in recorder.events:
        if event["event"] == "finished":
            finish[event["key"]] = (event["seq"], event["time"])
    for c, consumer_spec in enumerate(spec.consumers):
        got = received.get(c, [])
        keys = [_key(i) for i in dict.fromkeys(consumer_spec.keys)]
        got_keys = [k for k, _ in got]
        if len(set(got_keys)) != len(got_keys):
            violations.append(f"consumer {c}: a key was delivered twice: {got_keys}")
        if consumer_spec.aclose_after is None and sorted(map(str, got_keys)) != sorted(
            map(str, keys)
        ):
            violations.append(
                f"consumer {c}: as_completed over {keys} delivered {got_keys}"
                " (a cancelled step must lose no item)"
            )
        # Calls finished before as_completed() was called come first (in any order), then
        # the others in the order they finished.
        order = [finish[k][0] for k in got_keys if k in finish]
        before = [seq < created.get(c, 0) for seq in order]
        later = [seq for seq in order if seq >= created.get(c, 0)]
        if before != sorted(before, reverse=True) or later != sorted(later):
            violations.append(
                f"consumer {c}: items came in the order {got_keys}, not: the calls finished"
                " before as_completed() first, then the others in the order they finished"
            )
        if not consumer_spec.release:
            for k, state in got:
                if runner.state(k) is not state:
                    violations.append(
                        f"consumer {c}: got {state!r} for {k}, the final State is"
                        f" {runner.state(k)!r}"
                    )
    return violations


# ---------------------------------------------------------------------- base exceptions


def play_base_exceptions(kit: KitSettings, spec: BaseExceptionSpec) -> list[str]:
    """Calls that raise what is not an `Exception`, next to ordinary siblings, on a MockClock.

    A stray `trio.Cancelled` (no scope cancelled it), a custom `BaseException` or a
    `BaseExceptionGroup` without KeyboardInterrupt/SystemExit: the call ends Crashed and the
    run, its block and its siblings are left alone. `KeyboardInterrupt`, `SystemExit` (or a
    group holding one): Crashed, and it propagates out of ``start()`` at that instant (the
    very exception object), every unfinished sibling ends Cancelled.
    """
    return trio.run(_base_exceptions, kit, spec, clock=trio.testing.MockClock(autojump_threshold=0))


async def _base_exceptions(kit: KitSettings, spec: BaseExceptionSpec) -> list[str]:
    runner = kit.new_runner()
    n = len(spec.calls)
    violations: list[str] = []
    raised: dict[int, BaseException] = {}
    raised_at: dict[int, float] = {}
    finished_at: dict[int, float] = {}
    submitted = [False] * n
    block_done = False
    t0 = trio.current_time()
    propagating = kit.in_process

    def make_call(i: int) -> Callable[[], Any]:
        duration, kind, sync = spec.calls[i]

        def sync_call() -> int:
            if kind == "ok":
                return i
            exc = raised[i] = make_raising(kind)
            raise exc

        async def call() -> int:
            await trio.sleep(duration)
            if kind == "ok":
                finished_at[i] = trio.current_time()
                return i
            exc = raised[i] = make_raising(kind)
            raised_at[i] = trio.current_time()
            raise exc

        return sync_call if sync else call

    error: BaseException | None = None
    try:
        async with runner.start():
            for i, (delay, _) in enumerate(zip(spec.delays, spec.calls, strict=True)):
                await trio.sleep_until(t0 + delay)
                submitted[i] = True
                await runner.submit(_key(i), make_call(i))
            block_done = True
    except BaseException as exc:
        ours = [leaf for e in raised.values() for leaf in _leaves(e)]
        if any(
            isinstance(leaf, KeyboardInterrupt) and not any(leaf is o for o in ours)
            for leaf in _leaves(exc)
        ):
            raise  # a real Ctrl-C, not one of the calls'
        error = exc
    exit_time = trio.current_time()
    fatal = sorted(
        (i for i in raised if spec.calls[i][1] in PROPAGATING_KINDS), key=raised_at.__getitem__
    )
    if propagating and fatal:
        first = fatal[0]
        if error is None or not _contains(error, raised[first]):
            violations.append(
                f"call {first} raised {raised[first]!r} at {raised_at[first]}, but start()"
                f" {'raised ' + repr(error) if error else 'returned normally'}: it must"
                " propagate"
            )
        elif exit_time != raised_at[first]:
            violations.append(
                f"start() exited at {exit_time}, not at once when call {first} raised"
                f" {raised[first]!r} at {raised_at[first]}"
            )
    elif error is not None:
        if isinstance(error, trio.Cancelled):
            violations.append(
                "start() raised trio.Cancelled though no scope was cancelled (a call's stray"
                " Cancelled cancelled the run)"
            )
        else:
            violations.append(f"start() raised {error!r}; the run should have been left alone")
    elif not block_done:
        violations.append("the start() block did not run to its end")
    if violations:
        return violations
    end = raised_at[fatal[0]] if propagating and fatal else math.inf
    for i in range(n):
        if not submitted[i]:
            continue
        state = runner.state(_key(i))
        _, kind, sync = spec.calls[i]
        if state is None:
            violations.append(f"call {i} has no State after the runner exited")
        elif sync and end != math.inf and state.is_cancelled():
            continue  # a sync call has no instant: it may not have ended before the interrupt
        elif sync and kind == "ok":
            if not state.is_completed() or state.result() != i:
                violations.append(f"call {i} returned {i}, it ended {state!r}")
        elif i in raised:
            if raised_at.get(i, -math.inf) >= end and i != fatal[0]:
                continue  # raised at the very instant the run was interrupted
            if kind == "fail":
                if not state.is_failed() or state.exception() is not raised[i]:
                    violations.append(f"call {i} raised {raised[i]!r}, it ended {state!r}")
            elif not state.is_crashed() or not _is_or_caused_by(state.exception(), raised[i]):
                violations.append(
                    f"call {i} raised {raised[i]!r}, it ended {state!r}, not Crashed with it"
                )
        elif i in finished_at and finished_at[i] <= end:
            if finished_at[i] == end and state.is_cancelled():
                continue  # finished at the very instant the run was interrupted
            if not state.is_completed() or state.result() != i:
                violations.append(f"call {i} returned {i}, it ended {state!r}")
        elif not state.is_cancelled():
            violations.append(
                f"call {i} was still running when the run was interrupted, it ended {state!r}"
            )
    return violations


# ---------------------------------------------------------------------- abandoned sync calls


def play_abandoned(kit: KitSettings, spec: AbandonSpec) -> list[str]:
    """Sync calls blocked for good (until the example ends), abandoned by ``cancel()``,
    ``cancel_all()`` or the scope around ``start()``. Afterwards, in the same ``trio.run``, a
    plain ``trio.to_thread.run_sync`` and the runner's next run must still work, and the
    abandoned threads must hold no token of Trio's default thread limiter."""
    release = threading.Event()
    try:
        return trio.run(_abandoned, kit, spec, release)
    finally:
        release.set()


async def _release_at(deadline: float, release: threading.Event, fired: list[bool]) -> None:
    await trio.sleep_until(deadline)
    fired.append(True)
    release.set()


async def _abandoned(kit: KitSettings, spec: AbandonSpec, release: threading.Event) -> list[str]:
    runner = kit.new_runner()
    violations: list[str] = []
    default = trio.to_thread.current_default_thread_limiter()
    before = default.borrowed_tokens
    keys = [_key(i) for i in range(spec.calls)]

    def blocked() -> None:
        release.wait()

    # If the runner waits for its blocked threads, the guard alone could not end the run (nor,
    # as a Trio nursery waiting for its children, would it see the guard's cancellation): once
    # the guard has fired (its deadline comes first) the watchdog lets the threads return, and
    # the hang is reported.
    deadline = trio.current_time() + HANG
    fired: list[bool] = []
    async with trio.open_nursery() as watchdog:
        watchdog.start_soon(_release_at, deadline + 0.5, release, fired)
        with trio.move_on_at(deadline) as guard:
            with trio.CancelScope() as scope:
                async with runner.start(), trio.open_nursery() as nursery:
                    for key in keys:
                        nursery.start_soon(runner.submit, key, blocked)
                        await _settle()
                    if spec.how == "scope":
                        scope.cancel()
                    elif spec.how == "cancel_all":
                        while runner.cancel_all():
                            await _settle()  # a sequential runner registers the next call
                    else:
                        for key in keys:
                            if runner.cancel(key) is not True:
                                violations.append(f"cancel({key!r}) of a blocked call was not True")
                            await _settle()
        watchdog.cancel_scope.cancel()
    if guard.cancelled_caught or fired:
        return [f"the runner did not exit within {HANG} s after its sync calls were abandoned"]
    held = default.borrowed_tokens - before
    if held > 0:
        violations.append(
            f"{spec.calls} abandoned sync calls hold {held} tokens of Trio's default thread"
            " limiter: they starve every other trio.to_thread user of this process"
        )
        if default.available_tokens == 0:
            return violations  # trio.to_thread.run_sync would wait for ever
    with trio.move_on_after(HANG) as guard:
        if await trio.to_thread.run_sync(int) != 0:  # pragma: no cover
            violations.append("trio.to_thread.run_sync returned a wrong value")
    if guard.cancelled_caught:
        violations.append(
            f"after {spec.calls} sync calls were abandoned, trio.to_thread.run_sync never ran"
        )
        return violations
    with trio.move_on_after(HANG) as guard:
        async with runner.start():
            await runner.submit("after", lambda: 7)
            state = await runner.wait("after")
        if state is None or not state.is_completed() or state.result() != 7:
            violations.append(f"a sync call in the next run ended {state!r}")
    if guard.cancelled_caught:
        violations.append(
            f"after {spec.calls} sync calls were abandoned, the runner's next run never ran"
            " a sync call"
        )
    return violations
