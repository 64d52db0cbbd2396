"""The scenario property of a lent worker slot taken back: a call waiting on its own runner
lends its slot, and must hold one again before it resumes, even when it is cancelled while it
waits for one. Played and judged as in `_scenarios`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from ._scenario_tools import HANG, run_watched
from ._scenario_tools import settle as _settle
from ._settings import KitSettings
from .strategies import ReclaimSpec

__all__ = ["play_reclaim"]


def play_reclaim(kit: KitSettings, spec: ReclaimSpec) -> list[str]:
    """A parent call submits a child and waits for it, lending its worker slot; blockers take
    every slot, so that when the child ends the parent waits to take a slot back. Then the
    parent is cancelled (``cancel(parent)`` or ``cancel_all()``) while it waits. Afterwards
    ``max_workers + 1`` gated probes are submitted: at most ``max_workers`` may start. (A
    parent that gave up taking its slot back, yet gave one back when it ended, would have let
    one more call run than the limit allows.)"""
    return run_watched(_reclaim, kit, spec, what="the calls of the lent-slot scenario")


async def _reclaim(kit: KitSettings, spec: ReclaimSpec) -> list[str]:
    runner = kit.new_runner()
    limit = kit.max_workers
    if limit is None:
        raise RuntimeError("the lent-slot scenario needs max_workers")
    gates: dict[str, trio.Event] = {}
    started: list[str] = []
    violations: list[str] = []

    def gated(name: str) -> Callable[[], Any]:
        gates[name] = trio.Event()

        async def call() -> str:
            started.append(name)
            await gates[name].wait()
            return name

        return call

    async def parent() -> str:
        await runner.submit("child", gated("child"))
        await runner.wait("child")  # lends the parent's slot while it waits
        await trio.lowlevel.checkpoint()
        return "parent"

    # While the child runs, ``extra + 1`` blockers wait for a slot: within max_pending, so that
    # no submit here waits for room.
    extra = spec.extra if kit.max_pending is None else min(spec.extra, kit.max_pending - 1)
    blockers = [f"blocker-{i}" for i in range(limit + extra)]
    probes = [f"probe-{i}" for i in range(limit + 1)]
    with trio.move_on_after(HANG) as guard:
        async with runner.start():
            await runner.submit("parent", parent)
            await _settle()
            if "child" not in started:
                violations.append(
                    "the child of a call waiting on its own runner did not start: the waiting "
                    "call did not lend its worker slot"
                )
            for blocker in blockers:
                await runner.submit(blocker, gated(blocker))
            await _settle()
            gates["child"].set()  # the parent now waits for a slot, every one held by a blocker
            await _settle()
            if spec.how == "cancel":
                runner.cancel("parent")
            else:
                runner.cancel_all()
            await _settle()
            for blocker in blockers:
                gates[blocker].set()
            await _settle()
            for probe in probes:
                await runner.submit(probe, gated(probe))
            await _settle()
            running = [p for p in probes if p in started]
            if len(running) > limit:
                violations.append(
                    f"{len(running)} calls ran at once with max_workers={limit}, after a call "
                    "waiting on its own runner was cancelled while it waited to take its worker "
                    "slot back: it gave back a slot it did not hold"
                )
            for probe in probes:
                gates[probe].set()
    if guard.cancelled_caught:
        return [*violations, f"the calls did not finish within {HANG} s: a deadlock"]
    state = runner.state("parent")
    if state is None or not state.is_cancelled():
        violations.append(f"the parent, cancelled while it waited for its slot, ended {state!r}")
    return violations
