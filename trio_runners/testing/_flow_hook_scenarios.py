"""Flow-hook scenarios of calls: work handed to ``run_in_slot``, and trees of nested calls.

Both use only the core (``start``, ``submit``, ``wait``) and the hooks of capability
``flow_hooks`` (``run_in_slot``, ``lend_slot``): every call is a `trio_runners.abc.LoopCall`,
which every runner runs on its event loop, so the scenarios apply to runners whose calls run
elsewhere too (only the work passed to ``run_in_slot`` travels). The kit's ``call_kind`` says
which work: async (on the loop) or sync (worker threads, processes, Dask workers).
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Hashable
from typing import Any

import trio

from .._loop_call import LoopCall
from ._flow_hook_calls import HandsWork, async_work, sync_work
from ._flow_hook_play import play_with_hooks
from ._flow_hook_specs import HookNode, HookTreeSpec, SlotWork, SlotWorkSpec
from ._protocol import FlowHooksRunner
from ._scenario_tools import key
from ._settings import KitSettings

__all__ = ["play_slot_work", "play_tree"]


def _work(
    kit: KitSettings,
    value: int,
    raises: bool = False,
    checkpoint: bool = True,
    block: bool = False,
) -> Any:
    if kit.call_kind == "sync":
        return functools.partial(sync_work, value, raises)
    return functools.partial(async_work, value, raises, checkpoint, block)


# ---------------------------------------------------------------------- run_in_slot


def play_slot_work(kit: KitSettings, spec: SlotWorkSpec) -> list[str]:
    """`LoopCall` objects hand work to ``run_in_slot``: each gets what its work returned, or
    the work's exception raised to it; inside an already-cancelled scope ``run_in_slot``
    raises `trio.Cancelled` (a checkpoint, even for work that never checkpoints), and so it
    does when the scope is cancelled while async work runs (the work is cancelled); each
    `LoopCall` runs in this process; ``run_in_slot`` outside the runner's calls raises
    `RuntimeError`."""
    return play_with_hooks(kit, spec, _slot_work)


def _cancel(kit: KitSettings, work: SlotWork) -> str:
    """How the work is cancelled: sync work cannot block until cancelled, so not "during"."""
    if work.cancel == "during" and kit.call_kind == "sync":
        return "before"
    return work.cancel


def _expected(work: SlotWork) -> tuple[str, Any]:
    if work.cancel != "no":
        return "cancelled", None
    if work.raises:
        return "raised", (work.value,)
    return "returned", work.value


def _judge(i: int, work: SlotWork, state: Any) -> str | None:
    where = f"LoopCall {i} ({work})"
    if state is None or not state.is_completed():
        return (
            f"{where} ended {state!r}: a LoopCall runs on the event loop, in this process (it"
            " holds a lock and cannot be pickled)"
        )
    pid, outcome, detail = state.result()
    if pid != os.getpid():
        return f"{where} ran in process {pid}, not on the event loop of process {os.getpid()}"
    expected = _expected(work)
    if (outcome, detail) == expected:
        return None
    got = f"run_in_slot() {outcome} {detail!r}" if outcome != "cancelled" else "it was cancelled"
    if work.cancel == "before":
        return (
            f"{where}: inside an already-cancelled scope {got} instead of raising"
            " trio.Cancelled: run_in_slot() must be a checkpoint"
        )
    if work.cancel == "during":
        return (
            f"{where}: its scope was cancelled while the work ran, and {got} instead of"
            " raising trio.Cancelled: the work must be cancelled and Cancelled propagate"
        )
    if work.raises:
        return f"{where}: the work raised SlotWorkError({work.value}), but {got}"
    return f"{where}: the work returned {work.value}, but {got}"


async def _slot_work(
    kit: KitSettings, runner: FlowHooksRunner, spec: SlotWorkSpec, hang: float
) -> list[str]:
    violations: list[str] = []
    states: list[Any] = []
    with trio.move_on_after(hang) as guard:
        async with runner.start():
            try:
                await runner.run_in_slot(_work(kit, 0))
            except RuntimeError:
                pass
            else:
                violations.append(
                    "run_in_slot() called outside the runner's calls returned; it must raise"
                    " RuntimeError"
                )
            for i, work in enumerate(spec.works):
                cancel = _cancel(kit, work)
                made = _work(kit, work.value, work.raises, work.checkpoint, cancel == "during")
                await runner.submit(key(i), HandsWork(runner, made, cancel))
            for i in range(len(spec.works)):
                states.append(await runner.wait(key(i)))
    if guard.cancelled_caught:
        return [*violations, f"the LoopCalls did not finish within {hang} s: a deadlock"]
    for i, (work, state) in enumerate(zip(spec.works, states, strict=True)):
        problem = _judge(i, work, state)
        if problem is not None:
            violations.append(problem)
    return violations


# ---------------------------------------------------------------------- nested trees


def play_tree(kit: KitSettings, spec: HookTreeSpec) -> list[str]:
    """A random tree of nested `LoopCall` objects: each runs its own work through
    ``run_in_slot``, submits its children to its own runner and waits for them (``wait``,
    ``wait`` inside ``lend_slot()``, or an event inside ``lend_slot()``). Nothing deadlocks,
    even with one worker; each ends Completed with the size of its subtree."""
    return play_with_hooks(kit, spec, _tree)


class _Node(LoopCall):
    def __init__(self, tree: _Tree, node: HookNode) -> None:
        self.tree = tree
        self.node = node
        self.key: Hashable = f"node-{next(tree.counter)}"
        self.done = trio.Event()
        self.result: int | None = None
        tree.made.append(self)

    async def __call__(self) -> int:
        try:
            self.result = await self._run()
            return self.result
        finally:
            self.done.set()

    async def _run(self) -> int:
        runner = self.tree.runner
        total = int(await runner.run_in_slot(_work(self.tree.kit, 1)))
        children = [_Node(self.tree, child) for child in self.node.children]
        for child in children:
            await runner.submit(child.key, child)
        if self.node.how == "lend_and_event":
            async with runner.lend_slot():
                for child in children:
                    await child.done.wait()
            results = [child.result for child in children]
        else:
            results = []
            for child in children:
                if self.node.how == "wait":
                    state = await runner.wait(child.key)
                else:
                    async with runner.lend_slot():
                        state = await runner.wait(child.key)
                results.append(state.result() if state and state.is_completed() else None)
        for child, result in zip(children, results, strict=True):
            if result is None:
                raise RuntimeError(f"child {child.key} ended without a result")
            total += result
        return total


class _Tree:
    def __init__(self, kit: KitSettings, runner: FlowHooksRunner) -> None:
        self.kit = kit
        self.runner = runner
        self.counter = itertools.count()
        self.made: list[_Node] = []


async def _tree(
    kit: KitSettings, runner: FlowHooksRunner, spec: HookTreeSpec, hang: float
) -> list[str]:
    tree = _Tree(kit, runner)
    states: list[Any] = []
    with trio.move_on_after(hang) as guard:
        async with runner.start():
            roots = []
            for root in spec.roots:
                roots.append(call := _Node(tree, root))
                await runner.submit(call.key, call)
            for call in roots:
                await runner.wait(call.key)
            # Every root has finished, so has every call below it.
            states = [await runner.wait(call.key) for call in tree.made]
    if guard.cancelled_caught:
        waiting = [c.key for c in tree.made if c.result is None]
        return [
            f"nested LoopCalls did not finish within {hang} s (calls {waiting} still"
            " unfinished): a deadlock; a call that waits for calls it submitted must lend its"
            " worker slot (lend_slot(), which wait() enters too)"
        ]
    violations = []
    for call, state in zip(tree.made, states, strict=True):
        if state is None or not state.is_completed() or state.result() != call.node.size:
            violations.append(
                f"nested LoopCall {call.key} ({call.node.how}, {call.node.size - 1} below it)"
                f" ended {state!r}, expected Completed({call.node.size})"
            )
    return violations
