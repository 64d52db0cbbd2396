"""Futures passed as data: finding the `TaskFuture` objects nested in a task run's arguments or a
flow body's return value, and replacing them by their results.

The annotations of ``_annotations.py`` are honoured here: nothing inside a `quote` is searched or
resolved; a future inside `allow_failure` may have ended Failed; every annotation is removed (the
function receives the value it wraps).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..states import State
from ._annotations import allow_failure, quote, unmapped
from ._futures import TaskFuture

__all__ = ["futures_in", "resolve_futures"]


#: Types that hold no future and no annotation: skipped at once (most task arguments).
_PLAIN = frozenset({int, float, str, bytes, bool, complex, type(None)})


def futures_in(value: object, found: dict[TaskFuture, bool], must_complete: bool = True) -> bool:
    """Collect the futures in ``value`` (itself, or inside lists, tuples, sets, dicts and
    annotations, never inside a `quote`) into ``found``, in order: future -> True if it must end
    Completed, False if it appears only inside `allow_failure` (it may end Failed).

    Returns:
      True if ``value`` holds a future or an annotation: `resolve_futures` would change it.
      False: ``value`` can be used as it is.
    """
    if type(value) in _PLAIN:
        return False
    if isinstance(value, TaskFuture):
        found[value] = found.get(value, False) or must_complete
        return True
    if isinstance(value, quote):
        return True
    if isinstance(value, allow_failure):
        futures_in(value.value, found, False)
        return True
    if isinstance(value, unmapped):
        futures_in(value.value, found, must_complete)
        return True
    changed = False
    if isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            if futures_in(item, found, must_complete):
                changed = True
    elif isinstance(value, dict):
        for key, item in value.items():
            if futures_in(key, found, must_complete):
                changed = True
            if futures_in(item, found, must_complete):
                changed = True
    return changed


def resolve_futures(
    value: Any, states: Mapping[TaskFuture, State[Any]], failure_allowed: bool = False
) -> Any:
    """``value`` with every future replaced by its result (same container types) and every
    annotation removed.

    A future's State is taken from ``states`` (the States its waiter received: a runner may
    release a State once it has been delivered), else read from the runner. Inside
    `allow_failure` a Failed future gives its exception (it does not count as seen).

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
        if failure_allowed and state.is_failed():
            return state.result(raise_on_failure=False)
        value._observed = True
        return state.result()
    if isinstance(value, quote):
        return value.value
    if isinstance(value, allow_failure):
        return resolve_futures(value.value, states, True)
    if isinstance(value, unmapped):
        return resolve_futures(value.value, states, failure_allowed)
    if isinstance(value, list):
        return [resolve_futures(item, states, failure_allowed) for item in value]
    if isinstance(value, tuple):
        items = [resolve_futures(item, states, failure_allowed) for item in value]
        if hasattr(value, "_fields"):  # a named tuple
            return type(value)(*items)
        return tuple(items)
    if isinstance(value, (set, frozenset)):
        return type(value)(resolve_futures(item, states, failure_allowed) for item in value)
    if isinstance(value, dict):
        return {
            resolve_futures(k, states, failure_allowed): resolve_futures(v, states, failure_allowed)
            for k, v in value.items()
        }
    return value
