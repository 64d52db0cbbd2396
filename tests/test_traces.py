"""Traces: recorded as JSON lines, checked by the guarantee checkers, replayed exactly."""

from __future__ import annotations

import functools
import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from trio_runners import ConcurrentTaskRunner, Crashed, SequentialTaskRunner
from trio_runners.abc import BaseTaskRunner
from trio_runners.testing import (
    TraceRecorder,
    TraceViolation,
    check_exactly_once,
    check_fifo_admission,
    check_max_workers,
    check_one_terminal_state,
    check_sequential,
    check_trace,
    load_trace,
    replay,
    schedule_of,
)


async def work(i: int) -> Any:
    await trio.sleep((i % 3) + 0.25)
    if i == 4:
        raise ValueError("four")
    if i == 5:
        return Crashed(RuntimeError("worker lost"))
    return i


async def production_like_run(runner: BaseTaskRunner) -> None:
    """Failures, a crash, a cancel of a running call, a release: a bit of everything."""
    async with runner.start():
        for i in range(8):
            await runner.submit(f"k{i}", functools.partial(work, i))
        await trio.sleep(1)
        runner.cancel("k7")
        await runner.wait("k3")
        runner.release("k3")


FACTORIES: dict[str, tuple[Callable[[], BaseTaskRunner], dict[str, Any]]] = {
    "sequential": (SequentialTaskRunner, {"sequential": True}),
    "concurrent": (ConcurrentTaskRunner, {}),
    "concurrent-max2": (lambda: ConcurrentTaskRunner(max_workers=2), {"max_workers": 2}),
}


def record(factory: Callable[[], BaseTaskRunner], file: Any = None) -> list[dict[str, Any]]:
    recorder = TraceRecorder(file)
    runner = factory()
    runner.add_instrument(recorder)
    trio.run(production_like_run, runner, clock=trio.testing.MockClock(autojump_threshold=0))
    return recorder.events


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_traces_of_real_runs_pass_the_guarantee_checkers(name: str) -> None:
    factory, guarantees = FACTORIES[name]
    events = record(factory)
    assert {e["event"] for e in events} >= {"submitted", "started", "finished", "released"}
    check_trace(events, **guarantees)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_replay_reproduces_a_recorded_schedule_exactly(name: str) -> None:
    factory, _ = FACTORIES[name]
    events = record(factory)
    replayed = replay(events, factory)
    assert schedule_of(replayed) == schedule_of(events)


def test_replay_against_another_runner_re_executes_the_schedule() -> None:
    events = record(ConcurrentTaskRunner)
    replayed = replay(events, lambda: ConcurrentTaskRunner(max_workers=1))
    assert schedule_of(replayed) != schedule_of(events)  # one worker: calls queue and end later
    check_trace(replayed, max_workers=1)
    finished = {e["key"]: e["state"] for e in replayed if e["event"] == "finished"}
    assert finished == {e["key"]: e["state"] for e in events if e["event"] == "finished"}


def test_trace_is_written_as_json_lines_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    recorder = TraceRecorder(path)
    runner = ConcurrentTaskRunner(instruments=[recorder])
    trio.run(production_like_run, runner, clock=trio.testing.MockClock(autojump_threshold=0))
    recorder.close()
    loaded = load_trace(path)
    assert loaded == recorder.events
    failed = [e for e in loaded if e.get("state") == "FAILED"]
    assert failed == [
        {
            "seq": failed[0]["seq"],
            "event": "finished",
            "key": "k4",
            "time": 1.25,
            "runner": "concurrent",
            "state": "FAILED",
            "error": {"type": "ValueError", "message": "four"},
        }
    ]
    buffer = io.StringIO()
    TraceRecorder(buffer).submitted(runner, "x", 1.0)
    assert load_trace(buffer.getvalue().splitlines())[0]["key"] == "x"


def ev(seq: int, event: str, key: str, state: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"seq": seq, "event": event, "key": key, "time": float(seq)}
    if state:
        entry["state"] = state
    return entry


def test_checkers_report_violations() -> None:
    two_states = [ev(0, "submitted", "a"), ev(1, "finished", "a", "COMPLETED")]
    two_states.append(ev(2, "finished", "a", "FAILED"))
    with pytest.raises(TraceViolation, match="2 terminal States"):
        check_one_terminal_state(two_states)
    with pytest.raises(TraceViolation, match="never finished"):
        check_one_terminal_state([ev(0, "submitted", "a")])
    twice = [ev(0, "submitted", "a"), ev(1, "started", "a"), ev(2, "started", "a")]
    with pytest.raises(TraceViolation, match="started 2 times"):
        check_exactly_once(twice)
    overlap = [ev(0, "submitted", "a"), ev(1, "submitted", "b"), ev(2, "started", "a")]
    overlap.append(ev(3, "started", "b"))
    with pytest.raises(TraceViolation, match="while 'a' ran"):
        check_sequential(overlap)
    out_of_order = [ev(0, "submitted", "a"), ev(1, "submitted", "b"), ev(2, "started", "b")]
    out_of_order += [ev(3, "finished", "b", "COMPLETED"), ev(4, "started", "a")]
    with pytest.raises(TraceViolation, match="order"):
        check_sequential(out_of_order)
    crowded = [ev(0, "admitted", "a"), ev(1, "admitted", "b")]
    with pytest.raises(TraceViolation, match="max_workers=1"):
        check_max_workers(crowded, 1)
    lifo = [ev(0, "submitted", "a"), ev(1, "submitted", "b"), ev(2, "admitted", "b")]
    lifo.append(ev(3, "admitted", "a"))
    with pytest.raises(TraceViolation, match="admission order"):
        check_fifo_admission(lifo)


def test_progress_demo_runs_a_few_hundred_calls() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "trio_runners", "--runner", "concurrent", "--progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "submitted 300  running 0  done 294  failed 6  cancelled 0" in done.stdout
    assert "━" not in done.stdout  # not a terminal: no bar drawn
