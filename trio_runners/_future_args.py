"""Futures passed as data: finding the `TaskFuture` objects nested in a task run's arguments or a
flow body's return value, and replacing them by their results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._futures import TaskFuture
from ._states import State

__all__ = ["futures_in", "resolve_futures"]


def futures_in(value: object, found: list[TaskFuture]) -> None:
    """Collect the futures in ``value`` (itself, or inside lists, tuples, sets and dicts)."""
    if isinstance(value, TaskFuture):
        found.append(value)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            futures_in(item, found)
    elif isinstance(value, dict):
        for key, item in value.items():
            futures_in(key, found)
            futures_in(item, found)


def resolve_futures(value: Any, states: Mapping[TaskFuture, State[Any]]) -> Any:
    """``value`` with every future replaced by its result (same container types).

    A future's State is taken from ``states`` (the States its waiter received: a runner may
    release a State once it has been delivered), else read from the runner.

    Raises:
      RuntimeError: a future that is neither in ``states`` nor finished (it was put into
        ``value`` after the futures in it were waited for).
      Exception: what a future's `State.result` raises (its task run did not complete).
    """
    if isinstance(value, TaskFuture):
        state = states.get(value)
        if state is None:
            state = value.state
        if state is None:
            raise RuntimeError(
                f"task run {value.name!r} has not finished: it was put among the arguments "
                "after they were waited for"
            )
        value._observed = True
        return state.result()
    if isinstance(value, list):
        return [resolve_futures(item, states) for item in value]
    if isinstance(value, tuple):
        items = [resolve_futures(item, states) for item in value]
        if hasattr(value, "_fields"):  # a named tuple
            return type(value)(*items)
        return tuple(items)
    if isinstance(value, (set, frozenset)):
        return type(value)(resolve_futures(item, states) for item in value)
    if isinstance(value, dict):
        return {resolve_futures(k, states): resolve_futures(v, states) for k, v in value.items()}
    return value
