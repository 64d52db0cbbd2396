"""The scenario property of `contextvars`: a call runs in a copy of its submitter's context,
as a task started with ``nursery.start_soon`` (or a function run by ``trio.to_thread.run_sync``)
does. Played and judged as in `_scenarios`.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any

import trio

from ._scenario_tools import HANG
from ._scenario_tools import in_process_sync as _in_process_sync
from ._scenario_tools import settle as _settle
from ._settings import KitSettings
from .strategies import ContextSpec

__all__ = ["play_context"]

#: What a call sees of its submitter: set by the submitter before each submit.
_SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("trio_runners_kit_seen")
_UNSET = "(unset)"


def play_context(kit: KitSettings, spec: ContextSpec) -> list[str]:
    """Submitter tasks set a `contextvars.ContextVar` to a value of their own before each
    submit, and to another once they are done. Every call blocks until every submitter has
    got as far as it can (returned, or blocked in ``submit``: queued calls then start after
    their submitter moved on), reads the variable, then sets it.

    Each call must see the value its submitter had when it submitted it (not a later one, nor
    the runner's own context), and a call's own ``set`` must reach neither its submitter (also
    when the call ran inside ``submit``) nor any other call."""
    gate = threading.Event()
    try:
        return trio.run(_context, kit, spec, gate)
    finally:
        gate.set()


async def _context(kit: KitSettings, spec: ContextSpec, gate: threading.Event) -> list[str]:
    runner = kit.new_runner()
    opened = trio.Event()
    violations: list[str] = []
    all_sync = _in_process_sync(kit)

    def make_call(name: str, sync: bool) -> Callable[[], Any]:
        def sync_call() -> str:
            gate.wait()
            seen = _SEEN.get(_UNSET)
            _SEEN.set(f"set by call {name}")
            return seen

        async def async_call() -> str:
            await opened.wait()
            seen = _SEEN.get(_UNSET)
            _SEEN.set(f"set by call {name}")
            await trio.lowlevel.checkpoint()
            return seen

        return sync_call if sync else async_call

    async def submitter(s: int, calls: tuple[bool, ...]) -> None:
        for j, sync in enumerate(calls):
            value = f"submitter {s}, call {j}"
            _SEEN.set(value)
            await runner.submit(f"context-{s}-{j}", make_call(f"{s}-{j}", sync or all_sync))
            now = _SEEN.get(_UNSET)
            if now != value:
                violations.append(
                    f"after submit() of call {s}-{j} returned, its submitter's variable was "
                    f"{now!r}, not {value!r}: the call ran in its submitter's own context, "
                    "not in a copy of it"
                )
                _SEEN.set(value)
        _SEEN.set(f"submitter {s}, done")

    with trio.move_on_after(HANG) as guard:
        async with runner.start(), trio.open_nursery() as submitters:
            for s, calls in enumerate(spec.submitters):
                submitters.start_soon(submitter, s, calls)
            await _settle()  # every submitter returned or blocked in submit
            opened.set()
            gate.set()
    if guard.cancelled_caught:
        return [f"the calls did not finish within {HANG} s"]
    for s, calls in enumerate(spec.submitters):
        for j in range(len(calls)):
            state = runner.state(f"context-{s}-{j}")
            expected = f"submitter {s}, call {j}"
            if state is None or not state.is_completed():
                violations.append(f"call {s}-{j} ended {state!r}")
            elif (seen := state.result()) != expected:
                where = (
                    "a later value of its submitter's: the context was taken when the call "
                    "started, not when it was submitted"
                    if seen.startswith(f"submitter {s},")
                    else "not a copy of its submitter's context"
                    if seen == _UNSET or not seen.startswith("set by call")
                    else "another call's change: calls share a context"
                )
                violations.append(f"call {s}-{j} saw {seen!r}, not {expected!r}: {where}")
    return violations
