"""``python -m trio_runners``: what a user who mistypes, or lacks an extra, sees."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Runs ``python -m trio_runners`` (runpy, as -m does) after making the listed modules
# unimportable, as they are when the extra that installs them is missing.
WITHOUT = """
import runpy, sys
blocked, sys.argv[1:] = sys.argv[1].split(","), sys.argv[2:]
for name in filter(None, blocked):
    sys.modules[name] = None  # import raises ImportError
sys.argv[0] = "python -m trio_runners"
runpy.run_module("trio_runners", run_name="__main__", alter_sys=True)
"""


def demo(*args: str, without: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT, ",".join(without), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("runner", "missing", "message"),
    [
        (
            "processes",
            ("trio_parallel",),
            "error: runner 'processes' is not available: ProcessPoolTaskRunner needs "
            "trio-parallel: pip install 'trio-runners[processes]'",
        ),
        (
            "processes",
            ("cloudpickle",),
            "error: runner 'processes' is not available: ProcessPoolTaskRunner needs "
            "cloudpickle: pip install 'trio-runners[processes]'",
        ),
        (
            "dask",
            ("distributed",),
            "error: runner 'dask' is not available: DaskTaskRunner needs distributed: "
            "pip install 'trio-runners[dask]'",
        ),
    ],
)
def test_a_runner_whose_extra_is_missing_is_one_line_on_stderr_and_exit_status_2(
    runner: str, missing: tuple[str, ...], message: str
) -> None:
    done = demo("--runner", runner, without=missing)
    assert done.returncode == 2
    assert done.stderr == message + "\n"
    assert done.stdout == ""


@pytest.mark.parametrize("calls", ["-5", "0", "2.5", "many"])
def test_calls_must_be_a_whole_number_of_at_least_one(calls: str) -> None:
    done = demo("--progress", "--calls", calls)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: python -m trio_runners")
    assert f"error: argument --calls: must be a whole number >= 1, not '{calls}'" in done.stderr
    assert done.stdout == ""


def test_calls_without_progress_is_refused_not_ignored() -> None:
    done = demo("--calls", "10")
    assert done.returncode == 2
    assert "error: --calls is how many calls --progress runs: add --progress" in done.stderr
    assert done.stdout == ""  # no greetings ran


def test_names_with_progress_is_refused_not_ignored() -> None:
    done = demo("--progress", "--names", "zaphod")
    assert done.returncode == 2
    assert "error: --names is for the greetings" in done.stderr
    assert done.stdout == ""


def test_the_progress_demo_says_its_failures_are_on_purpose() -> None:
    done = demo("--runner", "concurrent", "--progress", "--calls", "120")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "submitted 120  running 0  done 118  failed 2  cancelled 0  (2 failed on "
        "purpose: every 50th call raises ValueError, to show Failed States)"
    ]


def test_the_progress_demo_with_fewer_calls_than_the_first_failure_says_nothing_of_it() -> None:
    done = demo("--runner", "sequential", "--progress", "--calls", "3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["submitted 3  running 0  done 3  failed 0  cancelled 0"]


def test_help_says_which_options_go_together() -> None:
    done = demo("--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert re.search(r"--calls N how many calls --progress runs .*only with --progress", text)
    assert "not with --progress" in text
    assert "every 50th call fails on purpose" in text
