"""examples/typed_flow.py: it runs, and mypy --strict follows its types (``Task[P, R]``,
``submit`` -> ``TaskFuture[R]``, ``result()`` -> ``R``), refusing what its ``TYPE_CHECKING``
block does wrong."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "examples/typed_flow.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=False, env=env
    )


def test_the_typed_example_runs() -> None:
    done = _run(EXAMPLE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["['1 m²', '2 m²', '3 m²', '14 in all']"]


def test_mypy_strict_accepts_the_typed_example_and_needs_each_of_its_ignores() -> None:
    pytest.importorskip("mypy")
    # --warn-unused-ignores (in --strict) makes each refusal in the example a check: were
    # the library's types looser, an ignore there would be unused and mypy would fail.
    done = _run("-m", "mypy", "--strict", "--no-incremental", EXAMPLE)
    assert done.returncode == 0, done.stdout + done.stderr
