"""The reference page's greetings example, and the ``python -m trio_runners`` demo."""

import subprocess
import sys
from pathlib import Path

import pytest

from trio_runners import _demo

ROOT = Path(__file__).resolve().parent.parent

# The Sequential output printed on the reference page (prefect-task-runners-reference.txt).
REFERENCE = [
    "hello arthur",
    "goodbye arthur",
    "hello trillian",
    "goodbye trillian",
    "hello ford",
    "goodbye ford",
    "hello marvin",
    "goodbye marvin",
]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_greetings_example_prints_the_reference_sequential_output_then_all_concurrent_lines() -> (
    None
):
    done = run("examples/greetings.py")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:8] == REFERENCE
    # Concurrent, then Dask: every line, in any order. Threads and processes may interleave
    # the two writes of print(), so compare characters, which any interleaving keeps.
    assert sorted("".join(lines[8:])) == sorted("".join(REFERENCE) * 2)


def test_demo_runs_greetings_on_the_chosen_runner_and_summarises_each_task_run() -> None:
    done = run("-m", "trio_runners", "--runner", "sequential", "--names", "zaphod", "eddie")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:4] == ["hello zaphod", "goodbye zaphod", "hello eddie", "goodbye eddie"]
    summary = [line.split() for line in lines[6:]]
    assert [row[:2] for row in summary] == [
        ["say_hello-0", "completed"],
        ["say_goodbye-0", "completed"],
        ["say_hello-1", "completed"],
        ["say_goodbye-1", "completed"],
    ]
    assert all(row[-1] == "ms" for row in summary)


def test_demo_on_the_concurrent_runner_prints_every_line() -> None:
    done = run("-m", "trio_runners", "--runner", "concurrent")
    assert done.returncode == 0, done.stderr
    assert "ConcurrentTaskRunner" in done.stdout
    assert sorted("".join(done.stdout.splitlines()[:8])) == sorted("".join(REFERENCE))


@pytest.mark.parametrize("runner", ["threads", "processes", "dask"])
def test_demo_runs_greetings_on_the_parallel_runners(runner: str) -> None:
    done = run("-m", "trio_runners", "--runner", runner)
    assert done.returncode == 0, done.stderr
    printed, summary = done.stdout.split("8 task runs on ")
    rows = summary.splitlines()[1:]
    assert len(rows) == 8
    assert all(row.split()[1] == "completed" for row in rows)
    # Workers may interleave the two writes of print(): compare characters.
    assert sorted(printed.replace("\n", "")) == sorted("".join(REFERENCE))


def test_demo_reports_a_registered_runner_that_is_not_available(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(_demo.RUNNERS, "nowhere", ("trio_runners.nowhere", "NoRunner", {}))
    monkeypatch.setitem(_demo.RUNNERS, "noclass", ("trio_runners.task_runners", "NoRunner", {}))
    assert _demo.main(["--runner", "nowhere"]) == 2
    assert "runner 'nowhere' is not available" in capsys.readouterr().err
    with pytest.raises(LookupError, match="noclass"):
        _demo.make_runner("noclass")


def test_demo_runner_registry_is_extended_by_one_entry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(_demo.RUNNERS, "mine", ("trio_runners", "SequentialTaskRunner", {}))
    assert _demo.main(["--runner", "mine", "--names", "slartibartfast"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["hello slartibartfast", "goodbye slartibartfast"]
