"""Scenario properties: structured situations the timed schedule driver cannot express.

Each scenario is a small, frozen spec drawn by Hypothesis (see `trio_runners.testing.strategies`)
and a function that plays it against a new runner in a fresh ``trio.run`` and returns the
violations it saw (an empty list: the runner conformed). They use only the public contract
(``start``, ``submit``, ``wait``, ``as_completed``, ``cancel``, ``release``, ``state``,
``statistics``) and public Trio APIs.

Ordering here comes from structure, never from the clock: a gated call blocks until the
scenario opens its gate, and the scenario waits for `trio.testing.wait_all_tasks_blocked`
(or for a call's own start notification) before it judges what the runner did.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import trio
import trio.testing

from .._states import State
from .._trace import TraceRecorder
from ._driver import make_raising
from .strategies import (
    PROPAGATING_KINDS,
    AbandonSpec,
    BaseExceptionSpec,
    ConsumerSpec,
    GatedSpec,
    NestedCall,
    NestedSpec,
    WaitingSpec,
)

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from ._conformance import RunnerConformance

__all__ = [
    "play_abandoned",
    "play_agen",
    "play_base_exceptions",
    "play_gated",
    "play_nested",
    "play_waiting",
]

#: Real seconds after which a scenario on the real clock is judged hung (a deadlock).
HANG = 10.0
#: Virtual seconds after which a scenario on a MockClock is judged hung.
MOCK_HANG = 1e6


class _Stop(Exception):
    """The scenario gives up (a hang was reported); unwinds the runner."""


def _key(i: int) -> Hashable:
    return f"call-{i}"


def _is_or_caused_by(error: BaseException | None, raised: BaseException) -> bool:
    """A Crashed State keeps what the call raised: the object itself, or, for a stray
    `trio.Cancelled`, an exception caused by it."""
    if error is raised:
        return True
    return isinstance(raised, trio.Cancelled) and error is not None and error.__cause__ is raised


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for e in error.exceptions for leaf in _leaves(e)]
    return [error]


def _contains(error: BaseException, target: BaseException) -> bool:
    """``error`` carries ``target``'s KeyboardInterrupt / SystemExit (the very objects; a
    group may travel re-wrapped, as `except*` and nurseries do)."""
    wanted = [e for e in _leaves(target) if isinstance(e, KeyboardInterrupt | SystemExit)]
    found = _leaves(error)
    return bool(wanted) and all(any(e is w for e in found) for w in wanted)


def _in_process_sync(kit: RunnerConformance) -> bool:
    return kit.call_kind == "sync"


# ---------------------------------------------------------------------- gated admission


async def _settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


def play_gated(kit: RunnerConformance, spec: GatedSpec, *, pending: bool = False) -> list[str]:
    """Admission order across submitter tasks, and ``max_pending`` backpressure.

    Each call is submitted by a task of its own, started once the previous submitter has got
    as far as it can (returned, or blocked in ``submit``): submission order is defined by
    structure. Every call notifies when it starts and then blocks on a gate. The scenario
    then performs ``spec.actions``: open the gate of a running call (the next live queued call
    must start, and nothing else), ``cancel()`` a queued call, or cancel the scope of a
    submitter still blocked in ``submit``. After every step it checks which calls run, which
    ``submit`` calls have returned and ``statistics()``. ``pending``: judge backpressure
    (``submit`` returned or blocked, ``statistics().queued``) rather than admission order.
    """
    return trio.run(_gated, kit, spec, pending)


async def _gated(kit: RunnerConformance, spec: GatedSpec, pending: bool) -> list[str]:
    runner = kit.new_runner()
    n = spec.calls
    sync = _in_process_sync(kit)
    capacity = 1 if kit.sequential else kit.max_workers
    if capacity is None:
        raise RuntimeError("the gated scenario needs sequential or max_workers")
    pending_limit = None if kit.sequential else kit.max_pending
    send, receive = trio.open_memory_channel[int](math.inf)
    trio_gates = [trio.Event() for _ in range(n)]
    thread_gates = [threading.Event() for _ in range(n)]
    violations: list[str] = []
    status = ["new"] * n  # new, queued, running, done, cancelled
    running: list[int] = []
    returned = [False] * n
    scopes = [trio.CancelScope() for _ in range(n)]
    log: list[str] = []

    def make_call(i: int) -> Callable[[], Any]:
        if sync:

            def sync_call() -> int:
                trio.from_thread.run_sync(send.send_nowait, i)
                thread_gates[i].wait()
                return i

            return sync_call

        async def async_call() -> int:
            send.send_nowait(i)
            await trio_gates[i].wait()
            return i

        return async_call

    def open_gate(i: int) -> None:
        trio_gates[i].set()
        thread_gates[i].set()

    async def submitter(i: int) -> None:
        with scopes[i]:
            await runner.submit(_key(i), make_call(i))
            returned[i] = True

    def live_queue() -> list[int]:
        return [i for i in range(n) if status[i] == "queued"]

    async def expect_start(i: int) -> None:
        with trio.move_on_after(HANG):
            got = await receive.receive()
            if got != i:
                violations.append(
                    f"after {'; '.join(log)}: call {got} started, but call {i} was the"
                    " first live queued call (admission must be FIFO in submission order)"
                )
                raise _Stop
            status[i] = "running"
            running.append(i)
            return
        violations.append(
            f"after {'; '.join(log)}: call {i} never started although a worker slot was free"
        )
        raise _Stop

    async def admit() -> None:
        while len(running) < capacity and (queue := live_queue()):
            await expect_start(queue[0])
        await _settle()
        try:
            got = receive.receive_nowait()
        except trio.WouldBlock:
            pass
        else:
            violations.append(
                f"after {'; '.join(log)}: call {got} started although {running} held every"
                f" one of the {capacity} worker slots"
            )
            raise _Stop
        check_submits()

    def check_submits() -> None:
        where = f"after {'; '.join(log)}"
        queue = live_queue()
        stats = runner.statistics()
        if not pending:
            if stats.running != len(running):
                violations.append(
                    f"{where}: statistics().running == {stats.running}, but {running} run"
                )
            for i in range(n):
                if status[i] in ("running", "queued") and kit.sequential and returned[i]:
                    violations.append(f"{where}: submit() of call {i} returned before it ended")
            return
        if stats.queued != len(queue):
            violations.append(
                f"{where}: statistics().queued == {stats.queued}, but the live queued calls"
                f" are {queue}"
            )
        for i in range(n):
            if kit.sequential or status[i] != "queued":
                continue
            position = queue.index(i)
            accepted = pending_limit is None or position < pending_limit
            if accepted and not returned[i]:
                violations.append(
                    f"{where}: submit() of call {i} is blocked, but only {position} live calls"
                    f" were accepted and not admitted (max_pending={pending_limit})"
                )
            elif not accepted and returned[i]:
                violations.append(
                    f"{where}: submit() of call {i} returned with {position} live calls"
                    f" accepted and not admitted (max_pending={pending_limit})"
                )

    async def body() -> None:
        async with runner.start(), trio.open_nursery() as nursery:
            try:
                for i in range(n):
                    nursery.start_soon(submitter, i)
                    status[i] = "queued"
                    log.append(f"submit call {i}")
                    await _settle()
                    await admit()
                for kind, index in spec.actions:
                    if kind == "release":
                        if not running:
                            continue
                        i = running[index % len(running)]
                        open_gate(i)
                        log.append(f"call {i} returns")
                        state = await runner.wait(_key(i))
                        running.remove(i)
                        status[i] = "done"
                        if state is None or not state.is_completed() or state.result() != i:
                            violations.append(f"call {i} returned {i} but ended {state!r}")
                    elif kind == "cancel":
                        queue = live_queue()
                        if not queue:
                            continue
                        i = queue[index % len(queue)]
                        log.append(f"cancel(call {i})")
                        if runner.cancel(_key(i)) is not True:
                            violations.append(f"cancel() of queued call {i} did not return True")
                        status[i] = "cancelled"
                    else:  # abandon: the submitter's own scope
                        blocked = [i for i in live_queue() if not returned[i]]
                        if not blocked:
                            continue
                        i = blocked[index % len(blocked)]
                        log.append(f"the submitter of call {i} is cancelled")
                        scopes[i].cancel()
                        status[i] = "cancelled"
                    await _settle()
                    await admit()
                    if violations:
                        raise _Stop
            finally:
                for i in range(n):
                    open_gate(i)

    try:
        await body()
    except _Stop:
        pass
    except BaseExceptionGroup as group:
        _, rest = group.split(_Stop)
        if rest is not None:
            raise
    if violations:
        return violations
    for i in range(n):
        state = runner.state(_key(i))
        if status[i] == "cancelled" and (state is None or not state.is_cancelled()):
            violations.append(f"call {i} was cancelled while queued but ended {state!r}")
    send.close()
    async with receive:
        async for i in receive:
            if status[i] == "cancelled":
                violations.append(f"call {i} started although it was cancelled while queued")
    return violations


# ---------------------------------------------------------------------- nested calls


def play_nested(kit: RunnerConformance, spec: NestedSpec) -> list[str]:
    """Calls that submit to, wait on and iterate their own runner, from the loop and (sync
    calls) from worker threads. Nothing may deadlock, even with one worker; each call ends
    Completed with the sum of what its children returned."""
    return trio.run(_nested, kit, spec)


def _expected(call: NestedCall) -> int:
    collected = sum(_expected(c) for c in call.children) if call.collect != "none" else 0
    return 1 + collected


async def _nested(kit: RunnerConformance, spec: NestedSpec) -> list[str]:
    runner = kit.new_runner()
    counter = iter(range(10_000))
    violations: list[str] = []
    made: list[tuple[Hashable, NestedCall]] = []

    def make(call: NestedCall) -> tuple[Hashable, Callable[[], Any]]:
        key = f"nested-{next(counter)}"
        made.append((key, call))

        async def collect(children: list[Hashable]) -> int:
            states: list[State[Any] | None]
            if call.collect == "wait":
                states = [await runner.wait(k) for k in children]
            elif call.collect == "wait_timeout":
                states = [await runner.wait(k, 1e9) for k in children]
            else:
                states = []
                async with runner.as_completed(children) as results:
                    async for _, item in results:
                        states.append(item)
            total = 0
            for child_state in states:
                if child_state is None or not child_state.is_completed():
                    raise AssertionError(f"a child ended {child_state!r}")
                total += child_state.result()
            return total

        async def async_call() -> int:
            children = []
            for child in call.children:
                child_key, child_call = make(child)
                await runner.submit(child_key, child_call)
                children.append(child_key)
            if call.collect == "none":
                await trio.lowlevel.checkpoint()
                return 1
            return 1 + await collect(children)

        def sync_call() -> int:
            children = []
            for child in call.children:
                child_key, child_call = make(child)
                trio.from_thread.run(runner.submit, child_key, child_call)
                children.append(child_key)
            if call.collect == "none":
                return 1
            return 1 + trio.from_thread.run(collect, children)

        return key, (sync_call if call.sync else async_call)

    with trio.move_on_after(HANG) as guard:
        async with runner.start():
            for root in spec.roots:
                key, root_call = make(root)
                await runner.submit(key, root_call)
    if guard.cancelled_caught:
        return [f"nested calls did not finish within {HANG} s: a deadlock ({runner.statistics()})"]
    for key, call in made:
        state = runner.state(key)
        expected = _expected(call)
        if state is None or not state.is_completed() or state.result() != expected:
            violations.append(f"nested call {key} ended {state!r}, expected Completed({expected})")
    return violations


# ---------------------------------------------------------------------- waiters, as_completed


def play_waiting(kit: RunnerConformance, spec: WaitingSpec) -> list[str]:
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


async def _waiting(kit: RunnerConformance, spec: WaitingSpec) -> list[str]:
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


def play_base_exceptions(kit: RunnerConformance, spec: BaseExceptionSpec) -> list[str]:
    """Calls that raise what is not an `Exception`, next to ordinary siblings, on a MockClock.

    A stray `trio.Cancelled` (no scope cancelled it), a custom `BaseException` or a
    `BaseExceptionGroup` without KeyboardInterrupt/SystemExit: the call ends Crashed and the
    run, its block and its siblings are left alone. `KeyboardInterrupt`, `SystemExit` (or a
    group holding one): Crashed, and it propagates out of ``start()`` at that instant (the
    very exception object), every unfinished sibling ends Cancelled.
    """
    return trio.run(_base_exceptions, kit, spec, clock=trio.testing.MockClock(autojump_threshold=0))


async def _base_exceptions(kit: RunnerConformance, spec: BaseExceptionSpec) -> list[str]:
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


def play_abandoned(kit: RunnerConformance, spec: AbandonSpec) -> list[str]:
    """Sync calls blocked for good (until the example ends), abandoned by ``cancel()``,
    ``cancel_all()`` or the scope around ``start()``. Afterwards, in the same ``trio.run``, a
    plain ``trio.to_thread.run_sync`` and the runner's next run must still work, and the
    abandoned threads must hold no token of Trio's default thread limiter."""
    release = threading.Event()
    try:
        return trio.run(_abandoned, kit, spec, release)
    finally:
        release.set()


async def _abandoned(
    kit: RunnerConformance, spec: AbandonSpec, release: threading.Event
) -> list[str]:
    runner = kit.new_runner()
    violations: list[str] = []
    default = trio.to_thread.current_default_thread_limiter()
    before = default.borrowed_tokens
    keys = [_key(i) for i in range(spec.calls)]

    def blocked() -> None:
        release.wait()

    with trio.move_on_after(HANG) as guard:
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
    if guard.cancelled_caught:
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


# ---------------------------------------------------------------------- refused calls


def play_agen(kit: RunnerConformance, position: int) -> list[str]:
    """``submit(key, async_generator_function)`` raises `TypeError` naming the key, and
    disturbs nothing: the calls before and after it complete."""
    return trio.run(_agen, kit, position)


async def _agen_function() -> Any:  # an async generator function: not a call
    yield 1


async def _agen(kit: RunnerConformance, position: int) -> list[str]:
    runner = kit.new_runner()
    violations: list[str] = []

    with trio.move_on_after(HANG) as guard:
        async with runner.start():
            for i in range(3):
                if i == position:
                    try:
                        await runner.submit("agen-key", _agen_function)
                    except TypeError as exc:
                        if "agen-key" not in str(exc):
                            violations.append(f"the TypeError does not name the key: {exc}")
                    else:
                        violations.append(
                            "submit() accepted an async generator function (its body would"
                            " never run)"
                        )
                await runner.submit(_key(i), int)  # picklable: runs on every runner
    if guard.cancelled_caught:
        return [f"the run did not end within {HANG} s"]
    for i in range(3):
        state = runner.state(_key(i))
        if state is None or not state.is_completed():
            violations.append(f"call {i}, next to the refused call, ended {state!r}")
    return violations
