"""ProcessPoolTaskRunner: what processes add (pickling, killing, crashes); the contract is in
tests/test_contract.py."""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import traceback
import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from contract_calls import HANG_GUARD, add, open_gate, wait_state

from trio_runners import ProcessPoolTaskRunner, TaskConcurrencyType, task_runners
from trio_runners._pool import PoolTaskRunner
from trio_runners.abc import LoopCall

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

pytest.importorskip("trio_parallel")


def _pid_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def exit_now(code: int) -> None:
    os._exit(code)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_reexported() -> None:
    assert task_runners.ProcessPoolTaskRunner is ProcessPoolTaskRunner


def test_default_max_workers_is_cpu_count() -> None:
    assert ProcessPoolTaskRunner().workers == (os.cpu_count() or 1)


async def test_calls_run_in_another_process() -> None:
    async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
        await runner.submit("k", os.getpid)
        state = await wait_state(runner, "k")
    assert state.result() != os.getpid()


async def test_unpicklable_call_is_rejected_by_submit_with_type_error() -> None:
    lock = threading.Lock()
    async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
        with pytest.raises(TypeError, match="cannot be pickled"):
            await runner.submit("k", functools.partial(print, lock))
        # Nothing was registered under the key.
        with pytest.raises(KeyError):
            runner.state("k")


async def test_call_from_a_module_no_worker_can_import_travels_by_value() -> None:
    module = types.ModuleType("trio_runners_test_not_importable")
    module.__file__ = "/nonexistent/trio_runners_test_not_importable.py"
    exec("import os\ndef where(x):\n    return (os.getpid(), x * 2)\n", module.__dict__)
    sys.modules[module.__name__] = module
    try:
        async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
            await runner.submit("k", functools.partial(module.where, 21))
            state = await wait_state(runner, "k")
    finally:
        del sys.modules[module.__name__]
    pid, value = state.result()
    assert value == 42
    assert pid != os.getpid()


@pytest.mark.parametrize("call", [functools.partial(exit_now, 3), kill_self])
async def test_worker_dying_mid_call_is_crashed_and_runner_keeps_serving(
    call: Any,
) -> None:
    async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
        await runner.submit("dies", call)
        await runner.submit("after", functools.partial(add, 1, 2))
        crashed = await wait_state(runner, "dies")
        after = await wait_state(runner, "after")
    assert crashed.is_crashed()
    assert "died" in (crashed.message or "")
    assert after.result() == 3


async def test_worker_killed_externally_mid_call_is_crashed() -> None:
    async with open_gate() as gate, ProcessPoolTaskRunner(max_workers=1).start() as runner:
        await runner.submit("k", gate.call("v"))
        arrival = await gate.arrival()
        os.kill(arrival.pid, signal.SIGKILL)
        state = await wait_state(runner, "k")
        assert state.is_crashed()
        await runner.submit("after", functools.partial(add, 2, 2))
        assert (await wait_state(runner, "after")).result() == 4


async def test_cancel_kills_the_busy_worker_process() -> None:
    async with open_gate() as gate:
        async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
            await runner.submit("k", gate.call("v"))
            arrival = await gate.arrival()
            assert not _pid_is_gone(arrival.pid)
            runner.cancel("k")
            state = runner.state("k")
            assert state is not None
            assert state.is_cancelled()
            # The slot is free again once the killed worker is reaped: a new call runs.
            await runner.submit("after", os.getpid)
            after = await wait_state(runner, "after")
        assert _pid_is_gone(arrival.pid)
        assert after.result() != arrival.pid


async def test_wait_with_caller_timeout_then_cancel_really_stops_the_call() -> None:
    async with open_gate() as gate:
        async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
            await runner.submit("k", gate.call("v", is_async=True))
            arrival = await gate.arrival()
            assert await runner.wait("k", timeout=0.01) is None
            runner.cancel("k")
        assert _pid_is_gone(arrival.pid)


async def test_workers_are_the_runs_own_and_shut_down_on_exit() -> None:
    async with ProcessPoolTaskRunner(max_workers=2).start() as runner:
        await runner.submit("k", os.getpid)
        pid = (await wait_state(runner, "k")).result()
        assert not _pid_is_gone(pid)
    assert _pid_is_gone(pid)


async def test_never_more_than_max_workers_run() -> None:
    async with open_gate() as gate, ProcessPoolTaskRunner(max_workers=2).start() as runner:
        for key in range(3):
            await runner.submit(key, gate.call(key))
        first = await gate.arrival()
        await gate.arrival()
        await trio.testing.wait_all_tasks_blocked()
        assert runner.statistics().running == 2
        assert runner.statistics().queued == 1
        await first.release()
        with trio.fail_after(HANG_GUARD):
            third = await gate.arrival()
        await third.release()
        runner.cancel_all()


async def test_enclosing_cancel_kills_the_busy_worker_process() -> None:
    async with open_gate() as gate:
        with trio.CancelScope() as scope:
            async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
                await runner.submit("k", gate.call("v"))
                arrival = await gate.arrival()
                scope.cancel()
        assert scope.cancelled_caught
        assert _pid_is_gone(arrival.pid)
        state = runner.state("k")
        assert state is not None
        assert state.is_cancelled()


class Doubler:
    """A callable object: it travels with its class."""

    def __init__(self, x: int) -> None:
        self.x = x

    def __call__(self) -> int:
        return self.x * 2

    def method(self) -> int:
        return self.x + 1


async def test_callable_objects_and_bound_methods_run_in_workers() -> None:
    async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
        await runner.submit("object", Doubler(21))
        await runner.submit("method", Doubler(41).method)
        assert (await wait_state(runner, "object")).result() == 42
        assert (await wait_state(runner, "method")).result() == 42


class Orchestrator(LoopCall):
    """Like the flow layer's task-run call: runs on the loop, ships the work via
    ``run_in_slot``."""

    def __init__(self, runner: Any, work: Any) -> None:
        self.runner = runner
        self.work = work
        self.lock = threading.Lock()  # not picklable: it must never travel

    async def __call__(self) -> tuple[int, int]:
        return os.getpid(), await self.runner.run_in_slot(self.work)


async def test_loop_call_is_not_shipped_but_its_work_is() -> None:
    async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
        await runner.submit("k", Orchestrator(runner, os.getpid))
        here, there = (await wait_state(runner, "k")).result()
    assert here == os.getpid()
    assert there != os.getpid()


async def test_unpicklable_work_handed_to_invoke_is_failed() -> None:
    async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
        lock = threading.Lock()
        await runner.submit("k", Orchestrator(runner, functools.partial(print, lock)))
        state = await wait_state(runner, "k")
    assert state.is_failed()
    assert isinstance(state.exception(), TypeError)


# ---------------------------------------------------------------------- off the happy path


def _fail_here(message: str) -> None:
    raise ValueError(message)


def _raise_group_of_base_exceptions() -> None:
    raise BaseExceptionGroup("group", [KeyboardInterrupt(), ValueError("x")])


def _raise_stray_cancelled() -> None:
    raise trio.Cancelled._create()  # type: ignore[attr-defined]


def _raise(kind: type[BaseException]) -> None:
    raise kind()


class _NeedsTwoArguments(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(a)  # pickles as (a,): cannot be rebuilt


def _raise_unrebuildable() -> None:
    raise _NeedsTwoArguments(1, 2)


@pytest.mark.parametrize(
    ("call", "kind"),
    [
        (_raise_group_of_base_exceptions, BaseExceptionGroup),
        (_raise_stray_cancelled, RuntimeError),  # caused by the stray Cancelled
        (functools.partial(_raise, KeyboardInterrupt), KeyboardInterrupt),
        (functools.partial(_raise, SystemExit), SystemExit),
    ],
    ids=["base-exception-group", "stray-cancelled", "keyboard-interrupt", "system-exit"],
)
async def test_base_exception_in_the_worker_is_crashed_and_the_run_goes_on(
    call: Any, kind: type[BaseException]
) -> None:
    async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
        await runner.submit("bad", call)
        await runner.submit("sibling", functools.partial(add, 1, 1))
        state = await wait_state(runner, "bad")
        sibling = await wait_state(runner, "sibling")
        after = "block went on"
    assert after == "block went on"
    assert state.is_crashed(), state
    assert isinstance(state.exception(), kind)
    if kind is RuntimeError:  # never a bare Cancelled in a State
        assert isinstance(state.exception().__cause__, trio.Cancelled)
    assert sibling.result() == 2


async def test_failed_call_keeps_its_worker_traceback() -> None:
    async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
        await runner.submit("k", functools.partial(_fail_here, "expected"))
        state = await wait_state(runner, "k")
    assert state.is_failed()
    frames = [frame.name for frame in traceback.extract_tb(state.exception().__traceback__)]
    assert "_fail_here" in frames


async def test_exception_that_cannot_be_rebuilt_is_failed_with_a_stand_in() -> None:
    async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
        await runner.submit("k", _raise_unrebuildable)
        state = await wait_state(runner, "k")
    assert state.is_failed()
    assert isinstance(state.exception(), RuntimeError)
    assert "_NeedsTwoArguments" in str(state.exception())


def _unpicklable_result() -> Any:
    return threading.Lock()


async def test_result_that_cannot_travel_back_is_crashed_not_failed() -> None:
    async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
        await runner.submit("k", _unpicklable_result)
        state = await wait_state(runner, "k")
    assert state.is_crashed(), state
    assert "could not run" in (state.message or "")


async def test_unpicklable_call_error_names_the_key() -> None:
    lock = threading.Lock()
    async with ProcessPoolTaskRunner(max_workers=1).start() as runner:
        with pytest.raises(TypeError, match="key 'the-key'"):
            await runner.submit("the-key", functools.partial(print, lock))


async def test_work_reaching_a_closed_runner_is_crashed_with_a_message() -> None:
    runner = ProcessPoolTaskRunner(max_workers=1)
    async with runner.start():
        pass
    state = await runner._invoke(functools.partial(add, 1, 2))
    assert state.is_crashed()
    assert "worker pool was closed" in (state.message or "")


class SlowToEnter(PoolTaskRunner):
    """A runner whose backend, like a pool or a client opening in a thread, does not see a
    cancel until it is entered."""

    def __init__(self) -> None:
        super().__init__()
        self.entering = trio.Event()
        self.entered = trio.Event()
        self.left: list[str] = []

    @property
    def concurrency_type(self) -> TaskConcurrencyType:
        return TaskConcurrencyType.PARALLEL

    @asynccontextmanager
    async def _backend(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        async with super()._backend(nursery):
            with trio.CancelScope(shield=True):
                self.entering.set()
                await self.entered.wait()
            try:
                yield
            finally:
                self.left.append("left")


async def test_start_cancelled_while_the_backend_opens_does_not_hang() -> None:
    runner = SlowToEnter()
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:

            async def cancel_while_entering() -> None:
                await runner.entering.wait()
                scope.cancel()
                runner.entered.set()

            nursery.start_soon(cancel_while_entering)
            async with runner.start():
                await trio.sleep_forever()  # cancelled as soon as the block is entered
    assert scope.cancelled_caught
    assert runner.left == ["left"]
    assert not runner.started
