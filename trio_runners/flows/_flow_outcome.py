"""How a flow run ends: its body's error, Ctrl-C or ``sys.exit`` out of its nursery, and the
final State (with the failures of task runs nobody looked at)."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any

import trio

from ..states import Completed, Failed, State
from ._flow_errors import FlowRunFailed
from ._futures import TaskFuture

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["body_error", "flow_run_state", "process_stop"]


def body_error(exc: BaseException) -> Exception:
    """What failed the flow run when its body (or resolving its return value) raised ``exc``.

    An `Exception` is the error. A `trio.Cancelled` while no enclosing cancel scope is cancelled
    is the body's own defect (for instance it re-raised a task run's Crashed State of a stray
    `trio.Cancelled` through ``result()``): left to propagate, Trio's nursery would swallow it
    and the flow would return None. It becomes a `RuntimeError` caused by it.

    Raises:
      BaseException: ``exc`` itself otherwise (cancellation, `KeyboardInterrupt`...).
    """
    if isinstance(exc, Exception):
        return exc
    if isinstance(exc, trio.Cancelled) and trio.current_effective_deadline() != -math.inf:
        error = RuntimeError(
            "the flow body raised trio.Cancelled, but no cancel scope around it was cancelled"
        )
        error.__cause__ = exc
        return error
    raise exc


def process_stop(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """What a flow run raises (``from group``) when its nursery raised ``group``: a
    `KeyboardInterrupt` if ``group`` holds one, else ``SystemExit`` with the first exit's code if
    it holds one, else None (``group`` itself propagates)."""
    if group.split(KeyboardInterrupt)[0] is not None:
        return KeyboardInterrupt()
    exits = group.split(SystemExit)[0]
    if exits is not None:
        return SystemExit(_first_leaf(exits).code)
    return None


def _first_leaf(group: BaseExceptionGroup[SystemExit]) -> SystemExit:
    """The first exception in ``group`` that is not itself a group."""
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def flow_run_state(
    flow_name: str,
    value: Any,
    error: Exception | None,
    unseen: Sequence[tuple[TaskFuture, State[object]]],
) -> State[Any]:
    """The final State of a flow run whose body gave ``value``, or failed with ``error``.

    Task runs that ended Failed or Crashed and whose result nobody looked at (``unseen``) fail a
    run that had no error with `FlowRunFailed`; with an error, a note on it names them.
    """
    if error is None and unseen:
        error = FlowRunFailed(
            flow_name, [f.name for f, _ in unseen], [_as_exception(s) for _, s in unseen]
        )
    elif error is not None and unseen:
        _add_note(
            error,
            "task runs that failed unseen: "
            + ", ".join(f"{f.name} ({s.type.value.lower()}: {s.exception()!r})" for f, s in unseen),
        )
    return Completed(value) if error is None else Failed(error, f"flow run {flow_name!r} failed")


def _as_exception(state: State[Any]) -> Exception:
    exc = state.exception()
    if isinstance(exc, Exception):
        return exc
    # A Crashed State of a BaseException the run went on after (a stray trio.Cancelled, a
    # BaseExceptionGroup...): FlowRunFailed groups Exceptions, so it carries it as the cause.
    wrapped = RuntimeError(f"crashed with {exc!r}")
    wrapped.__cause__ = exc
    return wrapped


def _add_note(error: BaseException, note: str) -> None:
    """``error.add_note(note)``, also on Python 3.10 (where the exceptiongroup backport shows
    ``__notes__`` in tracebacks)."""
    if sys.version_info >= (3, 11):
        error.add_note(note)
    else:  # pragma: no cover
        error.__notes__ = [*getattr(error, "__notes__", []), note]  # type: ignore[attr-defined]
