"""Playing one schedule for a kit: the runner, the calls, the event loop, the clock.

`play` makes a new runner from the kit's settings, the kit's calls (async on the loop, or
sync ones that record in a file), and runs a `ScheduleDriver` in a fresh event loop through
anyio: Trio (on a `trio.testing.MockClock` when the runner supports one: exact times) or
asyncio (real time). `play_checked` turns what it finds into a `ConformanceError`.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import trio.testing

from .._trace import TraceRecorder
from ._calls import AsyncCall, SyncCall
from ._driver import ScheduleDriver
from ._errors import RunnerRaised, error_for
from ._log import CallLog, FileCallLog, MemoryCallLog
from ._report import Report
from ._settings import KitSettings, is_exact
from .strategies import CallSpec, Schedule

__all__ = ["new_logs", "play", "play_checked"]


def play(kit: KitSettings, schedule: Schedule, log: CallLog | None = None) -> Report:
    """Play one schedule against a new runner of ``kit``, in a fresh event loop.

    Raises: what the runner lets out of the example (the caller reports it)."""
    cls = type(kit)
    unit = cls.time_unit
    mock = cls.uses_mock_clock()
    if cls.call_kind == "async":
        log = log or MemoryCallLog()
        call_unit = 1.0 if is_exact(cls) else unit
        loop = "trio" if cls.backend == "trio" else "any"

        def make_call(tr: CallLog, i: int, spec: CallSpec) -> Callable[[], Any]:
            return AsyncCall(tr, i, spec.duration * call_unit, spec.fails, spec.raises, loop)

    else:
        if log is None:
            raise ValueError("sync calls record to a FileCallLog: pass one")

        def make_call(tr: CallLog, i: int, spec: CallSpec) -> Callable[[], Any]:
            return SyncCall(tr, i, spec.duration * unit, spec.fails, spec.raises)

    runner = kit.new_runner()
    recorder = TraceRecorder()
    if cls.supports_instruments:
        runner.add_instrument(recorder)
    driver = ScheduleDriver(
        runner,
        schedule,
        log=log,
        make_call=make_call,
        exact=is_exact(cls),
        sequential=cls.sequential,
        time_unit=1.0 if mock else unit,
        hang_limit=1e6 if mock else 10.0 + 40 * unit,
        has_state=cls.supports_state,
    )
    options: dict[str, Any] = {}
    if mock:
        options["clock"] = trio.testing.MockClock(autojump_threshold=0)
    report: Report = anyio.run(driver.run, backend=cls.backend, backend_options=options)
    if cls.supports_instruments:
        runner.remove_instrument(recorder)
    report.lifecycle = recorder.events
    report.crashed_means = cls.crashed_means
    return report


@contextmanager
def new_logs(kit: KitSettings) -> Iterator[Callable[[], CallLog | None]]:
    """A factory of fresh call logs for ``kit``'s examples: None (a log in memory) for async
    calls, a `FileCallLog` in a temporary directory (removed at the end) for sync ones."""
    if type(kit).call_kind == "async":
        yield lambda: None
        return
    directory = tempfile.mkdtemp(prefix="trio-runners-kit-")
    counter = itertools.count()
    try:

        def new() -> CallLog:
            path = os.path.join(directory, f"{next(counter)}.log")
            open(path, "wb").close()
            return FileCallLog(path)

        yield new
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def play_checked(
    kit: KitSettings, title: str, check: Callable[[Report], list[str]], schedule: Schedule
) -> None:
    """Play ``schedule`` and judge it with ``check``.

    Raises:
      RunnerRaised: an exception of the runner's own left the example (or, on asyncio, an
        `asyncio.CancelledError` that nothing in the kit asked for).
      ConformanceError: ``check`` found violations (the subclass for their kind)."""
    try:
        if type(kit).call_kind == "async":
            report = play(kit, schedule)
        else:
            fd, path = tempfile.mkstemp(prefix="trio-runners-kit-", suffix=".log")
            os.close(fd)
            try:
                report = play(kit, schedule, FileCallLog(path))
            finally:
                os.unlink(path)
    except Exception as exc:  # the runner's own exception left the example
        raise RunnerRaised(
            title, [f"runner: {exc!r} escaped from the runner ({type(exc).__qualname__})"], schedule
        ) from exc
    except asyncio.CancelledError as exc:  # on asyncio: nothing cancelled the kit's own task
        raise RunnerRaised(
            title,
            [
                f"runner: a stray {exc!r} escaped from the runner into the kit's task, which"
                " nothing had cancelled"
            ],
            schedule,
        ) from exc
    violations = check(report)
    if violations:
        raise error_for(title, violations, schedule)
