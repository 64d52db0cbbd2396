"""The example of docs/conformance.md is real: it is extracted and run here."""

from __future__ import annotations

import pathlib
import re

import pytest
from hypothesis import settings

from trio_runners.testing import RunnerConformance

DOC = pathlib.Path(__file__).parent.parent / "docs" / "conformance.md"


def example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    return str(blocks[0])


def test_the_example_is_at_most_ten_lines() -> None:
    code = [line for line in example().splitlines() if line.strip() and line[0] != "#"]
    assert len(code) <= 10


def test_the_example_runs_every_property() -> None:
    namespace: dict[str, object] = {"__name__": "test_my_runner"}
    exec(compile(example(), str(DOC), "exec"), namespace)
    documented = namespace["TestMyRunner"]
    assert isinstance(documented, type)
    assert issubclass(documented, RunnerConformance)

    # The same class with fewer examples: the suite checks these runners in full elsewhere.
    class Quick(documented):  # type: ignore[misc, valid-type]
        hypothesis_settings = settings(max_examples=20)

    ran, skipped = [], []
    for name in sorted(n for n in dir(Quick) if n.startswith("test_")):
        try:
            getattr(Quick(), name)()
        except pytest.skip.Exception:
            skipped.append(name)
        else:
            ran.append(name)
    # max_workers=2 without max_pending, not sequential: everything else applies.
    assert skipped == ["test_max_pending_backpressure", "test_sequential_ordering"]
    assert len(ran) == 20  # 16, and the 4 of capability flow_hooks
