"""No failure vanishes: unseen task failures fail the flow run, naming the task runs."""

import sys

import pytest
import trio
import trio.testing

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

from trio_runners import CancelledRun, FlowRunFailed, State, TaskFuture, flow, task


class BoomError(Exception):
    pass


@task
def fail(message: str) -> None:
    raise BoomError(message)


@task
def ok() -> int:
    return 1


def test_an_unseen_task_failure_fails_the_flow_naming_the_task_runs() -> None:
    @flow
    def f() -> str:
        ok()
        fail("first")
        fail("second")
        return "body finished"

    with pytest.raises(FlowRunFailed) as caught:
        f()
    error = caught.value
    assert error.task_runs == ("fail-0", "fail-1")
    assert "fail-0" in str(error)
    assert "fail-1" in str(error)
    assert [str(exc) for exc in error.exceptions] == ["first", "second"]
    assert all(isinstance(exc, BoomError) for exc in error.exceptions)


def test_unseen_failures_are_catchable_with_except_star() -> None:
    @flow
    def f() -> None:
        fail("x")

    with pytest.RaisesGroup(BoomError, match="fail-0"):
        f()


def test_return_state_gives_a_failed_state_for_unseen_failures() -> None:
    @flow
    def f() -> None:
        fail("x")

    state = f(return_state=True)
    assert isinstance(state, State)
    assert state.is_failed()
    assert isinstance(state.exception(), FlowRunFailed)


def test_a_failure_whose_result_the_body_looked_at_does_not_fail_the_flow() -> None:
    @flow
    def f() -> str:
        error = fail("seen").result(raise_on_failure=False)
        return f"handled {error}"

    assert f() == "handled seen"


def test_a_failure_the_body_waited_for_does_not_fail_the_flow() -> None:
    @flow
    def f() -> bool:
        state = fail("seen").wait()
        return bool(state.is_failed())

    assert f() is True


def test_a_failure_raised_from_result_in_the_body_fails_the_flow_with_that_exception() -> None:
    @flow
    def f() -> None:
        fail("raised").result()

    with pytest.raises(BoomError, match="raised"):
        f()


def test_a_failed_future_in_the_return_value_raises_its_exception() -> None:
    @flow
    def f() -> object:
        return [fail("returned")]

    with pytest.raises(BoomError, match="returned"):
        f()


async def test_body_exception_wins_and_notes_the_unseen_task_failures() -> None:
    @task
    async def afail() -> None:
        await trio.lowlevel.checkpoint()
        raise BoomError("unseen")

    @flow
    async def f() -> None:
        future = await afail()
        await trio.testing.wait_all_tasks_blocked()
        assert future.state is not None  # failed, and the body has not looked at it
        raise ValueError("body")

    with pytest.raises(ValueError, match="body") as caught:
        await f()
    assert len(caught.value.__notes__) == 1
    assert "afail-0" in caught.value.__notes__[0]
    assert "unseen" in caught.value.__notes__[0]


async def test_body_exception_cancels_the_unfinished_task_runs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    futures: list[TaskFuture] = []

    @task
    async def forever() -> None:
        await trio.sleep_forever()

    @flow
    async def f() -> None:
        futures.append(await forever())
        await trio.testing.wait_all_tasks_blocked()
        raise ValueError("body")

    with pytest.raises(ValueError, match="body"):
        await f()
    state = futures[0].state
    assert state is not None
    assert state.is_cancelled()
    with pytest.raises(CancelledRun):
        state.result()


async def test_cancelling_an_async_flow_cancels_its_task_runs_and_propagates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    futures: list[TaskFuture] = []

    @task
    async def forever() -> None:
        await trio.sleep_forever()

    @flow
    async def f() -> None:
        futures.append(await forever())
        await trio.sleep_forever()

    with trio.move_on_after(5) as scope:
        await f()
    assert scope.cancelled_caught
    state = futures[0].state
    assert state is not None
    assert state.is_cancelled()


def test_sys_exit_in_a_task_run_leaves_the_flow_as_a_plain_system_exit_with_its_code() -> None:
    @task
    def bye() -> None:
        sys.exit(3)

    @flow
    def f() -> None:
        bye()

    with pytest.raises(SystemExit) as caught:
        f()
    assert caught.value.code == 3
    assert isinstance(caught.value.__cause__, BaseExceptionGroup)  # what the runner raised


class StrayError(BaseException):
    pass


def test_task_runs_crashed_by_a_base_exception_fail_the_flow_which_names_them() -> None:
    @task
    def odd() -> None:
        raise StrayError("odd")

    @task
    async def stray() -> None:
        raise trio.Cancelled._create()  # no scope was cancelled: the call's own defect

    @flow
    def f() -> int:
        odd()
        stray()
        return int(ok().result())  # the run went on

    with pytest.raises(FlowRunFailed) as caught:
        f()
    assert caught.value.task_runs == ("odd-0", "stray-0")
    causes = [type(error.__cause__) for error in caught.value.exceptions]
    assert causes == [StrayError, trio.Cancelled]
    assert all(isinstance(error, RuntimeError) for error in caught.value.exceptions)


async def test_a_stray_cancelled_out_of_an_async_flow_body_fails_the_flow_not_vanishing() -> None:
    @task
    async def stray() -> None:
        raise trio.Cancelled._create()

    @flow
    async def f() -> object:
        future = await stray()
        return await future.result()  # re-raises the Crashed State's trio.Cancelled

    with pytest.raises(RuntimeError, match="no cancel scope around it was cancelled") as caught:
        await f()
    assert isinstance(caught.value.__cause__, trio.Cancelled)


def test_a_stray_cancelled_raised_by_a_sync_flow_body_is_its_failed_state() -> None:
    @flow
    def f() -> None:
        raise trio.Cancelled._create()

    state = f(return_state=True)
    assert state.is_failed()
    with pytest.raises(RuntimeError, match=r"flow body raised trio\.Cancelled"):
        state.result()
