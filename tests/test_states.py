"""States: one terminal State per call, wrapping an outcome."""

from __future__ import annotations

import outcome
import pytest

from trio_runners import (
    Cancelled,
    CancelledRun,
    Completed,
    Crashed,
    Failed,
    State,
    StateType,
)
from trio_runners import states as public_states


def test_completed_result_returns_the_value() -> None:
    state = Completed(42)
    assert state.type is StateType.COMPLETED
    assert state.is_completed() and not state.is_failed()
    assert state.result() == 42
    assert state.result(raise_on_failure=False) == 42
    assert state.exception() is None


def test_failed_result_raises_the_calls_exception_every_time() -> None:
    error = ValueError("boom")
    state = Failed(error)
    assert state.is_failed() and not state.is_crashed()
    for _ in range(2):  # an outcome unwraps once; a State answers any number of times
        with pytest.raises(ValueError, match="boom") as info:
            state.result()
        assert info.value is error


def test_failed_result_without_raising_returns_the_exception() -> None:
    error = ValueError("boom")
    assert Failed(error).result(raise_on_failure=False) is error


def test_cancelled_result_raises_cancelled_run_not_trio_cancelled() -> None:
    state = Cancelled("stop")
    assert state.is_cancelled()
    with pytest.raises(CancelledRun, match="stop"):
        state.result()
    assert isinstance(state.result(raise_on_failure=False), CancelledRun)


def test_crashed_result_raises_the_base_exception() -> None:
    state = Crashed(KeyboardInterrupt())
    assert state.is_crashed()
    with pytest.raises(KeyboardInterrupt):
        state.result()


def test_state_wraps_an_outcome() -> None:
    assert isinstance(Completed(1).outcome, outcome.Value)
    assert isinstance(Failed(ValueError()).outcome, outcome.Error)


def test_repr_is_readable() -> None:
    assert repr(Completed(42)) == "Completed(42)"
    assert repr(Failed(ValueError("x"))) == "Failed(ValueError('x'))"
    assert repr(Cancelled("why")) == "Cancelled(CancelledRun('why'))"
    assert repr(Crashed(KeyboardInterrupt())) == "Crashed(KeyboardInterrupt())"


def test_failed_and_crashed_reject_non_exceptions() -> None:
    with pytest.raises(TypeError, match="exception"):
        Failed("not an exception")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exception"):
        Crashed(42)  # type: ignore[arg-type]


def test_public_states_module_reexports_the_same_objects() -> None:
    assert public_states.State is State
    assert public_states.Completed is Completed
