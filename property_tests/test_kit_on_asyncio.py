"""The kit checks runners that live on asyncio, through anyio's asyncio backend, in real time.

`AsyncioRunner` is written here with asyncio's own primitives (a `asyncio.TaskGroup`, one
`asyncio.Event` per call, `asyncio.timeout`), as someone who never heard of Trio would write
one, honouring the core contract: it passes every property that applies on
``backend = "asyncio"``, and the rest are skipped naming the capability (``mock_clock``,
``trio``). Our own `ConcurrentTaskRunner`, hosted on asyncio by
`trio_runners.embed.run_in_background_async`, is checked the same way. With one bug planted at
a time (a runner that swallows an enclosing cancellation, one whose ``wait`` raises
`KeyError` for a running call) the kit reports a `ConformanceError` of the matching kind.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from broken_runners import DRAWN_AND_LANDMARKS, LANDMARKS_ONLY, assert_reported
from hypothesis import settings

from trio_runners import ConcurrentTaskRunner
from trio_runners.embed import AsyncBackgroundRunner, run_in_background_async
from trio_runners.states import Cancelled, Completed, Crashed, Failed, State
from trio_runners.testing import (
    CancellationSwallowed,
    CoreRunner,
    RunnerConformance,
    RunnerRaised,
)

if sys.version_info < (3, 11):
    pytest.skip("asyncio.TaskGroup and asyncio.timeout need Python 3.11", allow_module_level=True)


class AsyncioRunner:
    """Runs each call in a task of its own `asyncio.TaskGroup` (``inline``: inside ``submit``)."""

    def __init__(self, *, inline: bool = False, bug: str | None = None) -> None:
        self.inline = inline
        self.bug = bug
        self._group: asyncio.TaskGroup | None = None
        self._done: dict[Hashable, asyncio.Event] = {}
        self._states: dict[Hashable, State[Any]] = {}

    @asynccontextmanager
    async def start(self) -> AsyncIterator[AsyncioRunner]:
        async with asyncio.TaskGroup() as group:
            self._group = group
            try:
                yield self
            finally:
                self._group = None

    async def submit(self, key: Hashable, call: Callable[[], Any]) -> None:
        await asyncio.sleep(0)  # a checkpoint, as every public async method
        if self._group is None:
            raise RuntimeError("the runner has exited")
        self._done[key] = asyncio.Event()
        if self.inline:
            await self._run(key, call)
        else:
            self._group.create_task(self._run(key, call))

    async def _run(self, key: Hashable, call: Callable[[], Any]) -> None:
        try:
            result = await call()
            # A call that returns a State ends with it (Prefect's convention).
            state: State[Any] = result if isinstance(result, State) else Completed(result)
        except Exception as exc:
            state = Failed(exc)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is None or task.cancelling() == 0:  # stray: nobody cancelled this task
                state = Crashed(exc)
            else:
                self._finish(key, Cancelled())
                if self.bug == "swallow":
                    return
                raise
        except BaseException as exc:  # a BaseException of the call's own: the run goes on
            state = Crashed(exc)
        self._finish(key, state)

    def _finish(self, key: Hashable, state: State[Any]) -> None:
        self._states[key] = state
        self._done[key].set()

    async def wait(self, key: Hashable, timeout: float | None = None) -> State[Any] | None:
        if self.bug == "wait_raises" and key not in self._states:
            raise KeyError(key)
        done = self._done[key]
        await asyncio.sleep(0)  # a checkpoint even when the State is there
        try:
            async with asyncio.timeout(timeout):
                await done.wait()
        except TimeoutError:
            pass
        return self._states.get(key)


class EmbeddedConcurrent:
    """Our `ConcurrentTaskRunner` on its Trio thread, driven from asyncio through
    `run_in_background_async`: ``start()`` enters the embedding, ``submit`` and ``wait``
    forward to the `AsyncBackgroundRunner` unchanged."""

    def __init__(self) -> None:
        self.runner = ConcurrentTaskRunner()
        self._face: AsyncBackgroundRunner[ConcurrentTaskRunner] | None = None

    @asynccontextmanager
    async def start(self) -> AsyncIterator[EmbeddedConcurrent]:
        async with run_in_background_async(self.runner) as face:
            self._face = face
            yield self

    def _started(self) -> AsyncBackgroundRunner[ConcurrentTaskRunner]:
        if self._face is None:
            raise RuntimeError("not started")
        return self._face

    async def submit(self, key: Hashable, call: Callable[[], Any]) -> None:
        await self._started().submit(key, call)

    async def wait(self, key: Hashable, timeout: float | None = None) -> State[Any] | None:
        return await self._started().wait(key, timeout)


def _typed(factory: Callable[[], Any]) -> Callable[[], CoreRunner]:
    return factory


CORE_ONLY: dict[str, Any] = {
    "supports_cancel": False,
    "supports_cancel_all": False,
    "supports_state": False,
    "supports_release": False,
    "supports_statistics": False,
    "supports_as_completed": False,
    "supports_instruments": False,
}

#: Real time: fewer examples than the profile's, each takes tens of milliseconds.
ON_ASYNCIO = settings(max_examples=60)


class TestAsyncioRunner(RunnerConformance):
    runner_factory = staticmethod(_typed(AsyncioRunner))
    backend = "asyncio"
    hypothesis_settings = ON_ASYNCIO
    locals().update(CORE_ONLY)


class TestInlineAsyncioRunner(RunnerConformance):
    runner_factory = staticmethod(_typed(lambda: AsyncioRunner(inline=True)))
    backend = "asyncio"
    sequential = True
    max_workers = 1
    hypothesis_settings = ON_ASYNCIO
    locals().update(CORE_ONLY)


class TestConcurrentEmbeddedInAsyncio(RunnerConformance):
    runner_factory = staticmethod(_typed(EmbeddedConcurrent))
    backend = "asyncio"
    time_unit = 0.005
    hypothesis_settings = settings(max_examples=30)
    locals().update(CORE_ONLY)


async def _long_call() -> None:
    import trio

    await trio.sleep(10)


async def _leave_by_a_double_cancellation() -> State[Any] | str | None:
    """Enter the asyncio host, start a long call, cancel the host task twice (as anyio's
    cancel scopes, or a timeout plus a cancel, do); then read the call's State."""
    faces: list[AsyncBackgroundRunner[ConcurrentTaskRunner]] = []
    started = asyncio.Event()

    async def host() -> None:
        async with run_in_background_async(ConcurrentTaskRunner()) as face:
            faces.append(face)
            await face.submit("k", _long_call)
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(host())
    await started.wait()
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    try:
        return await faces[0].wait("k", 0)
    except BaseException as exc:  # what the kit saw: RuntimeError or a stray CancelledError
        return repr(exc)


def test_embedded_block_left_by_a_cancellation_has_exited() -> None:
    """Once the block of run_in_background_async is left, every call has its State: here
    Cancelled, read without error. Each attempt races the close; 20 attempts fail on main."""

    async def attempts() -> list[object]:
        return [await _leave_by_a_double_cancellation() for _ in range(20)]

    seen = asyncio.run(attempts())
    assert all(isinstance(state, State) and state.is_cancelled() for state in seen), seen


def test_the_timed_properties_run_on_asyncio() -> None:
    for name in (
        "test_each_call_runs_exactly_once",
        "test_wait_returns_the_state_iff_finished_within_timeout",
        "test_cancellation_ends_each_call_once_and_propagates",
    ):
        assert hasattr(getattr(TestAsyncioRunner, name), "hypothesis"), name  # a @given test
    assert hasattr(TestInlineAsyncioRunner.test_sequential_ordering, "hypothesis")
    assert hasattr(TestInlineAsyncioRunner.test_max_workers_is_never_exceeded, "hypothesis")


@pytest.mark.parametrize(
    ("test_name", "capability"),
    [
        ("test_state_machine_agrees_with_reference_model", "'trio' (backend = 'asyncio')"),
        ("test_calls_raising_base_exceptions", "'mock_clock' (backend = 'asyncio')"),
        ("test_calls_raising_base_exceptions", "'trio' (backend = 'asyncio')"),
        ("test_async_generator_functions_are_refused", "'trio' (backend = 'asyncio')"),
    ],
)
def test_what_needs_trio_is_a_skip_that_names_it(test_name: str, capability: str) -> None:
    with pytest.raises(pytest.skip.Exception) as info:
        getattr(TestAsyncioRunner(), test_name)()
    message = str(info.value)
    assert message.startswith("needs capability"), message
    assert capability in message, message


FAST = settings(max_examples=150, report_multiple_bugs=False)


def _check(*, bug: str, inline: bool = False, landmarks_only: bool = False) -> RunnerConformance:
    cls = type(
        "Check",
        (RunnerConformance,),
        {
            "runner_factory": staticmethod(lambda: AsyncioRunner(inline=inline, bug=bug)),
            "hypothesis_settings": LANDMARKS_ONLY if landmarks_only else FAST,
            "backend": "asyncio",
            "sequential": inline,
            **CORE_ONLY,
        },
    )
    check: RunnerConformance = cls()
    return check


@DRAWN_AND_LANDMARKS
def test_kit_on_asyncio_reports_wait_raising_for_a_running_call(landmarks_only: bool) -> None:
    check = _check(bug="wait_raises", landmarks_only=landmarks_only)
    assert_reported(
        check.test_wait_returns_the_state_iff_finished_within_timeout,
        None,
        "raised KeyError",
        RunnerRaised,
    )


@DRAWN_AND_LANDMARKS
def test_kit_on_asyncio_reports_submit_swallowing_an_enclosing_cancellation(
    landmarks_only: bool,
) -> None:
    check = _check(bug="swallow", inline=True, landmarks_only=landmarks_only)
    assert_reported(
        check.test_cancellation_ends_each_call_once_and_propagates,
        None,
        "asyncio.CancelledError was swallowed",
        CancellationSwallowed,
    )


def test_examples_run_on_asyncio_in_real_time() -> None:
    """The kit really plays on asyncio: the runner's asyncio primitives work there (they
    would fail under Trio), the report says so, and times are real (no MockClock)."""
    from trio_runners.testing.strategies import CallSpec, Schedule

    schedule = Schedule(calls=(CallSpec(1.0, False, 0.0, None), CallSpec(0.0, True, 0.0, None)))
    report = TestAsyncioRunner().play(schedule)
    assert report.backend == "asyncio"
    assert not report.exact
    assert report.time_unit == TestAsyncioRunner.time_unit
    assert [s is not None and s.is_completed() for s in report.final] == [True, False]
    starts = {e.call: e.time for e in report.log if e.kind == "start"}
    ends = {e.call: e.time for e in report.log if e.kind == "end"}
    assert ends[0] - starts[0] >= TestAsyncioRunner.time_unit * 0.9  # slept real time
