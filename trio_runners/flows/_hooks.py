"""State hooks (``on_completion``, ``on_failure``) of tasks and flows, as in Prefect 2, and the
read-only records of a run that they receive: `TaskRunInfo`, `FlowRunInfo`.

A task's hook is called ``hook(task, task_run, state)``, a flow's ``hook(flow, flow_run, state)``,
with Prefect 2's signatures; ``task_run`` is a `TaskRunInfo`, ``flow_run`` a `FlowRunInfo`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, final
from uuid import UUID

import attrs
import trio

from ..states import State
from ._flow_checks import is_async_callable

__all__ = ["FlowRunInfo", "Hook", "TaskRunInfo", "check_hooks", "run_hooks"]

LOGGER = logging.getLogger("trio_runners")

#: A state hook: ``hook(task_or_flow, run_info, state)``, sync or async; its return value is
#: ignored.
Hook = Callable[[Any, Any, State[Any]], Any]


@final
@attrs.frozen
class TaskRunInfo:
    """What a task's state hook learns about the task run (its ``task_run`` argument).

    A record, not the `TaskFuture`: while the hooks run the task run has not ended yet (its
    State is recorded once they return), so its future could not be waited on from a hook.
    """

    #: The task run's name (``say_hello-3``, or what ``task_run_name`` made).
    name: str
    #: The runner key of the task run (the future's ``key``).
    key: UUID
    #: The task's name.
    task_name: str
    #: The name of the flow run the task run belongs to.
    flow_run_name: str


@final
@attrs.frozen
class FlowRunInfo:
    """What a flow's state hook learns about the flow run (its ``flow_run`` argument)."""

    #: The flow run's name (the flow's name, or what ``flow_run_name`` made).
    name: str
    #: The flow's name.
    flow_name: str
    #: The flow's parameters, by name, as the call gave them (defaults filled in); empty if
    #: the arguments did not fit the function's signature.
    parameters: Mapping[str, Any]


def check_hooks(option: str, hooks: object) -> list[Hook]:
    """``hooks`` (None: no hook) as a list.

    Raises:
      TypeError: ``hooks`` is not an iterable of callables (a single function is refused, as in
        Prefect: pass ``[hook]``); the message names ``option``.
    """
    if hooks is None:
        return []
    if callable(hooks) or isinstance(hooks, (str, bytes)) or not isinstance(hooks, Iterable):
        raise TypeError(
            f"{option} takes a list of hooks, not {hooks!r} ({type(hooks).__name__}): "
            f"write {option}=[hook]"
        )
    checked = list(hooks)
    for hook in checked:
        if not callable(hook):
            raise TypeError(
                f"{option}: every hook must be callable, not {hook!r} ({type(hook).__name__})"
            )
    return checked


async def run_hooks(
    option: str, hooks: Iterable[Hook], owner: object, info: object, state: State[Any]
) -> None:
    """Call each hook as ``hook(owner, info, state)``, in order. A checkpoint.

    An async hook is awaited on the Trio thread; a sync hook runs in a Trio worker thread (it
    must not block the event loop), abandoned if the caller is cancelled. A hook that raises an
    `Exception` is logged with its traceback on the ``trio_runners`` logger (ERROR), changes
    nothing, and the next hook runs.

    Raises:
      trio.Cancelled: the caller was cancelled (the remaining hooks do not run).
      BaseException: a hook raised one that is not an `Exception` (``KeyboardInterrupt``...).
    """
    for hook in hooks:
        try:
            if is_async_callable(hook):
                await hook(owner, info, state)
            else:
                call = functools.partial(hook, owner, info, state)
                await trio.to_thread.run_sync(call, abandon_on_cancel=True)
        except Exception:
            LOGGER.exception(
                "%s hook %r of %r raised; the State (%r) is unchanged", option, hook, info, state
            )
    await trio.lowlevel.checkpoint()
