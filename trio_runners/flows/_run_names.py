"""Run names: ``task_run_name`` / ``flow_run_name``, a ``str.format`` template filled with the
call's parameters, or a callable returning the name (as in Prefect 2); and the call's parameters
by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["RunName", "check_run_name", "parameters_of", "run_name"]

#: A run name option: a template such as ``"greet-{name}"``, or a callable with no arguments.
RunName = str | Callable[[], str]


def check_run_name(option: str, value: object) -> None:
    """Raises `TypeError` unless ``value`` is None, a ``str`` or a callable; the message names
    ``option``."""
    if value is not None and not isinstance(value, str) and not callable(value):
        raise TypeError(
            f"{option} must be a str template, a callable or None, not {value!r} "
            f"({type(value).__name__})"
        )


def parameters_of(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any] | None:
    """The call's arguments by parameter name, defaults filled in; None if they do not fit the
    signature of ``fn`` (the call itself will fail with the `TypeError`)."""
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None
    bound.apply_defaults()
    return dict(bound.arguments)


def run_name(
    option: str,
    template: RunName | None,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> str | None:
    """The run's name from ``template`` (None: no template, or arguments that do not fit the
    signature, so the caller uses its default name).

    A template is formatted with the parameters as the call gave them (a `TaskFuture` argument
    shows as the future, not its result). A callable is called with no arguments.

    Raises:
      ValueError: the template names a field that is not a parameter of ``fn``, or is malformed.
      TypeError: the callable returned something other than a ``str``.
    """
    if template is None:
        return None
    if not isinstance(template, str):
        name = template()
        if not isinstance(name, str):
            raise TypeError(
                f"{option} {template!r} returned {name!r} ({type(name).__name__}), not a str"
            )
        return name
    parameters = parameters_of(fn, args, kwargs)
    if parameters is None:
        return None
    try:
        return template.format(**parameters)
    except (KeyError, IndexError) as exc:
        raise ValueError(
            f"{option} {template!r} names {exc.args[0]!r}, which is not a parameter of "
            f"{getattr(fn, '__name__', fn)!r} (parameters: {', '.join(parameters) or 'none'})"
        ) from None
    except ValueError as exc:
        raise ValueError(f"{option} {template!r} is not a valid template: {exc}") from None
