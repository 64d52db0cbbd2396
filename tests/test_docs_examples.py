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


def _two_commands(path: Path) -> list[str]:
    """The ``make demo`` / ``make test`` lines (with their continuation comments) of a page."""
    block = re.search(r"```bash\n(make demo.*?)```", path.read_text(), re.DOTALL)
    assert block is not None, f"{path.name} has no make demo / make test block"
    return [line.rstrip() for line in block.group(1).splitlines()]


def test_the_quickstart_states_the_two_commands_as_the_readme_does() -> None:
    assert _two_commands(ROOT / "docs" / "quickstart.md") == _two_commands(ROOT / "README.md")


def test_the_readme_names_every_step_of_make_test() -> None:
    makefile = (ROOT / "Makefile").read_text()
    steps = re.search(r"^test:(.*)$", makefile, re.MULTILINE)
    assert steps is not None
    said = " ".join(" ".join(_two_commands(ROOT / "README.md")).split())
    words = {
        "lint": "ruff",
        "typecheck": "mypy --strict",
        "docs": "mkdocs build --strict",
        "bench-quick": "the quick benchmark",
        "stress-ci": "the stress slice",
        "pytest": "pytest",
    }
    for step in steps.group(1).split():
        assert step in words, f"make test runs {step!r}: say so in README.md and here"
        assert words[step] in said, f"README.md's make test line does not mention {step!r}"


def test_the_stated_python_and_trio_versions_are_pyprojects() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    trio = re.search(r'"trio>=([0-9.]+)"', pyproject)
    python = re.search(r'requires-python = ">=([0-9.]+)"', pyproject)
    assert trio is not None and python is not None
    stated = f"Python ≥ {python.group(1)}, trio ≥ {trio.group(1)}."
    for page in ["README.md", "docs/quickstart.md"]:
        assert stated in (ROOT / page).read_text(), f"{page} should say {stated!r}"
