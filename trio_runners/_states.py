"""The terminal States of a call: Completed, Failed, Cancelled, Crashed."""

from __future__ import annotations

import enum
import sys
from typing import Any, Generic, Literal, TypeVar, cast, final, overload

import attrs
import outcome
import trio

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

T = TypeVar("T")

__all__ = [
    "CancelledRun",
    "Cancelled",
    "Completed",
    "Crashed",
    "Failed",
    "State",
    "StateType",
]


class StateType(enum.Enum):
    """The four ways a call can end."""

    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"


class CancelledRun(Exception):  # noqa: N818 (the name the contract promises)
    """What `State.result()` raises for a Cancelled call.

    A bare `trio.Cancelled` must never travel outside the cancel scope that raised it, so a
    Cancelled State carries this ordinary exception instead.
    """


@final
@attrs.frozen(eq=False, repr=False)
class State(Generic[T]):
    """The final State of one call.

    A State wraps an `outcome.Outcome`: a `Value` for Completed, an `Error` for the other three.
    States compare by identity: every waiter on a key receives the very same object.
    """

    type: StateType
    outcome: outcome.Outcome[T]
    message: str | None = None

    def is_completed(self) -> bool:
        """True for a call that returned a value."""
        return self.type is StateType.COMPLETED

    def is_failed(self) -> bool:
        """True for a call that raised an `Exception`."""
        return self.type is StateType.FAILED

    def is_cancelled(self) -> bool:
        """True for a call whose cancel scope was cancelled (or that never started)."""
        return self.type is StateType.CANCELLED

    def is_crashed(self) -> bool:
        """True for a call the machinery failed (a `BaseException` that is not cancellation,
        a dead worker process, a lost cluster)."""
        return self.type is StateType.CRASHED

    def is_final(self) -> bool:
        """Always True: every State this library makes is terminal."""
        return True

    @overload
    def result(self, raise_on_failure: Literal[True] = ...) -> T: ...

    @overload
    def result(self, raise_on_failure: bool) -> T | BaseException: ...

    def result(self, raise_on_failure: bool = True) -> T | BaseException:
        """Return the call's value, or raise (or return) what ended it.

        Completed: the value. Failed and Crashed: the call's exception is raised, or returned when
        ``raise_on_failure=False``. Cancelled: a `CancelledRun` is raised (or returned), never a
        bare `trio.Cancelled`. Calling it any number of times gives the same answer.
        """
        result = self.outcome
        if isinstance(result, outcome.Error):
            if raise_on_failure:
                raise result.error
            return result.error
        assert isinstance(result, outcome.Value)
        value: T = result.value
        return value

    def exception(self) -> BaseException | None:
        """The exception that ended the call (`CancelledRun` if Cancelled); None if Completed."""
        result = self.outcome
        return result.error if isinstance(result, outcome.Error) else None

    def __repr__(self) -> str:
        name = self.type.value.capitalize()
        result = self.outcome
        shown = (
            repr(result.error)
            if isinstance(result, outcome.Error)
            else repr(cast(outcome.Value[T], result).value)
        )
        if self.message and self.type is not StateType.CANCELLED:
            return f"{name}({shown}, message={self.message!r})"
        return f"{name}({shown})"


def Completed(value: T, message: str | None = None) -> State[T]:  # noqa: N802
    """A Completed State holding ``value``."""
    return State(StateType.COMPLETED, outcome.Value(value), message)


def Failed(exc: BaseException, message: str | None = None) -> State[Any]:  # noqa: N802
    """A Failed State: the call raised ``exc`` (an `Exception`)."""
    if not isinstance(exc, BaseException):
        raise TypeError(f"Failed() takes an exception, not {type(exc).__name__}")
    return State(StateType.FAILED, outcome.Error(exc), message)


def Cancelled(message: str | None = "cancelled") -> State[Any]:  # noqa: N802
    """A Cancelled State; its `result()` raises `CancelledRun(message)`."""
    return State(StateType.CANCELLED, outcome.Error(CancelledRun(message)), message)


def Crashed(exc: BaseException, message: str | None = None) -> State[Any]:  # noqa: N802
    """A Crashed State: the machinery failed with ``exc``."""
    if not isinstance(exc, BaseException):
        raise TypeError(f"Crashed() takes an exception, not {type(exc).__name__}")
    return State(StateType.CRASHED, outcome.Error(exc), message)


def _is_cancellation(exc: BaseException) -> bool:
    """True if ``exc`` is a `trio.Cancelled`, or an exception group made only of them."""
    if isinstance(exc, trio.Cancelled):
        return True
    if isinstance(exc, BaseExceptionGroup):
        rest = exc.split(trio.Cancelled)[1]
        return rest is None
    return False


def state_for_base_exception(exc: BaseException) -> State[Any]:
    """The State of a call that was ended by a `BaseException` that is not an `Exception`."""
    if _is_cancellation(exc):
        return Cancelled("cancelled by an enclosing cancel scope")
    return Crashed(exc)
