"""DaskTaskRunner with real components: a LocalCluster and `dask scheduler`/`dask worker`
subprocesses, all on 127.0.0.1, shared per module to keep the suite fast."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
import threading
import traceback
import types
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import trio
import trio.testing
from contract_calls import add, open_gate, wait_state
from dask_fixtures import free_port as _free_port

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

from trio_runners import flow, task  # noqa: E402
from trio_runners._remote import pickle_call  # noqa: E402
from trio_runners.abc import LoopCall  # noqa: E402
from trio_runners.dask import DaskTaskRunner  # noqa: E402


@pytest.fixture(scope="module")
def local_cluster() -> Iterator[Any]:
    """Two worker processes on 127.0.0.1, no dashboard. The scheduler gives up on a call as
    soon as one worker dies running it (allowed-failures 0), to make that path testable."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        )
    with cluster:
        yield cluster


# ---------------------------------------------------------------------- configuration


def test_options_equality_and_pickling() -> None:
    import pickle

    runner = DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={"n_workers": 2},
        adapt_kwargs={"minimum": 1},
        client_kwargs={"timeout": 5},
    )
    assert runner.name == "dask"
    copy = pickle.loads(pickle.dumps(runner))
    assert copy == runner == runner.duplicate()
    assert hash(copy) == hash(runner)
    assert copy != DaskTaskRunner(cluster_kwargs={"n_workers": 3})
    assert DaskTaskRunner(cluster_class=distributed.LocalCluster) == DaskTaskRunner(
        cluster_class=distributed.LocalCluster
    )


def test_address_excludes_cluster_options() -> None:
    with pytest.raises(ValueError, match="existing cluster"):
        DaskTaskRunner(address="tcp://127.0.0.1:8786", cluster_kwargs={"n_workers": 1})


def test_options_are_copied() -> None:
    kwargs = {"n_workers": 1}
    runner = DaskTaskRunner(cluster_kwargs=kwargs)
    kwargs["n_workers"] = 5
    assert runner.cluster_kwargs == {"n_workers": 1}


# ---------------------------------------------------------------------- cluster lifecycle


async def test_start_creates_a_local_cluster_and_closes_it_on_exit() -> None:
    runner = DaskTaskRunner(
        cluster_kwargs={"n_workers": 1, "processes": False, "dashboard_address": "127.0.0.1:0"}
    )
    async with runner.start():
        cluster = runner.cluster
        assert isinstance(cluster, distributed.LocalCluster)
        await runner.submit("k", functools.partial(add, 1, 2))
        assert (await wait_state(runner, "k")).result() == 3
    assert runner.cluster is None
    assert runner.client is None
    assert cluster.status == distributed.core.Status.closed


@pytest.mark.parametrize(
    ("client_kwargs", "direct"),
    [(None, True), ({"direct_to_workers": False}, False)],
    ids=["default", "client_kwargs-wins"],
)
async def test_results_of_a_local_cluster_it_made_come_straight_from_the_workers(
    client_kwargs: dict[str, Any] | None, direct: bool
) -> None:
    """The workers of a LocalCluster the runner made are on this machine: its client fetches
    results from them, not through the scheduler, unless client_kwargs says otherwise."""
    runner = DaskTaskRunner(
        cluster_kwargs={"n_workers": 1, "processes": True}, client_kwargs=client_kwargs
    )
    async with runner.start():
        assert runner.client.direct_to_workers is direct
        await runner.submit("k", functools.partial(add, 1, 2))
        assert (await wait_state(runner, "k")).result() == 3


async def test_cluster_class_import_string_and_adapt() -> None:
    runner = DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={"n_workers": 0, "processes": False, "dashboard_address": "127.0.0.1:0"},
        adapt_kwargs={"minimum": 1, "maximum": 1},
    )
    async with runner.start():
        assert isinstance(runner.cluster, distributed.LocalCluster)
        # Only adapt can have made the worker that runs this call.
        await runner.submit("k", functools.partial(add, 2, 2))
        assert (await wait_state(runner, "k")).result() == 4
        assert len(runner.cluster.workers) == 1


class _AdaptRecorder(distributed.LocalCluster):  # type: ignore[misc]
    """Records where each part of its ``adapt`` ran: ``(part, thread id, running asyncio loop
    or None)``."""

    def __init__(self, **kwargs: Any) -> None:
        self.adapt_ran: list[tuple[str, int, object]] = []
        super().__init__(**kwargs)

    def _record(self, part: str) -> None:
        try:
            loop: object = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        self.adapt_ran.append((part, threading.get_ident(), loop))

    async def _adapt_coroutine(self, **kwargs: Any) -> None:
        self._record("awaited")
        await asyncio.sleep(0)  # a real suspension on the loop it runs on
        self._record("resumed")


class _AsyncAdaptCluster(_AdaptRecorder):
    """Like dask-kubernetes' operator KubeCluster: ``adapt`` is a coroutine function."""

    async def adapt(self, **kwargs: Any) -> None:  # type: ignore[override]
        await self._adapt_coroutine(**kwargs)


class _AdaptReturnsAwaitableCluster(_AdaptRecorder):
    """A sync ``adapt`` that does part of its work at once and returns an awaitable for the
    rest."""

    def adapt(self, **kwargs: Any) -> Any:
        self._record("called")
        return self._adapt_coroutine(**kwargs)


class _AdaptFailsCluster(distributed.LocalCluster):  # type: ignore[misc]
    adapted: ClassVar[list[Any]] = []  # each one whose adapt was called

    async def adapt(self, **kwargs: Any) -> None:  # type: ignore[override]
        self.adapted.append(self)
        raise ValueError(f"cannot adapt to {kwargs}")


_NO_WORKERS = {"n_workers": 0, "processes": False, "dashboard_address": "127.0.0.1:0"}


async def test_async_adapt_is_awaited_on_the_clusters_loop() -> None:
    runner = DaskTaskRunner(
        cluster_class=_AsyncAdaptCluster, cluster_kwargs=_NO_WORKERS, adapt_kwargs={"maximum": 1}
    )
    async with runner.start():
        cluster = runner.cluster
        # The cluster is synchronous: its loop runs in a thread of its own, where its
        # coroutines must run, and adapt was awaited there before start() went on.
        loop = cluster.loop.asyncio_loop
        assert [(part, running) for part, _, running in cluster.adapt_ran] == [
            ("awaited", loop),
            ("resumed", loop),
        ]
        assert cluster.adapt_ran[0][1] != threading.get_ident()


async def test_awaitable_returned_by_a_sync_adapt_is_awaited_on_the_clusters_loop() -> None:
    runner = DaskTaskRunner(
        cluster_class=_AdaptReturnsAwaitableCluster,
        cluster_kwargs=_NO_WORKERS,
        adapt_kwargs={"maximum": 1},
    )
    async with runner.start():
        cluster = runner.cluster
        loop = cluster.loop.asyncio_loop
        (called, thread, running), *rest = cluster.adapt_ran
        # The sync part ran in a worker thread (it may block), not on the Trio thread nor on
        # the cluster's loop; the awaitable it returned was awaited on the cluster's loop.
        assert (called, running) == ("called", None)
        assert thread != threading.get_ident()
        assert [(part, running) for part, _, running in rest] == [
            ("awaited", loop),
            ("resumed", loop),
        ]


async def test_async_adapt_that_raises_fails_start_and_closes_the_cluster() -> None:
    runner = DaskTaskRunner(
        cluster_class=_AdaptFailsCluster, cluster_kwargs=_NO_WORKERS, adapt_kwargs={"maximum": 1}
    )
    with pytest.RaisesGroup(
        pytest.RaisesExc(ValueError, match="cannot adapt to {'maximum': 1}"),
        flatten_subgroups=True,
    ):
        async with runner.start():
            pass  # pragma: no cover
    assert not runner.started
    assert runner.cluster is None
    cluster = _AdaptFailsCluster.adapted.pop()
    assert not _AdaptFailsCluster.adapted
    assert cluster.status == distributed.core.Status.closed


class _NoLoopCluster:
    """A cluster class whose ``adapt`` is async but which has no event loop to await it on."""

    instances: ClassVar[list[_NoLoopCluster]] = []

    def __init__(self) -> None:
        self.closed = False
        self.instances.append(self)

    async def adapt(self, **kwargs: Any) -> None:  # pragma: no cover (must not run)
        raise AssertionError("adapt ran")

    def close(self) -> None:
        self.closed = True


async def test_async_adapt_with_no_cluster_loop_fails_start_with_a_clear_error() -> None:
    runner = DaskTaskRunner(cluster_class=_NoLoopCluster, adapt_kwargs={"maximum": 1})
    with pytest.RaisesGroup(
        pytest.RaisesExc(
            TypeError,
            match=r"^adapt_kwargs: _NoLoopCluster.adapt is async \(or returned an awaitable\), "
            r"but the cluster has no event loop \(cluster.loop\) to await it on$",
        ),
        flatten_subgroups=True,
    ):
        async with runner.start():
            pass  # pragma: no cover
    cluster = _NoLoopCluster.instances.pop()
    assert cluster.closed


class _NamedCallable:
    def __init__(self, name: str) -> None:
        self.__qualname__ = name

    def __call__(self) -> None:  # pragma: no cover (never run)
        pass


def test_a_call_is_named_by_the_qualname_of_what_it_calls() -> None:
    # The flow layer hands the runner partial(<attempt named after the task>, *args): the name
    # of a call is what names its Dask key and a process runner's Crashed message.
    assert pickle_call(functools.partial(add, 1, 2)).name == "add"
    assert pickle_call(functools.partial(_NamedCallable("double"), 1)).name == "double"
    assert pickle_call(functools.partial(Orchestrator, None, None)).name == "Orchestrator"


@task(name="load data")
def _current_dask_key() -> str:
    return str(distributed.get_worker().get_current_task())


async def test_task_run_key_is_named_after_the_task_and_grouped_under_it(
    dask_threads_cluster: Any,
) -> None:
    @flow(task_runner=DaskTaskRunner(address=dask_threads_cluster.scheduler_address))
    async def keys() -> list[str]:
        futures = [await _current_dask_key.submit() for _ in range(2)]
        return [await future.result() for future in futures]

    first, second = await keys()
    assert first != second
    for key in (first, second):
        # Characters other than letters, digits, "_" and "." become "_"; the dashboard groups
        # keys by their leading alphabetic words, so both runs show under the task's name.
        assert key.startswith("load_data-"), key
        assert distributed.utils.key_split(key) == "load_data", key


async def test_address_connects_and_closes_only_its_client(scheduler_address: str) -> None:
    runner = DaskTaskRunner(address=scheduler_address)
    async with runner.start():
        client = runner.client
        assert client.direct_to_workers is None  # Dask's own default: a cluster we did not make
        await runner.submit("k", os.getpid)
        pid = (await wait_state(runner, "k")).result()
        assert pid != os.getpid()
    assert client.status == "closed"
    # The cluster is still there for the next run.
    async with runner.start():
        await runner.submit("k", functools.partial(add, 1, 1))
        assert (await wait_state(runner, "k")).result() == 2


# ---------------------------------------------------------------------- calls


async def async_where() -> tuple[int, bool]:
    await trio.lowlevel.checkpoint()
    return os.getpid(), trio.lowlevel.current_trio_token() is not None


async def test_async_callables_run_under_trio_on_the_worker(local_cluster: Any) -> None:
    async with DaskTaskRunner(address=local_cluster.scheduler_address).start() as runner:
        await runner.submit("k", async_where)
        pid, in_trio = (await wait_state(runner, "k")).result()
    assert pid != os.getpid()
    assert in_trio


async def test_unpicklable_call_is_rejected_by_submit(local_cluster: Any) -> None:
    lock = threading.Lock()
    async with DaskTaskRunner(address=local_cluster.scheduler_address).start() as runner:
        with pytest.raises(TypeError, match="cannot be pickled"):
            await runner.submit("k", functools.partial(print, lock))
        with pytest.raises(KeyError):
            runner.state("k")


@contextlib.contextmanager
def _module_only_here() -> Iterator[types.ModuleType]:
    """A module that exists in this process only: no worker can import it."""
    module = types.ModuleType("trio_runners_dask_test_not_importable")
    module.__file__ = "/nonexistent/trio_runners_dask_test_not_importable.py"
    exec(
        "import os\n"
        "class Point:\n"
        "    def __init__(self, x):\n"
        "        self.x = x\n"
        "def double(p):\n"
        "    return Point(p.x * 2)\n",
        module.__dict__,
    )
    sys.modules[module.__name__] = module
    try:
        yield module
    finally:
        del sys.modules[module.__name__]


async def test_call_from_a_module_no_worker_can_import_travels_by_value(
    scheduler_address: str,
) -> None:
    with _module_only_here() as module:
        async with DaskTaskRunner(address=scheduler_address).start() as runner:
            await runner.submit("k", functools.partial(module.double, module.Point(21)))
            state = await wait_state(runner, "k")
    assert state.result().x == 42


async def _settle(runner: DaskTaskRunner) -> None:
    """Let every pending callback on the client's loop run (they run in FIFO order)."""
    await trio.testing.wait_all_tasks_blocked()

    async def nothing() -> None:
        pass

    await trio.to_thread.run_sync(runner.client.sync, nothing)


async def test_finished_and_cancelled_futures_are_released(local_cluster: Any) -> None:
    runner = DaskTaskRunner(address=local_cluster.scheduler_address)
    async with open_gate() as gate, runner.start():
        for key in range(20):
            await runner.submit(key, functools.partial(add, key, 1))
        await runner.submit("stuck", gate.call("stuck"))
        arrival = await gate.arrival()
        async for _ in runner.as_completed(range(20)):
            pass
        runner.cancel("stuck")
        await _settle(runner)
        # The runner's client holds no future: results do not pile up on the cluster.
        assert runner.client.futures == {}
        await arrival.release()


async def test_cancel_cancels_the_dask_future(scheduler_address: str) -> None:
    async with open_gate() as gate, DaskTaskRunner(address=scheduler_address).start() as runner:
        await runner.submit("k", gate.call("v"))
        arrival = await gate.arrival()
        runner.cancel("k")
        # The cancel goes to the scheduler through the client's loop; twice settling puts
        # it on the client's batched stream before the next call's graph, and the
        # scheduler handles that stream in order.
        await _settle(runner)
        await _settle(runner)
        await runner.submit("after", functools.partial(add, 1, 1))
        assert (await wait_state(runner, "after")).result() == 2
        # The scheduler logs each cancel request it handles under the client's id.
        client = runner.client
        events = await trio.to_thread.run_sync(client.get_events, client.id)
        cancels = [event for _, event in events if event.get("action") == "cancel"]
        assert cancels == [{"action": "cancel", "count": 1, "force": False}]
        await arrival.release()  # the worker's thread was running it: let it finish


async def test_worker_killed_mid_call_is_rerun_elsewhere_and_completes(
    scheduler_address: str,
) -> None:
    # Default allowed-failures (3): the scheduler reruns the call on another worker.
    async with open_gate() as gate, DaskTaskRunner(address=scheduler_address).start() as runner:
        await runner.submit("k", gate.call("survived"))
        first = await gate.arrival()
        os.kill(first.pid, signal.SIGKILL)
        second = await gate.arrival()
        assert second.pid != first.pid
        await second.release()
        state = await wait_state(runner, "k")
    assert state.is_completed()
    assert state.result() == "survived"


async def test_worker_killed_mid_call_without_retries_is_crashed(local_cluster: Any) -> None:
    # The module's LocalCluster allows no failure: the scheduler gives up (KilledWorker).
    runner = DaskTaskRunner(address=local_cluster.scheduler_address)
    async with open_gate() as gate, runner.start():
        await runner.submit("k", gate.call("never"))
        arrival = await gate.arrival()
        os.kill(arrival.pid, signal.SIGKILL)
        state = await wait_state(runner, "k")
        assert state.is_crashed()
        assert isinstance(state.exception(), distributed.scheduler.KilledWorker)
        # The runner keeps serving (the nanny restarts the worker).
        await runner.submit("after", functools.partial(add, 1, 1))
        assert (await wait_state(runner, "after")).result() == 2


async def test_unreachable_address_fails_start_and_leaves_runner_unstarted() -> None:
    runner = DaskTaskRunner(address=f"tcp://127.0.0.1:{_free_port()}", client_kwargs={"timeout": 1})
    with pytest.RaisesGroup(OSError, flatten_subgroups=True):
        async with runner.start():
            pass  # pragma: no cover
    assert not runner.started
    assert runner.client is None


class Orchestrator(LoopCall):
    """Like the flow layer's task-run call: runs on the loop, ships the work via
    ``run_in_slot``."""

    def __init__(self, runner: Any, work: Any) -> None:
        self.runner = runner
        self.work = work

    async def __call__(self) -> tuple[int, int]:
        return os.getpid(), await self.runner.run_in_slot(self.work)


async def test_loop_call_is_not_shipped_but_its_work_is(
    local_cluster: Any,
) -> None:
    async with DaskTaskRunner(address=local_cluster.scheduler_address).start() as runner:
        await runner.submit("k", Orchestrator(runner, os.getpid))
        here, there = (await wait_state(runner, "k")).result()
    assert here == os.getpid()
    assert there != os.getpid()


def _increment(x: int) -> int:
    return x + 1


async def test_instruments_see_every_lifecycle_event_and_the_trace_checks(
    local_cluster: Any,
) -> None:
    from trio_runners.testing import TraceRecorder, check_trace

    recorder = TraceRecorder()
    runner = DaskTaskRunner(address=local_cluster.scheduler_address, instruments=[recorder])
    async with runner.start():
        for i in range(4):
            await runner.submit(i, functools.partial(_increment, i))
    kinds = [e["event"] for e in recorder.events if e["key"] == 0]
    assert kinds == ["submitted", "admitted", "started", "finished"]
    check_trace(recorder.events)


# ---------------------------------------------------------------------- off the happy path


async def test_call_started_as_the_run_is_cancelled_is_cancelled_not_failed(
    local_cluster: Any,
) -> None:
    # The race behind `Failed(AssertionError())` under load: the enclosing scope is cancelled
    # and the runner's machinery sees it before the block does. The block keeps going under a
    # shield long enough for a new call to start in the cancelled run: it must end Cancelled,
    # never with the machinery's error (the client must still be open).
    runner = DaskTaskRunner(address=local_cluster.scheduler_address)
    with trio.CancelScope() as outer:
        async with runner.start():
            outer.cancel()
            with trio.CancelScope(shield=True):
                await trio.testing.wait_all_tasks_blocked()
                await runner.submit("k", functools.partial(add, 1, 2))
                state = await wait_state(runner, "k")
    assert outer.cancelled_caught
    assert state.is_cancelled(), state


async def test_work_reaching_a_closed_runner_is_crashed_with_a_message(local_cluster: Any) -> None:
    runner = DaskTaskRunner(address=local_cluster.scheduler_address)
    async with runner.start():
        pass
    state = await runner._invoke(functools.partial(add, 1, 2))
    assert state.is_crashed()
    assert "client was closed" in state.message


def _fail_here(message: str) -> None:
    raise ValueError(message)


class _NeedsTwoArguments(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(a)  # pickles as (a,): cannot be rebuilt


def _raise_unrebuildable() -> None:
    raise _NeedsTwoArguments(1, 2)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_failed_call_is_not_a_worker_error_and_keeps_its_traceback() -> None:
    # An in-process cluster, so that the worker's log records reach a handler here.
    records = _Records()
    logger = logging.getLogger("distributed.worker")
    logger.addHandler(records)
    try:
        runner = DaskTaskRunner(cluster_kwargs={"n_workers": 1, "processes": False})
        async with runner.start():
            await runner.submit("k", functools.partial(_fail_here, "expected"))
            state = await wait_state(runner, "k")
            await runner.submit("ok", functools.partial(add, 1, 1))
            await wait_state(runner, "ok")
    finally:
        logger.removeHandler(records)
    assert state.is_failed()
    assert isinstance(state.exception(), ValueError)
    frames = [frame.name for frame in traceback.extract_tb(state.exception().__traceback__)]
    assert "_fail_here" in frames  # the worker's frames travelled back
    assert not [message for message in records.messages if "Compute Failed" in message]


async def test_exception_that_cannot_be_rebuilt_is_failed_with_a_stand_in(
    local_cluster: Any,
) -> None:
    async with DaskTaskRunner(address=local_cluster.scheduler_address).start() as runner:
        await runner.submit("k", _raise_unrebuildable)
        state = await wait_state(runner, "k")
    assert state.is_failed()
    assert isinstance(state.exception(), RuntimeError)
    assert "_NeedsTwoArguments" in str(state.exception())


def _raise_group_of_base_exceptions() -> None:
    raise BaseExceptionGroup("group", [KeyboardInterrupt(), ValueError("x")])


def _raise_stray_cancelled() -> None:
    raise trio.Cancelled._create()  # type: ignore[attr-defined]


def _raise(kind: type[BaseException]) -> None:
    raise kind()


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
    local_cluster: Any, call: Any, kind: type[BaseException]
) -> None:
    async with DaskTaskRunner(address=local_cluster.scheduler_address).start() as runner:
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


async def test_unpicklable_call_error_names_the_key(local_cluster: Any) -> None:
    lock = threading.Lock()
    async with DaskTaskRunner(address=local_cluster.scheduler_address).start() as runner:
        with pytest.raises(TypeError, match="key 'the-key'"):
            await runner.submit("the-key", functools.partial(print, lock))


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"cluster_kwargs": 5}, TypeError, "cluster_kwargs"),
        ({"cluster_kwargs": {1: 2}}, TypeError, "cluster_kwargs"),
        ({"cluster_kwargs": {"asynchronous": True}}, ValueError, "cluster_kwargs: asynchronous"),
        ({"adapt_kwargs": [("minimum", 1)]}, TypeError, "adapt_kwargs"),
        ({"client_kwargs": "timeout=5"}, TypeError, "client_kwargs"),
        ({"cluster_class": "nope"}, ValueError, "cluster_class 'nope'"),
        ({"cluster_class": "nope.Nope"}, ValueError, "cluster_class 'nope.Nope' does not import"),
        ({"cluster_class": "distributed.Nope"}, ValueError, "does not import"),
        ({"cluster_class": "distributed.__version__"}, TypeError, "cluster_class"),
        ({"cluster_class": 5}, TypeError, "cluster_class"),
        ({"address": 8786}, TypeError, "address"),
        ({"address": " "}, ValueError, "address"),
    ],
)
def test_bad_options_are_refused_at_construction(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        DaskTaskRunner(**options)


def _listening() -> set[tuple[int, str, int]]:
    """The listening sockets of this process and its children: (pid, host, port)."""
    import psutil

    me = psutil.Process()
    sockets = set()
    for process in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            for connection in process.net_connections(kind="inet"):
                if connection.status == psutil.CONN_LISTEN:
                    sockets.add((process.pid, connection.laddr.ip, connection.laddr.port))
    return sockets


@pytest.mark.parametrize("processes", [True, False], ids=["processes", "threads"])
async def test_a_local_cluster_keeps_every_socket_on_loopback(processes: bool) -> None:
    before = _listening()
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 1, "processes": processes})
    async with runner.start():
        cluster = runner.cluster
        assert cluster.scheduler_address.startswith(("tcp://127.0.0.1:", "inproc://"))
        new = await trio.to_thread.run_sync(_listening)
    new -= before
    assert new  # the scheduler's (and the dashboards') sockets
    assert {host for _, host, _ in new} == {"127.0.0.1"}, new


class _ClosingLoop:
    """A client loop that accepts the submission, then is closed (as at the end of a run)."""

    def __init__(self) -> None:
        self.callbacks: list[Any] = []

    def add_callback(self, callback: Any) -> None:
        if self.callbacks:
            raise RuntimeError("Event loop is closed")
        self.callbacks.append(callback)


async def test_cancelled_call_whose_client_loop_closed_keeps_its_cancellation() -> None:
    runner = DaskTaskRunner(address="tcp://127.0.0.1:1")
    runner._client = types.SimpleNamespace(loop=_ClosingLoop())
    runner._token = trio.lowlevel.current_trio_token()
    returned: list[Any] = []
    with trio.CancelScope() as scope:
        scope.cancel()
        returned.append(await runner._run_remotely(pickle_call(functools.partial(add, 1, 2))))
    assert scope.cancelled_caught  # trio.Cancelled was not replaced by the loop's error
    assert returned == []


async def test_result_fetcher_ends_quietly_when_the_run_closes_mid_batch() -> None:
    """The run closed the fetch channel while the fetcher was gathering a batch (the last call
    finished just as the run ended): the batch is still answered, and the fetcher ends without
    an error (it raised EndOfChannel out of the run's nursery; the kit found it under load)."""
    from trio_runners.dask import _Fetch

    send, receive = trio.open_memory_channel[_Fetch](1)
    fetch = _Fetch(future=None)
    send.send_nowait(fetch)
    send.close()  # the run is over: nothing more will come
    await DaskTaskRunner()._fetch_results(receive, object(), trio.lowlevel.current_trio_token())
    assert fetch.done.is_set()  # answered (a _Crash: this fake client has no loop)
