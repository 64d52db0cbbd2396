"""A flow that a type checker follows: ``Task[P, R]``, ``submit`` -> ``TaskFuture[R]``,
``result()`` -> ``R``.

Run it (``python examples/typed_flow.py``) and type-check it (``mypy --strict
examples/typed_flow.py``, part of ``make typecheck``). The annotations below are checked, not
decorative: each one would be an error if the types the library declares were different, and the
block under ``if TYPE_CHECKING`` shows what mypy refuses (each ``type: ignore`` there is needed,
or ``--strict`` reports it as unused).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio.lowlevel

from trio_runners import SequentialTaskRunner, State, Task, TaskFuture, flow, task, unmapped


@task
def square(x: int) -> int:
    return x * x


@task
async def describe(x: int, unit: str) -> str:
    await trio.lowlevel.checkpoint()
    return f"{x} {unit}"


@flow(task_runner=SequentialTaskRunner())
def report(xs: list[int]) -> list[str]:
    squares: list[TaskFuture[int]] = square.map(xs)
    total: int = sum(future.result() for future in squares)
    first: TaskFuture[int] = square.submit(xs[0])
    state: State[int] | None = first.wait()  # wait() is typed Any (docs/flows.md)
    assert state is not None and state.is_completed()
    # An async task's future holds what its coroutine returns.
    described: list[TaskFuture[str]] = describe.map(xs, unmapped("m²"))
    after: TaskFuture[str] = describe.submit(total, "in all", wait_for=[first])
    return [future.result() for future in described] + [after.result()]


typed_task: Task[[int], int] = square

if TYPE_CHECKING:
    # What mypy refuses: a wrong argument type, a result used as the wrong type.
    square.submit("three")  # type: ignore[call-overload]
    wrong: str = square.submit(3).result()  # type: ignore[assignment]
    also_wrong: int = describe.submit(3, "m").result()  # type: ignore[assignment]

if __name__ == "__main__":
    print(report([1, 2, 3]))  # ['1 m²', '2 m²', '3 m²', '14 in all']
