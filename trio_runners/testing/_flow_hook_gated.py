"""Flow-hook scenarios of gated calls: ``lend_slot()`` outside a call, and ``has_backpressure``.

The calls are `trio_runners.abc.LoopCall` objects that notify when they start and then block on
a gate until the scenario opens it, so ordering comes from structure (every runner runs a
`LoopCall` on its event loop, in this process, even one whose calls run elsewhere).
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from .._loop_call import LoopCall
from ._flow_hook_play import play_with_hooks
from ._protocol import FlowHooksRunner
from ._scenario_tools import key, settle
from ._settings import KitSettings

__all__ = ["play_backpressure", "play_lend_outside"]


class _Gated(LoopCall):
    def __init__(self, i: int, gate: trio.Event, on_start: Callable[[int], None]) -> None:
        self.i = i
        self.gate = gate
        self.on_start = on_start

    async def __call__(self) -> int:
        self.on_start(self.i)
        await self.gate.wait()
        return self.i


class _Calls:
    """``n`` gated calls, submitted in order by one task; who started, and when ``k`` have."""

    def __init__(self, runner: FlowHooksRunner, n: int) -> None:
        self.runner = runner
        self.n = n
        self.gate = trio.Event()
        self.started: list[int] = []
        self.submitted = trio.Event()
        self.enough = trio.Event()
        self.wanted = n

    def on_start(self, i: int) -> None:
        self.started.append(i)
        if len(self.started) >= self.wanted:
            self.enough.set()

    async def submit_all(self) -> None:
        for i in range(self.n):
            await self.runner.submit(key(i), _Gated(i, self.gate, self.on_start))
        self.submitted.set()


def play_lend_outside(kit: KitSettings, n: int) -> list[str]:
    """``lend_slot()`` entered outside the runner's calls lends nothing: with every one of
    ``max_workers`` slots held by a gated call and more calls queued, no queued call starts
    inside the block; entering and leaving it neither raises nor hangs (any runner)."""
    return play_with_hooks(kit, n, _lend_outside)


async def _lend_outside(
    kit: KitSettings, runner: FlowHooksRunner, n: int, hang: float
) -> list[str]:
    violations: list[str] = []
    limit = None if kit.sequential else kit.max_workers
    calls = _Calls(runner, n)
    with trio.move_on_after(hang) as guard:
        async with runner.start(), trio.open_nursery() as nursery:
            try:
                if limit is None:  # nothing to lend: the block must just work
                    async with runner.lend_slot():
                        await trio.lowlevel.checkpoint()
                    return violations
                calls.wanted = min(n, limit)
                nursery.start_soon(calls.submit_all)
                await calls.enough.wait()
                await settle()
                before = list(calls.started)
                async with runner.lend_slot():
                    await settle()
                    inside = list(calls.started)
                if inside != before:
                    violations.append(
                        f"lend_slot() entered outside the runner's calls lent a slot: call(s)"
                        f" {inside[len(before) :]} started inside the block while calls"
                        f" {before} held every one of the max_workers={limit} slots"
                    )
            finally:
                calls.gate.set()
    if guard.cancelled_caught:
        violations.append(
            f"lend_slot() outside the runner's calls: the scenario did not finish within"
            f" {hang} s (calls started: {calls.started}; {min(n, limit or n)} should have)"
        )
    return violations


def play_backpressure(kit: KitSettings, n: int) -> list[str]:
    """``has_backpressure`` is a bool that does not change when the run starts; it is True
    when the kit declares ``max_pending`` (with ``max_workers``); and when it is False,
    ``submit`` never waits for room: ``n`` calls that cannot finish are all accepted."""
    return play_with_hooks(kit, n, _backpressure)


async def _backpressure(
    kit: KitSettings, runner: FlowHooksRunner, n: int, hang: float
) -> list[str]:
    violations: list[str] = []
    before = runner.has_backpressure
    if not isinstance(before, bool):
        return [f"has_backpressure is {before!r}, not a bool"]
    declared = not kit.sequential and kit.max_workers is not None and kit.max_pending is not None
    if declared and not before:
        violations.append(
            f"the runner declares max_workers={kit.max_workers} and"
            f" max_pending={kit.max_pending} (submit waits for room), but has_backpressure is"
            " False"
        )
    calls = _Calls(runner, n)
    with trio.move_on_after(hang) as guard:
        async with runner.start(), trio.open_nursery() as nursery:
            try:
                during = runner.has_backpressure
                if during != before:
                    violations.append(
                        f"has_backpressure was {before!r} before start() and is {during!r} in"
                        " the run"
                    )
                if kit.sequential:  # submit runs each call inside it: it waits for the call
                    return violations
                nursery.start_soon(calls.submit_all)
                if during:  # submit may wait: nothing to check about it here
                    return violations
                with trio.move_on_after(hang / 2):
                    await calls.submitted.wait()
                if not calls.submitted.is_set():
                    violations.append(
                        f"has_backpressure is False, but submit() waited for room: {n} calls"
                        f" that do not finish were submitted and calls {calls.started} started"
                    )
            finally:
                calls.gate.set()
    if guard.cancelled_caught:
        violations.append(f"the gated calls did not finish within {hang} s")
    return violations
