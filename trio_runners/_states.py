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


class CancelledRun(Exception):
    """What `State.result()` raises for a Cancelled call.

    A bare `trio.Cancelled` must never travel outside the cancel scope that raised it, so a
    Cancelled State carries this ordinary exception instead.
    """


@final
@attrs.frozen(eq=False, repr=False)
class State(Generic[T]):
    """The final State of one call.

    A State wraps an `outcome.Outcome`: a `Value` for Completed, an `Error` for the other three.
    States compare by identity: every waiter on a key receives the very same object. A State is
    plain, immutable data: no method blocks or checkpoints, and a Cancelled State's `result`
    raises `CancelledRun`, never `trio.Cancelled`.
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


# The constructors below fill a State's three slots directly (the slots' own descriptors, which
# a frozen class's __setattr__ does not guard): a State is made for every call, and attrs'
# generated __init__ for a frozen class costs about twice as much (0.8 µs against 0.35 µs).
_new_state = object.__new__
_set_type = State.__dict__["type"].__set__
_set_outcome = State.__dict__["outcome"].__set__
_set_message = State.__dict__["message"].__set__
_COMPLETED, _FAILED = StateType.COMPLETED, StateType.FAILED
_CANCELLED, _CRASHED = StateType.CANCELLED, StateType.CRASHED


def _make(type_: StateType, result: outcome.Outcome[Any], message: str | None) -> State[Any]:
    """``State(type_, result, message)``, without attrs' frozen __init__."""
    state: State[Any] = _new_state(State)
    _set_type(state, type_)
    _set_outcome(state, result)
    _set_message(state, message)
    return state


def Completed(value: T, message: str | None = None) -> State[T]:  # noqa: N802
    """A Completed State holding ``value``."""
    return _make(_COMPLETED, outcome.Value(value), message)


def Failed(exc: BaseException, message: str | None = None) -> State[Any]:  # noqa: N802
    """A Failed State: the call raised ``exc`` (an `Exception`)."""
    if not isinstance(exc, BaseException):
        raise TypeError(f"Failed() takes an exception, not {type(exc).__name__}")
    return _make(_FAILED, outcome.Error(exc), message)


def Cancelled(message: str | None = "cancelled") -> State[Any]:  # noqa: N802
    """A Cancelled State; its `result()` raises `CancelledRun(message)`."""
    return _make(_CANCELLED, outcome.Error(CancelledRun(message)), message)


def Crashed(exc: BaseException, message: str | None = None) -> State[Any]:  # noqa: N802
    """A Crashed State: the machinery failed with ``exc``."""
    if not isinstance(exc, BaseException):
        raise TypeError(f"Crashed() takes an exception, not {type(exc).__name__}")
    return _make(_CRASHED, outcome.Error(exc), message)


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
