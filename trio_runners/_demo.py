"""The greetings demo behind ``python -m trio_runners``, and the registry of runners it offers.

Adding a runner to the demo is one line in `RUNNERS`: its name, the module it lives in, the
class, its constructor options and, for a runner that needs an extra, the extra and the modules
it provides. A runner whose extra is not installed is reported in one line instead of breaking
the demo.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import random
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

import trio

from ._base import BaseTaskRunner
from .flows import TaskFuture, flow, task

__all__ = ["RUNNERS", "Entry", "main", "make_runner"]

#: Dask for the demo: a LocalCluster of two single-threaded worker processes, every socket on
#: the loopback interface, no dashboard.
DASK_DEMO_OPTIONS: dict[str, Any] = {
    "cluster_kwargs": {
        "n_workers": 2,
        "threads_per_worker": 1,
        "host": "127.0.0.1",
        "dashboard_address": None,
    }
}


class Entry(NamedTuple):
    """One runner of the demo (a plain ``(module, class_name, options)`` tuple also works)."""

    module: str
    class_name: str
    options: dict[str, Any]
    #: The extra that installs what the runner needs beyond the core, and those modules.
    extra: str | None = None
    needs: tuple[str, ...] = ()


#: name -> runner. Add new runners here.
RUNNERS: dict[str, tuple[Any, ...]] = {
    "sequential": Entry("trio_runners.task_runners", "SequentialTaskRunner", {}),
    "concurrent": Entry("trio_runners.task_runners", "ConcurrentTaskRunner", {}),
    "threads": Entry("trio_runners.task_runners", "ThreadPoolTaskRunner", {}),
    "processes": Entry(
        "trio_runners.task_runners",
        "ProcessPoolTaskRunner",
        {},
        extra="processes",
        needs=("trio_parallel", "cloudpickle"),
    ),
    "dask": Entry(
        "trio_runners.dask",
        "DaskTaskRunner",
        DASK_DEMO_OPTIONS,
        extra="dask",
        needs=("distributed", "cloudpickle"),
    ),
}

#: How often the progress demo's calls fail on purpose (to show Failed States): every 50th.
FAIL_EVERY = 50

DEFAULT_NAMES = ("arthur", "trillian", "ford", "marvin")


def make_runner(name: str) -> BaseTaskRunner:
    """A new runner of the registered kind ``name``.

    Raises:
      KeyError: ``name`` is not registered.
      LookupError: the runner is registered but not available here: a module its extra provides
        is missing, or its module or class is.
    """
    entry = Entry(*RUNNERS[name])
    for needed in entry.needs:
        try:
            importlib.import_module(needed)
        except ImportError as exc:
            raise LookupError(
                f"runner {name!r} is not available: {entry.class_name} needs "
                f"{needed.replace('_', '-')}: pip install 'trio-runners[{entry.extra}]'"
            ) from exc
    try:
        module = importlib.import_module(entry.module)
        cls = getattr(module, entry.class_name)
    except (ImportError, AttributeError) as exc:
        raise LookupError(f"runner {name!r} is not available: {exc}") from exc
    runner = cls(**entry.options)
    if not isinstance(runner, BaseTaskRunner):
        raise LookupError(f"runner {name!r} is not available: {runner!r} is not a task runner")
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
    if i % FAIL_EVERY == FAIL_EVERY - 1:
        raise ValueError(f"call {i} fails on purpose, to show a Failed State")
    return i


def progress_demo(runner: BaseTaskRunner, calls: int) -> int:
    """Run ``calls`` short calls through ``runner`` with a live `ProgressBar`; every 50th call
    fails on purpose, and the final counts line says so."""
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
    line = bar.counts_line()
    on_purpose = calls // FAIL_EVERY
    if on_purpose:
        line += (
            f"  ({on_purpose} failed on purpose: every {FAIL_EVERY}th call raises "
            "ValueError, to show Failed States)"
        )
    print(line)
    return 0


def _calls(text: str) -> int:
    """argparse type of ``--calls``: a whole number >= 1."""
    try:
        calls = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}") from None
    if calls < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return calls


def main(argv: Sequence[str] | None = None) -> int:
    """Run the greetings flow on the chosen runner and print a per-task-run summary; or, with
    ``--progress``, the progress demo. Returns the exit status: 0, or 2 for a runner that is not
    available. Bad arguments exit through argparse (status 2, its usage line and the error)."""
    parser = argparse.ArgumentParser(
        prog="python -m trio_runners",
        description="The greetings flow on a task runner; or, with --progress, many short calls "
        "with a live progress bar.",
    )
    parser.add_argument("--runner", choices=sorted(RUNNERS), default="sequential")
    parser.add_argument(
        "--names",
        nargs="+",
        metavar="NAME",
        help=f"whom the greetings greet (default: {' '.join(DEFAULT_NAMES)}); not with --progress",
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help="instead of the greetings, run --calls short calls with a live progress bar (drawn "
        f"on a terminal); every {FAIL_EVERY}th call fails on purpose",
    )
    parser.add_argument(
        "--calls",
        type=_calls,
        metavar="N",
        help="how many calls --progress runs (default: 300); only with --progress",
    )
    args = parser.parse_args(argv)
    if args.progress and args.names is not None:
        parser.error("--names is for the greetings; --progress runs calls instead")
    if not args.progress and args.calls is not None:
        parser.error("--calls is how many calls --progress runs: add --progress")
    try:
        runner = make_runner(args.runner)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.progress:
        return progress_demo(runner, 300 if args.calls is None else args.calls)
    greetings.task_runner = runner
    runs: list[TaskFuture] = []
    greetings(DEFAULT_NAMES if args.names is None else args.names, runs)
    print(f"\n{len(runs)} task runs on {runner!r}:")
    for run in runs:
        state = run.state
        shown = "?" if state is None else state.type.value.lower()
        duration = run.duration
        took = "-" if duration is None else f"{duration * 1000:.1f} ms"
        print(f"  {run.name:<16} {shown:<10} {took}")
    return 0
