"""The flow layer's option checks: `@task` options, names, timeouts (one replaceable block).

Each check raises at once with a message naming the option and the bad value. Kept together, as
they were written, so that a shared attrs-based validator helper can replace them in one step.
"""

from __future__ import annotations

import enum
import functools
import inspect
import math
import numbers
from typing import Final, cast

__all__ = [
    "KEEP",
    "Keep",
    "_check_options",
    "_check_timeout",
    "check_name",
    "check_number",
    "is_async_callable",
]


def is_async_callable(fn: object) -> bool:
    """True if calling ``fn`` returns a coroutine (async functions, partials of them, objects
    with an ``async def __call__``): a task, flow or hook that runs on the event loop."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    return inspect.iscoroutinefunction(getattr(type(fn), "__call__", None))  # noqa: B004


class Keep(enum.Enum):
    """The type of `KEEP`: ``with_options`` leaves an option it was not given as it is (None is
    a value some options take, so it cannot mean "unchanged")."""

    KEEP = "KEEP"


KEEP: Final = Keep.KEEP


def check_number(option: str, value: object) -> float:
    """``value`` if it is a real number: an ``int``, a ``float`` (or another `numbers.Real`), but
    not a ``bool``.

    Raises:
      TypeError: it is not; the message names ``option`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{option} must be an int or a float, not {value!r} ({type(value).__name__})"
        )
    return cast(float, value)


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and not check_number("timeout", timeout) >= 0:
        raise ValueError(f"timeout must be None or a number >= 0, not {timeout!r}")


def _check_options(
    name: object, retries: object, retry_delay_seconds: object, timeout_seconds: object
) -> None:
    """Check a task's (or a flow's) options, naming the bad one and its value.

    Raises:
      TypeError: an option of the wrong type (a ``bool`` is not a number here).
      ValueError: a negative ``retries``, a negative, infinite or NaN ``retry_delay_seconds``, or
        a ``timeout_seconds`` <= 0 or NaN.
    """
    check_name(name)
    if isinstance(retries, bool) or not isinstance(retries, numbers.Integral):
        raise TypeError(f"retries must be an int, not {retries!r} ({type(retries).__name__})")
    if retries < 0:
        raise ValueError(f"retries must be an int >= 0, not {retries!r}")
    delay = check_number("retry_delay_seconds", retry_delay_seconds)
    if not 0 <= delay < math.inf:  # (also refuses NaN)
        raise ValueError(
            f"retry_delay_seconds must be a finite number >= 0, not {retry_delay_seconds!r}"
        )
    if timeout_seconds is not None and not check_number("timeout_seconds", timeout_seconds) > 0:
        raise ValueError(f"timeout_seconds must be None or a number > 0, not {timeout_seconds!r}")


def check_name(name: object) -> None:
    """Raises `TypeError` unless ``name`` (a task's or a flow's) is a ``str`` or None."""
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str or None, not {name!r} ({type(name).__name__})")
