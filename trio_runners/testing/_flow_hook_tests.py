"""The flow-hook properties (capability ``flow_hooks``), made into tests for a kit subclass.

`FLOW_HOOK_SCENARIOS` maps a test name to a `Scenario` (see `_scenario_tests`); `sized` gives
each its number of examples for a subclass: a share of the profile's, and at most
`REMOTE_EXAMPLES` for a runner whose calls run elsewhere (each example starts its workers or
connects to its cluster). Each needs capabilities ``flow_hooks`` and ``trio``; with
``supports_flow_hooks = None`` (the default) a runner without the hooks is skipped, naming
the capability, when the test runs.
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

from ._flow_hook_gated import play_backpressure, play_lend_outside
from ._flow_hook_scenarios import play_slot_work, play_tree
from ._flow_hook_specs import (
    HookNode,
    HookTreeSpec,
    SlotWork,
    SlotWorkSpec,
    hook_tree_specs,
    slot_work_specs,
)
from ._scenario_tests import Scenario
from ._settings import KitSettings, always, in_process

__all__ = ["FLOW_HOOK_SCENARIOS", "REMOTE_EXAMPLES", "sized"]

#: At most this many examples per flow-hook property for a runner whose calls run elsewhere.
REMOTE_EXAMPLES = 3

_NEEDS = ("flow_hooks", "trio")


def _queue_lengths(cls: type[KitSettings]) -> st.SearchStrategy[int]:
    """More calls than the workers (and pending places) can take."""
    k = cls.max_workers or 1
    return st.integers(k + 1, k + (cls.max_pending or 0) + 2)


#: Always played first (a runner whose calls run elsewhere gets few examples): work that
#: returns, raises, never checkpoints in an already-cancelled scope, is cancelled while it runs.
_SLOT_WORK_EXAMPLE = SlotWorkSpec(
    (
        SlotWork(value=1, raises=False, checkpoint=True, cancel="no"),
        SlotWork(value=2, raises=True, checkpoint=True, cancel="no"),
        SlotWork(value=3, raises=False, checkpoint=False, cancel="before"),
        SlotWork(value=4, raises=True, checkpoint=True, cancel="during"),
    )
)
#: A chain through the three ways to wait, the innermost waited for only by ``lend_slot``.
_TREE_EXAMPLE = HookTreeSpec(
    (
        HookNode(
            "wait", (HookNode("lend_and_wait", (HookNode("lend_and_event", (HookNode("wait"),)),)),)
        ),
    )
)

FLOW_HOOK_SCENARIOS: dict[str, Scenario] = {
    "test_run_in_slot_runs_a_loop_calls_work": Scenario(
        title=lambda cls: "run_in_slot",
        strategy=lambda cls: slot_work_specs(max_calls=min(cls.max_calls, 6)),
        play=play_slot_work,
        skip=always,
        share=0.25,
        examples=lambda cls: [_SLOT_WORK_EXAMPLE],
        doc="LoopCalls hand work (returning or raising; async work that never checkpoints) to "
        "run_in_slot: each gets the work's result or its exception; in an already-cancelled "
        "scope run_in_slot raises trio.Cancelled (a checkpoint), and so it does when the scope is "
        "cancelled while async work runs; LoopCalls run in this "
        "process; run_in_slot outside the runner's calls raises RuntimeError.",
        needs=_NEEDS,
    ),
    "test_nested_loop_calls_lend_their_slot": Scenario(
        title=lambda cls: "nested LoopCalls lend their slot",
        strategy=lambda cls: hook_tree_specs(),
        play=play_tree,
        skip=always,
        share=0.25,
        examples=lambda cls: [_TREE_EXAMPLE],
        doc="Random trees of LoopCalls that run work through run_in_slot, submit their "
        "children to their own runner and wait for them (wait, wait inside lend_slot(), an "
        "event inside lend_slot()): nothing deadlocks, even with one worker; each ends "
        "Completed with the size of its subtree.",
        needs=_NEEDS,
    ),
    "test_lend_slot_outside_a_call_lends_nothing": Scenario(
        title=lambda cls: "lend_slot outside a call",
        strategy=_queue_lengths,
        play=play_lend_outside,
        skip=always,
        max_examples=10,
        doc="With every max_workers slot held by a gated call and calls queued, lend_slot() "
        "entered outside the runner's calls lets no queued call start; entering and leaving "
        "it neither raises nor hangs.",
        needs=_NEEDS,
    ),
    "test_has_backpressure_says_whether_submit_may_wait": Scenario(
        title=lambda cls: "has_backpressure",
        strategy=_queue_lengths,
        play=play_backpressure,
        skip=always,
        max_examples=10,
        doc="has_backpressure is a bool, stable across start(); True when max_pending is "
        "declared; when False, submit never waits for room (calls that cannot finish are "
        "all accepted).",
        needs=_NEEDS,
    ),
}


def sized(cls: type[KitSettings], scenario: Scenario) -> Scenario:
    """``scenario`` with at most `REMOTE_EXAMPLES` examples when ``cls``'s calls run
    elsewhere."""
    if in_process(cls):
        return scenario
    limit = min(scenario.max_examples or REMOTE_EXAMPLES, REMOTE_EXAMPLES)
    return attrs.evolve(scenario, max_examples=limit)
