"""Specs and strategies of the flow-hook scenarios (capability ``flow_hooks``).

`SlotWorkSpec` is a batch of `LoopCall` objects, each handing one piece of work to
``run_in_slot`` (returning or raising, checkpointing or not, cancelled before or while it runs);
`HookTreeSpec` is a random tree of nested `LoopCall` objects that submit their children to their
own runner and wait for them in one of three ways (`HOW_TO_WAIT`).
"""

from __future__ import annotations

from typing import Literal

import attrs
from hypothesis import strategies as st

__all__ = [
    "HOW_TO_WAIT",
    "CancelAt",
    "HookNode",
    "HookTreeSpec",
    "SlotWork",
    "SlotWorkSpec",
    "hook_tree_specs",
    "slot_work_specs",
]

#: How a node of a `HookTreeSpec` waits for its children: ``wait`` (the runner's own wait,
#: which lends the slot itself), ``lend_and_wait`` (``wait`` inside ``lend_slot()``: lending
#: nests) or ``lend_and_event`` (a `trio.Event` the children set, inside ``lend_slot()``: only
#: ``lend_slot`` can let the children run).
HowToWait = Literal["wait", "lend_and_wait", "lend_and_event"]
HOW_TO_WAIT: tuple[HowToWait, ...] = ("wait", "lend_and_wait", "lend_and_event")
CancelAt = Literal["no", "before", "during"]


@attrs.frozen
class SlotWork:
    """One `LoopCall`: it hands ``run_in_slot`` work that returns ``value`` or raises (with
    ``value`` in the exception); ``checkpoint``: async work checkpoints itself;
    ``cancel``: ``"before"``, ``run_in_slot`` is called inside an already-cancelled scope;
    ``"during"``, the work blocks until its scope is cancelled (async work only: for sync
    work the kit plays it as ``"before"``); ``"no"``."""

    value: int
    raises: bool
    checkpoint: bool
    cancel: CancelAt


@attrs.frozen
class SlotWorkSpec:
    works: tuple[SlotWork, ...]


@attrs.frozen
class HookNode:
    """A nested `LoopCall`: runs its own work (1) through ``run_in_slot``, submits
    ``children`` to its runner and waits for them as ``how`` says; returns the size of its
    subtree."""

    how: HowToWait
    children: tuple[HookNode, ...] = ()

    @property
    def size(self) -> int:
        return 1 + sum(child.size for child in self.children)


@attrs.frozen
class HookTreeSpec:
    roots: tuple[HookNode, ...]


def slot_work_specs(max_calls: int = 6) -> st.SearchStrategy[SlotWorkSpec]:
    cancel = st.sampled_from(("no", "before", "during"))
    work = st.builds(SlotWork, st.integers(0, 99), st.booleans(), st.booleans(), cancel)
    return st.builds(SlotWorkSpec, st.lists(work, min_size=1, max_size=max_calls).map(tuple))


def _nodes(max_children: int) -> st.SearchStrategy[HookNode]:
    how = st.sampled_from(HOW_TO_WAIT)
    leaf = st.builds(HookNode, how)
    return st.recursive(
        leaf,
        lambda children: st.builds(
            HookNode, how, st.lists(children, min_size=1, max_size=max_children).map(tuple)
        ),
        max_leaves=8,
    )


def hook_tree_specs() -> st.SearchStrategy[HookTreeSpec]:
    roots = st.lists(_nodes(3), min_size=1, max_size=3).map(tuple)
    return st.builds(HookTreeSpec, roots)
