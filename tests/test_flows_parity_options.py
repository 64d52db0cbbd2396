"""Prefect 2 parity in the flow layer: `Task.with_options`, `Flow.with_options`, and names
(``name``, ``task_run_name``, ``flow_run_name``) where names show: futures, States, instruments,
errors."""

from __future__ import annotations

import os
from collections.abc import Hashable
from typing import Any

import pytest
import trio

from trio_runners import (
    ConcurrentTaskRunner,
    FlowRunFailed,
    ProcessPoolTaskRunner,
    SequentialTaskRunner,
    State,
    TaskTimeout,
    UpstreamFailed,
    flow,
    quote,
    task,
)
from trio_runners.abc import Instrument


class BoomError(Exception):
    pass


# -- with_options


def test_task_with_options_returns_a_new_task_and_leaves_the_original_unchanged() -> None:
    def hook(*_: object) -> None:
        pass

    @task(name="original", retries=2, timeout_seconds=5)
    def double(x: int) -> int:
        return 2 * x

    copy = double.with_options(name="copy", retries=0, on_completion=[hook])
    assert copy is not double
    assert (copy.name, copy.retries, copy.timeout_seconds) == ("copy", 0, 5)
    assert copy.on_completion == [hook]
    assert copy.fn is double.fn
    assert (double.name, double.retries, double.timeout_seconds) == ("original", 2, 5)
    assert double.on_completion == []


def test_task_with_options_none_is_a_value_not_unchanged() -> None:
    @task(name="named", timeout_seconds=5)
    def f() -> None:
        pass

    copy = f.with_options(timeout_seconds=None, name=None)
    assert copy.timeout_seconds is None
    assert copy.name == "f"  # None: the default, the function's name


def test_task_with_options_changes_how_its_runs_behave() -> None:
    attempts: list[int] = []

    @task
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) % 2:
            raise BoomError("first attempt")
        return "ok"

    @flow
    def f() -> tuple[State[Any], State[Any]]:
        retried = flaky.with_options(retries=1)().wait()
        plain = flaky().wait()
        return retried, plain

    retried, plain = f()
    assert retried.is_completed()
    assert plain.is_failed()
    assert len(attempts) == 3


def test_with_options_checks_the_options_and_names_the_bad_one() -> None:
    @task
    def t() -> None:
        pass

    @flow
    def f() -> None:
        pass

    with pytest.raises(TypeError, match="retries"):
        t.with_options(retries=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout_seconds"):
        f.with_options(timeout_seconds=-1)
    with pytest.raises(TypeError, match="task_runner"):
        f.with_options(task_runner="dask")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_failure"):
        f.with_options(on_failure=print)  # type: ignore[arg-type]
    assert t.retries == 0
    assert f.timeout_seconds is None


def test_flow_with_options_returns_a_new_flow_and_leaves_the_original_unchanged() -> None:
    @flow(name="original", task_runner=SequentialTaskRunner(), retries=1)
    def f() -> str:
        return "value"

    runner = ConcurrentTaskRunner(max_workers=2)
    copy = f.with_options(name="copy", task_runner=runner, timeout_seconds=60)
    assert copy is not f
    assert (copy.name, copy.task_runner, copy.retries, copy.timeout_seconds) == (
        "copy",
        runner,
        1,
        60,
    )
    assert (f.name, f.task_runner, f.timeout_seconds) == ("original", SequentialTaskRunner(), None)
    assert copy() == "value"
    copy.task_runner = SequentialTaskRunner()  # the copy has its own attribute
    assert f.with_options().task_runner == SequentialTaskRunner()


# -- names


def test_a_tasks_name_names_its_runs_and_shows_in_errors() -> None:
    @task(name="fetch-data")
    def fetch() -> None:
        raise BoomError("no data")

    @task(name="clean-data")
    def clean(x: object) -> None:
        pass

    @flow
    def f() -> Any:
        fetched = fetch()
        state: State[Any] = clean(fetched).wait()
        fetched.wait()
        return quote((fetched, state))  # (the futures themselves, not their results)

    fetched, state = f()
    assert fetched.name == "fetch-data-0"
    assert fetched.task_name == "fetch-data"
    error = state.exception()
    assert isinstance(error, UpstreamFailed)
    assert "'clean-data-0'" in str(error) and "'fetch-data-0'" in str(error)
    assert state.message == "task run 'clean-data-0' did not run"


def test_task_run_name_template_is_formatted_with_the_calls_parameters() -> None:
    @task(task_run_name="greet-{who}-{punctuation}")
    def greet(who: str, punctuation: str = "!") -> str:
        return f"hello {who}{punctuation}"

    @flow
    def f() -> Any:
        futures = [greet("arthur"), greet(who="ford", punctuation="?")]
        for future in futures:
            future.wait()
        return quote(futures)

    futures = f()
    assert [future.name for future in futures] == ["greet-arthur-!", "greet-ford-?"]
    assert [future.state.message for future in futures if future.state] == [
        "task run 'greet-arthur-!' completed",
        "task run 'greet-ford-?' completed",
    ]


def test_task_run_name_callable_is_called_for_each_run() -> None:
    names = iter(["first", "second"])

    @task(task_run_name=lambda: next(names))
    def t() -> None:
        pass

    @flow
    def f() -> list[str]:
        return [t().name, t().name]

    assert f() == ["first", "second"]


def test_task_run_name_shows_in_timeouts_and_failures(
    autojump_clock: trio.testing.MockClock,
) -> None:
    @task(task_run_name="slow-{n}", timeout_seconds=1)
    async def slow(n: int) -> None:
        await trio.sleep(10)

    @flow
    async def f() -> None:
        await slow(7)

    async def run() -> None:
        with pytest.raises(FlowRunFailed, match="slow-7") as caught:
            await f()
        (error,) = caught.value.exceptions
        assert isinstance(error, TaskTimeout)
        assert "'slow-7'" in str(error)

    trio.run(run, clock=autojump_clock)


def test_a_task_run_name_naming_no_parameter_fails_the_submit_with_a_clear_error() -> None:
    @task(task_run_name="run-{nope}")
    def t(x: int) -> None:
        pass

    @flow
    def f() -> None:
        t(1)

    with pytest.raises(
        ValueError, match=r"task_run_name 'run-\{nope\}' names 'nope'.*parameters: x"
    ):
        f()


@pytest.mark.parametrize("option", ["task_run_name", "flow_run_name"])
def test_a_run_name_that_is_neither_str_nor_callable_is_refused_at_decoration(
    option: str,
) -> None:
    decorator: Any = task if option == "task_run_name" else flow
    with pytest.raises(TypeError, match=f"{option} must be a str template, a callable or None"):
        decorator(**{option: 3})


def test_task_run_names_show_in_the_states_instruments_see() -> None:
    messages: dict[Hashable, str | None] = {}

    class Names(Instrument):
        def finished(self, runner: Any, key: Hashable, state: State[Any], time: float) -> None:
            messages[key] = state.message

    @task(task_run_name="item-{i}")
    def item(i: int) -> int:
        return i

    @flow(task_runner=ConcurrentTaskRunner(instruments=[Names()]))
    def f() -> Any:
        futures = item.map([1, 2])
        for future in futures:
            future.wait()
        return quote(futures)

    futures = f()
    assert [messages[future.key] for future in futures] == [
        "task run 'item-1' completed",
        "task run 'item-2' completed",
    ]


def test_flow_run_name_names_the_run_in_its_state_and_errors() -> None:
    @task
    def fail() -> None:
        raise BoomError("x")

    @flow(name="nightly", flow_run_name="nightly-{day}")
    def f(day: str) -> None:
        fail()

    state = f("monday", return_state=True)  # type: ignore[call-arg]
    assert state.message == "flow run 'nightly-monday' failed"
    error = state.exception()
    assert isinstance(error, FlowRunFailed)
    assert "flow run 'nightly-monday'" in str(error)


@task(name="kill-worker")
def die(code: int) -> None:
    os._exit(code)  # the worker process dies


def test_a_worker_process_that_dies_is_named_after_the_task_in_the_crashed_state() -> None:
    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def f() -> State[Any]:
        state: State[Any] = die(3).wait()
        return state

    state = f()
    assert state.is_crashed()
    assert state.message == "the worker process running kill-worker died"
