"""The Python examples in README.md and docs/ run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def runnable_examples() -> list[tuple[str, str]]:
    """Every fenced Python block that runs a program (calls trio.run or a flow)."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for index, block in enumerate(FENCE.findall(path.read_text())):
            if "trio.run(" in block or "greetings([" in block or "# example: run" in block:
                found.append((f"{path.relative_to(ROOT)}#{index}", block))
    return found


EXAMPLES = runnable_examples()


def test_there_are_runnable_examples() -> None:
    assert any(name.startswith("README.md") for name, _ in EXAMPLES)


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_example_runs(name: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
