"""How a flow-hook scenario is played: the runner's hooks checked, the clock, the hang limit.

`play_with_hooks` makes a new runner, makes sure it has the hooks (capability ``flow_hooks``:
a skip naming it when the flag is None and the runner lacks them, a violation when the flag
says True), and runs the scenario in a fresh ``trio.run``: on a ``MockClock(autojump_threshold=0)``
when the kit's calls are exact (async, on the loop), else on the real clock, with the hang
limit after which the scenario is judged deadlocked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import trio
import trio.testing

from ._protocol import FlowHooksRunner
from ._scenario_tools import HANG, MOCK_HANG
from ._settings import KitSettings, in_process, is_exact

__all__ = ["HOOKS", "REMOTE_HANG", "hang_limit", "play_with_hooks"]

#: The members a runner with capability ``flow_hooks`` has.
HOOKS = ("run_in_slot", "lend_slot", "has_backpressure")
#: Real seconds after which a scenario on a runner whose calls run elsewhere is judged hung
#: (its workers start within it).
REMOTE_HANG = 60.0

S = TypeVar("S")


def hang_limit(kit: KitSettings) -> float:
    """How long a scenario may take before it is judged deadlocked (virtual or real s)."""
    if is_exact(type(kit)):
        return MOCK_HANG
    return HANG if in_process(type(kit)) else REMOTE_HANG


def play_with_hooks(
    kit: KitSettings,
    spec: S,
    scenario: Callable[[KitSettings, FlowHooksRunner, S, float], Awaitable[list[str]]],
) -> list[str]:
    """Play ``scenario(kit, runner, spec, hang)`` in a fresh ``trio.run``; its violations.

    Raises:
      pytest.skip.Exception: the runner lacks the hooks and ``supports_flow_hooks`` is None.
    """
    runner: Any = kit.new_runner()
    lacking = [name for name in HOOKS if not hasattr(runner, name)]
    if lacking or not isinstance(runner, FlowHooksRunner):
        declared = type(kit).supports_flow_hooks
        what = ", ".join(lacking) or "the FlowHooksRunner protocol"
        if declared is None:
            pytest.skip(
                f"needs capability 'flow_hooks' (supports_flow_hooks = None: the runner has no"
                f" {what}), which the runner does not provide"
            )
        return [f"supports_flow_hooks = {declared!r}, but the runner has no {what}"]
    clock = trio.testing.MockClock(autojump_threshold=0) if is_exact(type(kit)) else None
    return trio.run(scenario, kit, runner, spec, hang_limit(kit), clock=clock)
