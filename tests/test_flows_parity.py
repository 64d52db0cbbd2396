"""Prefect 2 parity in the flow layer: `allow_failure`, `quote`, `unmapped`.

Options (`with_options`, names) are in test_flows_parity_options.py, flow timeouts and retries
in test_flows_parity_runs.py, state hooks in test_flows_parity_hooks.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from trio_runners import (
    Completed,
    FlowRunFailed,
    State,
    TaskFuture,
    UpstreamFailed,
    allow_failure,
    flow,
    quote,
    task,
    unmapped,
)


class BoomError(Exception):
    pass


@task
def boom() -> int:
    raise BoomError("boom")


@task
def one() -> int:
    return 1


@task
def received(x: object) -> object:
    return x


@task
def add(x: int, y: int) -> int:
    return x + y


# -- allow_failure


def test_allow_failure_runs_the_downstream_with_the_upstreams_exception_as_its_argument() -> None:
    @flow
    def f() -> tuple[object, object]:
        upstream = boom()
        downstream = received(allow_failure(upstream))
        return downstream.result(), upstream.result(raise_on_failure=False)

    got, upstream_error = f()
    assert isinstance(got, BoomError)
    assert got is upstream_error  # Prefect 2: state.result(raise_on_failure=False)


def test_allow_failure_of_a_completed_upstream_gives_its_value() -> None:
    @flow
    def f() -> object:
        return received(allow_failure(one())).result()

    assert f() == 1


def test_allow_failure_works_inside_containers() -> None:
    @flow
    def f() -> object:
        upstream = boom()
        result = received([allow_failure(upstream), {"k": allow_failure(one())}]).result()
        upstream.wait()
        return result

    got = f()
    assert isinstance(got, list)
    assert isinstance(got[0], BoomError)
    assert got[1] == {"k": 1}


def test_allow_failure_in_wait_for_runs_the_downstream_after_a_failed_upstream() -> None:
    order: list[str] = []

    @task
    def failing() -> None:
        order.append("upstream")
        raise BoomError("x")

    @task
    def cleanup() -> str:
        order.append("cleanup")
        return "cleaned"

    @flow
    def f() -> object:
        upstream = failing()
        result = cleanup.submit(wait_for=[allow_failure(upstream)]).result()
        upstream.wait()
        return result

    assert f() == "cleaned"
    assert order == ["upstream", "cleanup"]


def test_without_allow_failure_the_downstream_does_not_run() -> None:
    @flow
    def f() -> State[Any]:
        upstream = boom()
        state: State[Any] = received(upstream).wait()
        upstream.wait()
        return state

    state = f()
    assert state.is_failed()
    assert isinstance(state.exception(), UpstreamFailed)


def test_a_future_also_passed_without_allow_failure_must_still_complete() -> None:
    @flow
    def f() -> State[Any]:
        upstream = boom()
        state: State[Any] = received((allow_failure(upstream), upstream)).wait()
        upstream.wait()
        return state

    assert isinstance(f().exception(), UpstreamFailed)


async def test_allow_failure_does_not_allow_a_cancelled_upstream() -> None:
    @task
    async def forever() -> None:
        await trio.sleep_forever()

    @flow
    async def f() -> State[Any]:
        upstream: TaskFuture = await forever()
        downstream: TaskFuture = await received(allow_failure(upstream))
        upstream.cancel()
        state: State[Any] = await downstream.wait()
        return state

    state = await f()
    error = state.exception()
    assert isinstance(error, UpstreamFailed)
    assert error.upstream_state.is_cancelled()


async def test_allow_failure_does_not_allow_a_crashed_upstream() -> None:
    @task
    async def crash() -> None:
        raise trio.TooSlowError  # an Exception: Failed. A BaseException is a crash:

    @task
    async def crash_hard() -> None:
        raise GeneratorExit  # a BaseException that is not cancellation: Crashed

    @flow
    async def f() -> tuple[State[Any], State[Any]]:
        failed: TaskFuture = await crash()
        crashed: TaskFuture = await crash_hard()
        ok: State[Any] = await (await received(allow_failure(failed))).wait()
        refused: State[Any] = await (await received(allow_failure(crashed))).wait()
        await failed.wait()
        await crashed.wait()
        return ok, refused

    ok, refused = await f()
    assert ok.is_completed()
    error = refused.exception()
    assert isinstance(error, UpstreamFailed)
    assert error.upstream_state.is_crashed()


def test_an_upstream_failure_passed_through_allow_failure_is_still_reported_by_the_flow() -> None:
    @flow
    def f() -> None:
        received(allow_failure(boom())).result()

    with pytest.raises(FlowRunFailed) as caught:
        f()
    assert caught.value.task_runs == ("boom-0",)


# -- quote


async def test_quote_passes_a_future_unresolved_and_does_not_wait_for_it() -> None:
    release = trio.Event()

    @task
    async def blocked() -> int:
        await release.wait()
        return 5

    @flow
    async def f() -> tuple[object, TaskFuture, bool]:
        upstream: TaskFuture = await blocked()
        got = await (await received(quote({"future": upstream}))).result()
        still_running = not upstream.done()
        release.set()
        await upstream.result()
        return got, upstream, still_running

    got, upstream, still_running = await f()
    assert got == {"future": upstream}  # the future itself, not its result
    assert still_running  # the downstream did not wait for it


def test_quote_passes_a_state_as_it_is() -> None:
    state = Completed(3)
    seen: list[object] = []

    @task
    def keep(x: object) -> None:
        seen.append(x)

    @flow
    def f() -> None:
        keep(quote(state)).result()
        keep(quote([state])).result()

    f()
    assert seen[0] is state
    assert seen[1] == [state]
    assert seen[1][0] is state


def test_quoted_data_is_not_searched() -> None:
    class Untouchable(list[int]):
        def __iter__(self) -> Any:
            raise AssertionError("the quoted list was searched")

    data = Untouchable([1, 2])
    seen: list[object] = []

    @task
    def keep(x: object) -> None:
        seen.append(x)

    @flow
    def f() -> None:
        keep(quote(data)).result()

    f()
    assert seen == [data] and seen[0] is data


def test_quote_in_a_flows_return_value_is_removed_and_its_content_kept() -> None:
    @flow
    def f() -> object:
        future = one()
        future.result()
        return quote([future])

    (future,) = f()
    assert isinstance(future, TaskFuture)


# -- unmapped


def test_unmapped_positional_argument_is_passed_whole_to_every_task_run() -> None:
    @task
    def pair(x: int, ys: list[int]) -> tuple[int, list[int]]:
        return x, ys

    @flow
    def f() -> list[object]:
        futures = add.map([1, 2, 3], unmapped(10))
        pairs = pair.map([1, 2], unmapped([7, 8]))
        return [f.result() for f in futures] + [p.result() for p in pairs]

    assert f() == [11, 12, 13, (1, [7, 8]), (2, [7, 8])]


def test_unmapped_keyword_argument_is_unwrapped() -> None:
    @flow
    def f() -> list[int]:
        return [future.result() for future in add.map([1, 2], y=unmapped(5))]

    assert f() == [6, 7]


def test_an_unmapped_future_is_waited_for_by_every_task_run() -> None:
    @flow
    def f() -> list[int]:
        return [future.result() for future in add.map([1, 2], unmapped(one()))]

    assert f() == [2, 3]


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (([1, 2], 5), TypeError, r"positional argument 1 \(int\) is not iterable.*unmapped"),
        (([1, 2], [1]), ValueError, r"different lengths \(2, 1\)"),
        ((unmapped(1), unmapped(2)), ValueError, "every argument is unmapped"),
    ],
)
def test_map_refuses_arguments_it_cannot_map_before_submitting_any(
    arguments: tuple[object, ...], error: type[Exception], message: str
) -> None:
    ran: list[object] = []

    @task
    def record(*args: object) -> None:
        ran.append(args)

    @flow
    def f() -> None:
        record.map(*arguments)  # type: ignore[arg-type]

    with pytest.raises(error, match=message):
        f()
    assert ran == []


def test_annotations_unwrap_to_their_value() -> None:
    assert allow_failure(1).unwrap() == 1
    assert quote(2).unquote() == quote(2).unwrap() == 2
    assert unmapped(3).unwrap() == 3
