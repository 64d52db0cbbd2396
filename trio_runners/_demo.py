"""The greetings demo behind ``python -m trio_runners``, and the registry of runners it offers.

Adding a runner to the demo is one line in `RUNNERS`: its name, the module it lives in, the
class and its constructor options. A runner whose module is missing (an extra that is not
installed) is listed as unavailable instead of breaking the demo.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import random
import sys
from collections.abc import Sequence
from typing import Any

import trio

from ._base import BaseTaskRunner
from ._flows import flow
from ._futures import TaskFuture
from ._tasks import task

__all__ = ["RUNNERS", "main", "make_runner"]

#: Dask for the demo: a LocalCluster of two single-threaded worker processes, every socket on
#: the loopback interface (a bare DaskTaskRunner() would serve its dashboard on every interface).
DASK_DEMO_OPTIONS: dict[str, Any] = {
    "cluster_kwargs": {
        "n_workers": 2,
        "threads_per_worker": 1,
        "host": "127.0.0.1",
        "dashboard_address": None,
    }
}

#: name -> (module, class name, constructor options). Add new runners here.
RUNNERS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "sequential": ("trio_runners.task_runners", "SequentialTaskRunner", {}),
    "concurrent": ("trio_runners.task_runners", "ConcurrentTaskRunner", {}),
    "threads": ("trio_runners.task_runners", "ThreadPoolTaskRunner", {}),
    "processes": ("trio_runners.task_runners", "ProcessPoolTaskRunner", {}),
    "dask": ("trio_runners.dask", "DaskTaskRunner", DASK_DEMO_OPTIONS),
}

DEFAULT_NAMES = ("arthur", "trillian", "ford", "marvin")


def make_runner(name: str) -> BaseTaskRunner:
    """A new runner of the registered kind ``name``.

    Raises:
      KeyError: ``name`` is not registered.
      LookupError: the runner is registered but not available here (module or class missing).
    """
    module_name, class_name, options = RUNNERS[name]
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
    except (ImportError, AttributeError) as exc:
        raise LookupError(f"runner {name!r} is not available: {exc}") from exc
    runner = cls(**options)
    assert isinstance(runner, BaseTaskRunner)
    return runner


@task
def say_hello(name: str) -> None:
    print(f"hello {name}\n", end="")  # one write: lines from threads never interleave


@task
def say_goodbye(name: str) -> None:
    print(f"goodbye {name}\n", end="")


@flow
def greetings(names: Sequence[str], runs: list[TaskFuture]) -> None:
    for name in names:
        runs.append(say_hello(name))
        runs.append(say_goodbye(name))


async def _work(i: int) -> int:
    await trio.sleep(random.uniform(0, 0.02))  # stands in for I/O of varying length
    if i % 50 == 49:
        raise ValueError(f"call {i} fails, as some do")
    return i


def progress_demo(runner: BaseTaskRunner, calls: int) -> int:
    """Run ``calls`` short calls through ``runner`` with a live `ProgressBar`."""
    try:
        from .progress import ProgressBar
    except ImportError:
        print("error: --progress needs rich: pip install 'trio-runners[progress]'", file=sys.stderr)
        return 2

    async def run() -> None:
        async with runner.start():
            for i in range(calls):
                await runner.submit(i, functools.partial(_work, i))

    with ProgressBar(f"{calls} calls, {runner.name}") as bar:
        runner.add_instrument(bar)
        trio.run(run)
    print(bar.counts_line())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the greetings flow on the chosen runner and print a per-task-run summary."""
    parser = argparse.ArgumentParser(
        prog="python -m trio_runners", description="The greetings flow on a task runner."
    )
    parser.add_argument("--runner", choices=sorted(RUNNERS), default="sequential")
    parser.add_argument("--names", nargs="+", default=list(DEFAULT_NAMES), metavar="NAME")
    parser.add_argument(
        "--progress",
        action="store_true",
        help="instead of the greetings, run --calls calls with a live progress bar (on a terminal)",
    )
    parser.add_argument("--calls", type=int, default=300, help="how many calls --progress runs")
    args = parser.parse_args(argv)
    try:
        runner = make_runner(args.runner)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.progress:
        return progress_demo(runner, args.calls)
    greetings.task_runner = runner
    runs: list[TaskFuture] = []
    greetings(args.names, runs)
    print(f"\n{len(runs)} task runs on {runner!r}:")
    for run in runs:
        state = run.state
        shown = "?" if state is None else state.type.value.lower()
        duration = run.duration
        took = "-" if duration is None else f"{duration * 1000:.1f} ms"
        print(f"  {run.name:<16} {shown:<10} {took}")
    return 0
