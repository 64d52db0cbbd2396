"""Embedding from plain threads: `run_in_background` drives any runner from code that is not Trio.

Synchronisation is by `threading.Event` and `threading.Barrier`; the timeouts on them only guard
against a hang (nothing here is timed).
"""

from __future__ import annotations

import gc
import re
import sys
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from child_harness import run_to_end

from trio_runners import (
    BaseTaskRunner,
    CancelledRun,
    ConcurrentTaskRunner,
    SequentialTaskRunner,
    TaskConcurrencyType,
)
from trio_runners.embed import run_in_background

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

HANG_GUARD = 30  # seconds; only against a hang
RACING_EXITS = 300


class Gate:
    """A call that blocks its worker thread until opened; records that it started."""

    def __init__(self, value: object = None) -> None:
        self.started = threading.Event()
        self.opened = threading.Event()
        self.value = value

    def __call__(self) -> object:
        self.started.set()
        assert self.opened.wait(HANG_GUARD)
        return self.value

    def open(self) -> None:
        self.opened.set()


@pytest.fixture
def gates() -> Iterator[list[Gate]]:
    """Gates opened at teardown, so an abandoned worker thread always ends."""
    made: list[Gate] = []
    yield made
    for gate in made:
        gate.open()


def make_gate(gates: list[Gate], value: object = None) -> Gate:
    gate = Gate(value)
    gates.append(gate)
    return gate


class BoomError(Exception):
    pass


def boom() -> None:
    raise BoomError("boom")


async def double_async(n: int = 21) -> int:
    await trio.lowlevel.checkpoint()
    return 2 * n


def test_submit_returns_a_future_whose_result_is_the_calls_value(runner: BaseTaskRunner) -> None:
    with run_in_background(runner) as background:
        in_thread = background.submit("sync", lambda: 6 * 7)
        on_loop = background.submit("async", double_async)
        assert in_thread.result() == 42
        assert on_loop.result() == 42
        assert on_loop.state().is_completed()
        assert background.wait("sync") is in_thread.state()


def test_an_exception_in_a_call_reaches_the_host_through_the_state(
    runner: BaseTaskRunner,
) -> None:
    with run_in_background(runner) as background:
        future = background.submit("boom", boom)
        state = future.state()
        assert state.is_failed()
        with pytest.raises(BoomError, match="boom"):
            future.result()
        assert isinstance(future.exception(), BoomError)
    # The block left normally: a failed call does not fail the run.
    assert runner.state("boom") is state


def test_state_with_a_timeout_raises_timeout_error_and_leaves_the_call_running(
    gates: list[Gate],
) -> None:
    gate = make_gate(gates, "done")
    with run_in_background(ConcurrentTaskRunner()) as background:
        future = background.submit("slow", gate)
        assert gate.started.wait(HANG_GUARD)
        with pytest.raises(TimeoutError):
            future.state(timeout=0)
        assert background.wait("slow", timeout=0) is None
        assert not future.done()
        gate.open()
        assert future.result() == "done"
        assert future.done()


def test_cancel_makes_the_call_cancelled_and_result_raises_cancelled_run() -> None:
    with run_in_background(ConcurrentTaskRunner()) as background:
        future = background.submit("forever", trio.sleep_forever)
        assert future.cancel() is True
        assert future.state().is_cancelled()
        with pytest.raises(CancelledRun):
            future.result()
        assert future.cancel() is False


def test_leaving_the_block_normally_waits_for_every_call(gates: list[Gate]) -> None:
    gate = make_gate(gates, "late")
    events: list[str] = []

    def call() -> str:
        value = gate()
        events.append("call finished")
        return str(value)

    def open_once_started() -> None:
        assert gate.started.wait(HANG_GUARD)
        gate.open()

    opener = threading.Thread(target=open_once_started)
    with run_in_background(ConcurrentTaskRunner()) as background:
        future = background.submit("late", call)
        opener.start()
    events.append("block left")
    opener.join()
    assert events == ["call finished", "block left"]
    assert future.result() == "late"


def test_leaving_the_block_by_an_exception_cancels_in_flight_calls_and_reraises_it(
    gates: list[Gate],
) -> None:
    gate = make_gate(gates)
    queued_ran = threading.Event()
    error = LookupError("the host gave up")
    futures: dict[str, Any] = {}

    def host() -> None:
        with run_in_background(ConcurrentTaskRunner(max_workers=2)) as background:
            futures["finished"] = background.submit("finished", lambda: "kept")
            assert futures["finished"].result() == "kept"
            futures["on loop"] = background.submit("on loop", trio.sleep_forever)
            futures["in thread"] = background.submit("in thread", gate)
            futures["queued"] = background.submit("queued", queued_ran.set)
            assert gate.started.wait(HANG_GUARD)
            raise error

    with pytest.raises(LookupError) as raised:
        host()
    assert raised.value is error
    for name in ("on loop", "in thread", "queued"):
        assert futures[name].state().is_cancelled(), name
    assert not queued_ran.is_set()
    assert futures["finished"].result() == "kept"


def test_several_host_threads_submit_at_once(runner: BaseTaskRunner) -> None:
    threads, per_thread = 4, 25
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def host(background: Any, t: int) -> None:
        try:
            barrier.wait(HANG_GUARD)
            futures = [
                background.submit((t, i), (lambda t=t, i=i: (t, i))) for i in range(per_thread)
            ]
            assert [f.result() for f in futures] == [(t, i) for i in range(per_thread)]
        except BaseException as exc:  # reported to the test's thread below
            failures.append(exc)

    with run_in_background(runner) as background:
        workers = [threading.Thread(target=host, args=(background, t)) for t in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert failures == []
    statistics = runner.statistics()
    assert statistics.completed == threads * per_thread
    assert statistics.finished == threads * per_thread


def test_as_completed_is_a_plain_iterator_in_completion_order(gates: list[Gate]) -> None:
    first, second = make_gate(gates, "a"), make_gate(gates, "b")
    with run_in_background(ConcurrentTaskRunner()) as background:
        a = background.submit("a", first)
        background.submit("b", second)
        second.open()
        assert background.wait("b") is not None  # b has finished, a has not
        order = background.as_completed(["a", "b"])
        assert next(order)[0] == "b"
        first.open()
        key, state = next(order)
        assert (key, state) == ("a", a.state())
        assert list(order) == []


def test_as_completed_of_an_unknown_key_raises_key_error_at_once() -> None:
    with run_in_background(ConcurrentTaskRunner()) as background:
        background.submit("known", lambda: None)
        with pytest.raises(KeyError):
            background.as_completed(["known", "unknown"])


def test_a_closed_as_completed_stops_iterating(gates: list[Gate]) -> None:
    gate = make_gate(gates)
    with run_in_background(ConcurrentTaskRunner()) as background:
        background.submit("open", gate)
        with background.as_completed(["open"]) as states:
            pass
        assert list(states) == []
        gate.open()


def test_bad_submissions_raise_the_runners_errors_in_the_host() -> None:
    with run_in_background(ConcurrentTaskRunner()) as background:
        background.submit("key", lambda: None)
        with pytest.raises(ValueError, match="already submitted"):
            background.submit("key", lambda: None)
        with pytest.raises(TypeError):
            background.submit("not callable", 42)  # type: ignore[arg-type]
        with pytest.raises(KeyError):
            background.wait("unknown")
        with pytest.raises(KeyError):
            background.cancel("unknown")


def test_release_forgets_a_finished_state() -> None:
    with run_in_background(ConcurrentTaskRunner()) as background:
        future = background.submit("key", lambda: 1)
        assert future.result() == 1
        background.release("key")
        with pytest.raises(KeyError):
            background.state("key")
        assert background.submit("key", lambda: 2).result() == 2


def test_cancel_all_cancels_every_unfinished_call() -> None:
    with run_in_background(ConcurrentTaskRunner()) as background:
        futures = [background.submit(i, trio.sleep_forever) for i in range(3)]
        assert background.cancel_all() == 3
        assert all(f.state().is_cancelled() for f in futures)


def test_submitting_after_the_block_raises_runtime_error() -> None:
    with run_in_background(ConcurrentTaskRunner()) as background:
        pass
    with pytest.raises(RuntimeError, match="has exited"):
        background.submit("late", lambda: None)


def test_a_future_stays_readable_after_the_block() -> None:
    with run_in_background(ConcurrentTaskRunner()) as background:
        future = background.submit("key", double_async)
    assert future.done()
    assert future.result() == 42
    assert background.wait("key") is future.state()


def test_running_a_started_runner_in_the_background_raises_runtime_error() -> None:
    runner = ConcurrentTaskRunner()
    with (
        run_in_background(runner),
        pytest.raises(RuntimeError, match="already started"),
        run_in_background(runner),
    ):
        pass  # pragma: no cover


def test_the_blocking_handle_used_from_the_trio_thread_says_to_use_the_runner_itself() -> None:
    with run_in_background(ConcurrentTaskRunner()) as background:
        finished = background.submit("finished", lambda: None)
        assert background.wait("finished") is not None
        uses: list[Callable[[], object]] = [
            lambda: background.submit("inner", lambda: None),
            lambda: background.wait("finished"),
            lambda: background.state("finished"),
            lambda: background.cancel("finished"),
            lambda: background.as_completed(["finished"]),
            finished.result,
        ]

        async def uses_the_handle() -> list[str]:  # runs on the runner's Trio thread
            refusals = []
            for use in uses:
                try:
                    use()
                except RuntimeError as exc:
                    refusals.append(str(exc))
            return refusals

        refusals = background.submit("outer", uses_the_handle).result(timeout=HANG_GUARD)
    assert len(refusals) == len(uses)
    for refusal in refusals:
        assert "own Trio thread" in refusal
        assert "await runner.submit(key, call)" in refusal
    # Nothing was disturbed: "inner" was never submitted, "finished" kept its State.
    assert finished.state().is_completed()
    with pytest.raises(KeyError):
        background.state("inner")


def test_a_call_that_raises_keyboard_interrupt_raises_it_in_the_host_when_the_block_ends() -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    crashed: list[bool] = []

    def host() -> None:
        with run_in_background(ConcurrentTaskRunner()) as background:
            crashed.append(background.submit("interrupt", interrupt).state().is_crashed())
            with pytest.raises(RuntimeError):  # the run has ended: no more calls
                background.submit("after", lambda: None)

    with pytest.raises(KeyboardInterrupt) as raised:
        host()
    assert crashed == [True]
    # The group start() raised is kept as the cause.
    assert raised.value.__cause__ is not None


def test_a_sequential_runner_keeps_submission_order_across_the_bridge() -> None:
    order: list[int] = []
    with run_in_background(SequentialTaskRunner()) as background:
        for i in range(10):
            # submit returns once the call has finished (the sequential runner runs it inside
            # submit), so the future is already done.
            assert background.submit(i, (lambda i=i: order.append(i))).done()
    assert order == list(range(10))


class BrokenRunner(BaseTaskRunner):
    """A runner whose backend fails to open."""

    @property
    def concurrency_type(self) -> TaskConcurrencyType:
        return TaskConcurrencyType.CONCURRENT

    @asynccontextmanager
    async def _backend(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        raise OSError("no backend")
        yield  # pragma: no cover

    async def _submit(self, record: Any) -> None:  # pragma: no cover (never started)
        raise AssertionError


def test_a_runner_that_fails_to_start_raises_on_entry() -> None:
    with pytest.raises(ExceptionGroup) as raised, run_in_background(BrokenRunner()):
        pass  # pragma: no cover
    assert raised.group_contains(OSError, match="no backend")


def test_a_sync_call_waiting_on_the_runner_itself_lends_its_slot_back() -> None:
    runner = ConcurrentTaskRunner(max_workers=1)

    def outer() -> object:
        trio.from_thread.run(runner.submit, "inner", lambda: "inner done")
        state = trio.from_thread.run(runner.wait, "inner")
        assert state is not None
        return state.result()

    with run_in_background(runner) as background:
        assert background.submit("outer", outer).result(timeout=HANG_GUARD) == "inner done"


# The script of issue 12 (a block entered and never left), with calls that never end.
UNCLOSED_AT_EXIT = """
import atexit

submitted = []


def report() -> None:
    # Registered before anything is imported, so it runs after every other exit hook.
    states = {key: runner.state(key) for key in submitted}
    print(*(f"{k}={'unfinished' if s is None else s.type.value}" for k, s in states.items()))


atexit.register(report)

import threading

import trio

from trio_runners import ConcurrentTaskRunner
from trio_runners.embed import run_in_background

runner = ConcurrentTaskRunner()
started = threading.Event()


def in_thread() -> None:
    started.set()
    threading.Event().wait()  # blocks for ever


cm = run_in_background(runner)
background = cm.__enter__()  # and never __exit__
"""

SUBMIT_CALLS_THAT_NEVER_END = """
background.submit("on_loop", trio.sleep_forever)
background.submit("in_thread", in_thread)
submitted.extend(["on_loop", "in_thread"])
started.wait()
"""


@pytest.mark.parametrize(
    ("script", "states"),
    [
        pytest.param(UNCLOSED_AT_EXIT, "", id="no calls"),
        pytest.param(
            UNCLOSED_AT_EXIT + SUBMIT_CALLS_THAT_NEVER_END,
            "on_loop=CANCELLED in_thread=CANCELLED",
            id="calls that never end",
        ),
    ],
)
def test_an_unclosed_block_at_interpreter_exit_cancels_its_calls_and_warns(
    script: str, states: str, tmp_path: Path
) -> None:
    ended = run_to_end(script, tmp_path, ("-W", "always"))
    assert ended.returncode == 0, ended.stderr
    assert ended.stdout == [states], ended.stderr
    warnings = [line for line in ended.stderr.splitlines() if "ResourceWarning" in line]
    assert len(warnings) == 1, ended.stderr
    assert repr(ConcurrentTaskRunner()) in warnings[0]


def enter_and_drop(runner: BaseTaskRunner) -> None:
    """Enter a block, submit a call that never ends, and drop the handle without leaving it."""
    cm = run_in_background(runner)
    background = cm.__enter__()
    background.submit("forever", trio.sleep_forever)
    del cm, background
    gc.collect()


def test_an_unclosed_handle_that_is_garbage_collected_warns_and_cancels_its_calls() -> None:
    runner = ConcurrentTaskRunner()
    with pytest.warns(ResourceWarning, match=re.escape(repr(runner))):
        enter_and_drop(runner)
    assert runner.state("forever").is_cancelled()


def drop_on_the_trio_thread(runner: BaseTaskRunner) -> threading.Thread:
    """Enter a block, and drop its handle's last reference inside an async call of the runner
    (a call that never ends); return the Trio thread, once the handle is dropped."""
    held = [run_in_background(runner)]
    held[0].__enter__()  # and never __exit__
    loop_threads: list[threading.Thread] = []
    released, dropped = threading.Event(), threading.Event()

    async def drop_the_handle() -> None:
        loop_threads.append(threading.current_thread())
        await trio.to_thread.run_sync(released.wait, HANG_GUARD)
        held.clear()  # the last reference: the handle is collected here, on the Trio thread
        dropped.set()
        await trio.sleep_forever()

    held[0].submit("drop", drop_the_handle)  # its future, which refers to the handle, is dropped
    released.set()
    assert dropped.wait(HANG_GUARD)
    return loop_threads[0]


def test_an_unclosed_handle_collected_on_its_own_trio_thread_is_closed_without_deadlock() -> None:
    runner = ConcurrentTaskRunner()
    with pytest.warns(ResourceWarning, match=re.escape(repr(runner))):
        loop_thread = drop_on_the_trio_thread(runner)
    # The Trio thread ends only once the block has been cancelled and the portal stopped.
    loop_thread.join(HANG_GUARD)
    assert not loop_thread.is_alive()
    assert runner.state("drop").is_cancelled()


def test_a_handle_used_before_its_block_says_so() -> None:
    background = run_in_background(ConcurrentTaskRunner())
    with pytest.raises(RuntimeError, match="was never entered"):
        background.submit("early", lambda: None)
    with pytest.raises(RuntimeError, match="was never entered"):
        background.wait("early")


def test_a_handle_is_entered_once() -> None:
    background = run_in_background(ConcurrentTaskRunner())
    with background:
        pass
    with pytest.raises(RuntimeError, match="already entered"), background:
        pass  # pragma: no cover


def _never_awaited(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "was never awaited" in str(w.message)]


def test_requests_racing_the_blocks_exit_are_accepted_or_refused_and_leave_nothing_behind() -> None:
    """Host threads keep sending requests into the runner's portal while the block exits,
    over many blocks: each request is accepted or raises `RuntimeError`, and none leaves an
    unawaited coroutine behind (a `RuntimeWarning` in the host). Racing the portal's stop,
    anyio's portal could find its nursery closed after it had made the request's coroutine:
    about once in 100 exits."""
    refused: list[RuntimeError] = []

    def request_until_refused(session: Any) -> None:
        while True:
            try:
                session.start_task_soon(trio.lowlevel.checkpoint)
            except RuntimeError as error:
                refused.append(error)
                return

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(RACING_EXITS):
            with run_in_background(ConcurrentTaskRunner()) as background:
                host = threading.Thread(
                    target=request_until_refused, args=(background._embedding.live(),)
                )
                host.start()
            host.join(HANG_GUARD)
            assert not host.is_alive()
        gc.collect()
    assert _never_awaited(caught) == []
    assert len(refused) == RACING_EXITS


def test_the_portal_stops_only_once_the_requests_on_their_way_in_have_arrived() -> None:
    """A request still on its way into the portal when the block exits gets its result: the
    stop waits for it. A request made once the stop has begun is refused before it reaches
    the portal."""
    with run_in_background(ConcurrentTaskRunner()) as background:
        session = background._embedding.live()
        assert session is not None
        portal = session._portal
        into_portal = portal.start_task_soon
        on_its_way, let_in = threading.Event(), threading.Event()
        reached: list[object] = []

        def slow_hop(fn: Callable[..., Any], *args: Any) -> Any:
            reached.append(fn)
            if fn is double_async:
                on_its_way.set()
                assert let_in.wait(HANG_GUARD)
            return into_portal(fn, *args)

        portal.start_task_soon = slow_hop  # type: ignore[method-assign,assignment]
        results: list[object] = []
        request = threading.Thread(
            target=lambda: results.append(session.start_task_soon(double_async).result())
        )
        request.start()
        assert on_its_way.wait(HANG_GUARD)
        closing = threading.Thread(target=background.__exit__, args=(None, None, None))
        closing.start()
        with session._hops:  # the close now waits for the request on its way
            assert session._hops.wait_for(lambda: session._stopping, HANG_GUARD)
        reached.clear()
        with pytest.raises(RuntimeError, match="portal has stopped"):
            session.start_task_soon(double_async)
        assert reached == []  # refused before the portal
        let_in.set()
        request.join(HANG_GUARD)
        closing.join(HANG_GUARD)
        assert not closing.is_alive()
    assert results == [42]
