"""Scenario properties of admission: several submitters, gated calls, backpressure, nesting.

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
from typing import Any

import trio
import trio.testing

from .._states import State
from ._scenario_tools import HANG, run_watched
from ._scenario_tools import Stop as _Stop
from ._scenario_tools import in_process_sync as _in_process_sync
from ._scenario_tools import key as _key
from ._scenario_tools import settle as _settle
from ._settings import KitSettings
from .strategies import GatedSpec, NestedCall, NestedSpec

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["play_gated", "play_nested"]


def play_gated(kit: KitSettings, spec: GatedSpec, *, pending: bool = False) -> list[str]:
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


async def _gated(kit: KitSettings, spec: GatedSpec, pending: bool) -> list[str]:
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


def play_nested(kit: KitSettings, spec: NestedSpec) -> list[str]:
    """Calls that submit to, wait on and iterate their own runner, from the loop and (sync
    calls) from worker threads. Nothing may deadlock, even with one worker; each call ends
    Completed with the sum of what its children returned. A deadlock is reported, also one in
    a shielded wait (see `_scenario_tools.run_watched`)."""
    return run_watched(_nested, kit, spec, what="nested calls")


def _expected(call: NestedCall) -> int:
    collected = sum(_expected(c) for c in call.children) if call.collect != "none" else 0
    return 1 + collected


async def _nested(kit: KitSettings, spec: NestedSpec) -> list[str]:
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
