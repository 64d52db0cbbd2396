"""Scenario properties of what a call is and returns: a call that returns a `State` ends with
that State, as Prefect's runners promise (their calls return the task run's State); an async
generator function is refused. Played and judged as in `_scenarios`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import trio

from .._states import Cancelled, Completed, Crashed, Failed, State
from ._scenario_tools import HANG
from ._scenario_tools import in_process_sync as _in_process_sync
from ._scenario_tools import key as _key
from ._settings import KitSettings
from .strategies import ReturnedSpec

__all__ = ["play_agen", "play_returned"]


class KitCrash(BaseException):
    """What a returned Crashed State holds (a `BaseException` of the kit's own)."""


def _returned(kind: str, i: int) -> State[Any]:
    if kind == "completed":
        return Completed(i)
    if kind == "failed":
        return Failed(ValueError(f"failed {i}"))
    if kind == "cancelled":
        return Cancelled(f"cancelled {i}")
    return Crashed(KitCrash(f"crashed {i}"))


def returns_state(kind: str, i: int) -> State[Any]:
    """A sync call's body: it returns a State (picklable through `functools.partial`)."""
    return _returned(kind, i)


async def returns_state_async(kind: str, i: int) -> State[Any]:
    """An async call's body: it checkpoints, then returns a State."""
    await trio.lowlevel.checkpoint()
    return _returned(kind, i)


def play_returned(kit: KitSettings, spec: ReturnedSpec) -> list[str]:
    """Calls (the kit's ``call_kind``) that return a State of each kind: Completed, Failed,
    Cancelled, Crashed. Each must end with the State it returned (its type, and its value or
    its exception's type and message: a remote runner's State comes back pickled), not
    wrapped in Completed."""
    return trio.run(_returned_states, kit, spec)


def _differs(i: int, kind: str, state: State[Any] | None) -> str | None:
    expected = _returned(kind, i)
    if state is None:
        return f"call {i} returned {expected!r} and has no State"
    same = state.type == expected.type
    if same and kind == "completed":
        same = state.result() == i
    elif same and kind in ("failed", "crashed"):
        want, got = expected.exception(), state.exception()
        same = type(got) is type(want) and str(got) == str(want)
    if same:
        return None
    return f"call {i} returned {expected!r} and ended {state!r}: not the State it returned"


async def _returned_states(kit: KitSettings, spec: ReturnedSpec) -> list[str]:
    runner = kit.new_runner()
    sync = _in_process_sync(kit)
    violations: list[str] = []
    states: dict[int, State[Any] | None] = {}

    def make_call(i: int, kind: str) -> Callable[[], Any]:
        return functools.partial(returns_state if sync else returns_state_async, kind, i)

    with trio.move_on_after(HANG) as guard:
        async with runner.start():
            for i, kind in enumerate(spec.calls):
                await runner.submit(f"returned-{i}", make_call(i, kind))
            for i in range(len(spec.calls)):
                states[i] = await runner.wait(f"returned-{i}")
    if guard.cancelled_caught:
        return [f"the calls did not finish within {HANG} s"]
    for i, kind in enumerate(spec.calls):
        problem = _differs(i, kind, states[i])
        if problem is not None:
            violations.append(problem)
    return violations


# ---------------------------------------------------------------------- refused calls


def play_agen(kit: KitSettings, position: int) -> list[str]:
    """``submit(key, async_generator_function)`` raises `TypeError` naming the key, and
    disturbs nothing: the calls before and after it complete."""
    return trio.run(_agen, kit, position)


async def _agen_function() -> Any:  # an async generator function: not a call
    yield 1


async def _agen(kit: KitSettings, position: int) -> list[str]:
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
