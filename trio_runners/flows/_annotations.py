"""Annotations on a task's arguments, as in Prefect 2: `allow_failure`, `quote`, `unmapped`.

Each wraps one value and is removed before the task's function sees its arguments (the
function receives what the annotation stands for). They are recognised wherever the flow layer
looks for futures: directly among the arguments, inside lists, tuples, sets and dicts, in
``wait_for``, and in a flow body's return value (``_future_args.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, TypeVar, final

import attrs

__all__ = ["allow_failure", "map_rows", "quote", "unmapped"]

T = TypeVar("T")


@final
@attrs.frozen
class allow_failure(Generic[T]):  # noqa: N801 (Prefect's name)
    """Let a task run start even though an upstream in ``value`` ended Failed.

    Wrap a `TaskFuture` (or data holding futures) among a task's arguments or in its
    ``wait_for``: the task run still waits for those upstreams, but one that ended **Failed**
    no longer stops it. Where such a future stands among the arguments the function receives
    the exception that failed the upstream (Prefect 2's
    ``state.result(raise_on_failure=False)``); a Completed upstream gives its value as usual.
    An upstream that ended Crashed or Cancelled still fails the task run with `UpstreamFailed`,
    as in Prefect 2. The upstream's failure is not counted as seen: the flow run still reports
    it (`FlowRunFailed`) unless the body looked at its result.
    """

    value: T

    def unwrap(self) -> T:
        """The wrapped value."""
        return self.value


@final
@attrs.frozen
class quote(Generic[T]):  # noqa: N801 (Prefect's name)
    """Pass ``value`` to a task as it is: never searched, never resolved.

    The function receives ``value`` itself (not the `quote`): futures inside it are neither
    waited for nor replaced by their results, States stay States, and a large structure is not
    walked through (which also saves the time of searching it for futures).
    """

    value: T

    def unquote(self) -> T:
        """The quoted value (Prefect's name for `unwrap`)."""
        return self.value

    def unwrap(self) -> T:
        """The quoted value."""
        return self.value


@final
@attrs.frozen
class unmapped(Generic[T]):  # noqa: N801 (Prefect's name)
    """In `Task.map`, pass ``value`` whole to every task run instead of iterating over it.

    ``add.map([1, 2, 3], unmapped(10))`` submits ``add(1, 10)``, ``add(2, 10)``,
    ``add(3, 10)``. Elsewhere (a keyword argument of ``map``, an argument of ``submit``) it is
    simply removed: the function receives ``value``.
    """

    value: T

    def unwrap(self) -> T:
        """The wrapped value."""
        return self.value


def map_rows(iterables: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """The positional arguments of each task run of ``Task.map(*iterables)``: the iterables
    zipped, with each `unmapped` argument repeated in its place.

    Raises:
      TypeError: an argument is neither iterable nor `unmapped` (the message names its
        position).
      ValueError: the iterables have different lengths, or every argument is `unmapped`.
    """
    columns: list[list[Any] | None] = []
    for position, argument in enumerate(iterables):
        if isinstance(argument, unmapped):
            columns.append(None)
            continue
        if not isinstance(argument, Iterable):
            raise TypeError(
                f"map: positional argument {position} ({type(argument).__name__}) is not "
                "iterable; wrap it in unmapped(...) to pass it whole to every task run"
            )
        columns.append(list(argument))
    lengths = {len(column) for column in columns if column is not None}
    if iterables and not lengths:
        raise ValueError("map: every argument is unmapped(...); give at least one iterable")
    if len(lengths) > 1:
        shown = ", ".join(str(len(c)) if c is not None else "unmapped" for c in columns)
        raise ValueError(f"map: the iterables have different lengths ({shown})")
    count = lengths.pop() if lengths else 0
    return [
        tuple(
            iterables[p].value if column is None else column[row]
            for p, column in enumerate(columns)
        )
        for row in range(count)
    ]
