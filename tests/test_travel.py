"""Tasks and flows travel to process and Dask workers by the rule plain callables follow
(docs/runners/processes.md, dask.md): by reference when importable there, by value otherwise
(local definitions, scripts, checkouts that are not installed where the calls run)."""

from __future__ import annotations

import functools
import json
import os
import pickle
import shutil
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from contract_calls import wait_state

import trio_runners
from trio_runners import (
    BaseTaskRunner,
    ConcurrentTaskRunner,
    SequentialTaskRunner,
    ThreadPoolTaskRunner,
    flow,
    task,
)
from trio_runners.task_runners import ProcessPoolTaskRunner

distributed = pytest.importorskip("distributed")

from dask_fixtures import STARTUP  # noqa: E402

from trio_runners._remote import pickle_call  # noqa: E402
from trio_runners.dask import DaskTaskRunner  # noqa: E402

SCRIPTS = Path(__file__).resolve().parent / "scripts"

#: Every runner a flow can run on; the Dask ones make their LocalCluster (all on 127.0.0.1).
RUNNERS: dict[str, Callable[[], BaseTaskRunner]] = {
    "sequential": SequentialTaskRunner,
    "concurrent": ConcurrentTaskRunner,
    "threads": functools.partial(ThreadPoolTaskRunner, max_workers=2),
    "processes": functools.partial(ProcessPoolTaskRunner, max_workers=2),
    "dask-threads": functools.partial(
        DaskTaskRunner, cluster_kwargs={"n_workers": 1, "processes": False}
    ),
    "dask-processes": functools.partial(
        DaskTaskRunner, cluster_kwargs={"n_workers": 1, "threads_per_worker": 2}
    ),
}


def make_flows(runner: BaseTaskRunner | None = None) -> tuple[Any, Any]:
    """Two flows of tasks defined here, inside a function: nothing anywhere can import them."""
    offset = 100  # reached through a closure

    @task
    def double(x: int) -> tuple[int, int]:
        return 2 * x, os.getpid()

    @task(retries=1)
    def flaky(attempts: list[int]) -> int:
        attempts.append(len(attempts))  # the list lives where the task runs
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")
        return len(attempts)

    @task(name="plus")
    async def add(pairs: list[tuple[int, int]]) -> int:
        await trio.lowlevel.checkpoint()
        return sum(value for value, _ in pairs) + offset

    @flow(task_runner=runner)
    def local_flow(n: int) -> tuple[list[tuple[int, int]], int]:
        doubled = double.map(range(n))
        return doubled, add(doubled)

    @flow
    def flow_with_retries() -> int:  # runs where it is called (see the flow-as-a-call test)
        return flaky([]).result()

    return local_flow, flow_with_retries


@pytest.mark.parametrize("kind", list(RUNNERS))
def test_a_flow_of_locally_defined_tasks_runs_unchanged_on_every_runner(kind: str) -> None:
    local_flow, _ = make_flows(RUNNERS[kind]())
    doubled, total = local_flow(4)
    assert [value for value, _ in doubled] == [0, 2, 4, 6]
    assert total == 112
    if kind in ("processes", "dask-processes"):
        assert os.getpid() not in {pid for _, pid in doubled}


async def test_a_locally_defined_flow_travels_as_a_call_with_its_tasks_options() -> None:
    _, with_retries = make_flows()
    async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
        await runner.submit("flow", with_retries)
        state = await wait_state(runner, "flow")
    assert state.result() == 2  # retries=1 travelled with the task: the second attempt ran


@task
def module_task(x: int) -> int:
    return x + 1


@flow
def module_flow(x: int) -> int:
    return module_task(x).result()


def test_tasks_and_flows_pickle_by_reference_like_functions() -> None:
    # With pickle (not shipped to a worker), a module-level task or flow is its name, also
    # after it was shipped (by value: this test module is not installed).
    assert pickle_call(functools.partial(module_flow, 1))() == 2
    assert pickle.loads(pickle.dumps(module_task)) is module_task
    assert pickle.loads(pickle.dumps(module_flow)) is module_flow


@pytest.fixture(scope="module")
def script_results(scheduler_address: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """What ``python travel_script.py ADDRESS`` printed, run from a directory that is not
    installed, against the `dask scheduler` / `dask worker` processes of test_dask.py."""
    directory = tmp_path_factory.mktemp("script")
    for name in ("travel_script.py", "travel_checkout.py"):
        shutil.copy(SCRIPTS / name, directory / name)
    root = str(Path(trio_runners.__file__).resolve().parent.parent)  # for the script
    paths = [root, os.environ.get("PYTHONPATH", "")]
    done = subprocess.run(
        [sys.executable, "travel_script.py", scheduler_address],
        cwd=directory,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))},
        capture_output=True,
        text=True,
        timeout=2 * STARTUP,  # a hang guard, not a timing assertion
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return {line["flow"]: line for line in map(json.loads, done.stdout.splitlines())}


def test_a_scripts_module_level_tasks_run_on_a_cluster_started_from_the_command_line(
    script_results: Any,
) -> None:
    line = script_results["script_flow"]
    assert "error" not in line, line["error"]
    doubled, total = line["result"]
    assert [value for value, _ in doubled] == [0, 2, 4, 6]
    assert total == 12
    assert line["pid"] not in {pid for _, pid in doubled}  # they ran on the workers


def test_tasks_of_a_checkout_not_installed_on_the_workers_run_there(script_results: Any) -> None:
    line = script_results["checkout_flow"]
    assert "error" not in line, line["error"]
    assert [value for value, _ in line["result"]] == [0, 3, 6, 9]
    assert line["pid"] not in {pid for _, pid in line["result"]}


def _module_only_here(name: str, source: str) -> types.ModuleType:
    """A module that exists in this process only (its file is nowhere): no worker can import
    it. The caller removes it from ``sys.modules``."""
    module = types.ModuleType(name)
    module.__file__ = f"/nonexistent/{name}.py"
    sys.modules[name] = module
    exec(source, module.__dict__)
    return module


async def test_what_a_call_reaches_beyond_its_own_module_travels_by_value_too() -> None:
    # The call's function is in one module; a helper and a task it reaches through its globals
    # and its arguments are in two others, all three importable nowhere but here.
    names = ["trio_runners_travel_helpers", "trio_runners_travel_tasks", "trio_runners_travel_f"]
    try:
        _module_only_here(names[0], "def halve(x):\n    return x // 2\n")
        tasks = _module_only_here(
            names[1], "from trio_runners import task\n@task\ndef negate(x):\n    return -x\n"
        )
        caller = _module_only_here(
            names[2],
            "import os\nfrom trio_runners_travel_helpers import halve\n"
            "def apply(each, x):\n    return each(halve(x)), os.getpid()\n",
        )
        async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
            await runner.submit("k", functools.partial(caller.apply, tasks.negate, 42))
            state = await wait_state(runner, "k")
    finally:
        for name in names:
            sys.modules.pop(name, None)
    value, pid = state.result()
    assert value == -21
    assert pid != os.getpid()


def test_a_module_used_as_a_module_still_travels_by_reference() -> None:
    # Its functions travel by value; the module object itself by reference, as before (by
    # value it would take its whole namespace, and this one holds a lock).
    names = ["trio_runners_travel_lockbox", "trio_runners_travel_user"]
    try:
        box = _module_only_here(
            names[0],
            "import threading\nlock = threading.Lock()\n"
            "def first(f, x):\n    return f(x)\ndef ten(x):\n    return 10 * x\n",
        )
        user = _module_only_here(
            names[1],
            "import trio_runners_travel_lockbox as box\ndef use(x):\n    return box.ten(x) + 1\n",
        )
        # box.first is met first (box then travels by value), then user.use and its `box`.
        assert pickle_call(functools.partial(box.first, user.use, 4))() == 41
    finally:
        for name in names:
            sys.modules.pop(name, None)
