"""The mutation check's catalogue stays applicable: every planted bug's snippet is found, once.

A refactoring that moves or re-indents a line a mutant edits would otherwise turn that mutant
into a no-op, which `make mutants` reports as a survivor (or, worse, as caught by the error of
applying it), and the figure in docs/guarantees.md would quietly stop meaning anything.
"""

from __future__ import annotations

import pathlib

import pytest

from tools.mutants.catalogue import MUTANTS, Mutant

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_each_edit_of_each_mutant_applies_exactly_once(mutant: Mutant) -> None:
    source = (ROOT / mutant.file).read_text()
    for old, new in mutant.edits:
        assert old != new, f"{mutant.id}: an edit that changes nothing"
        assert source.count(old) == 1, (
            f"{mutant.id}: {old!r} occurs {source.count(old)} times in {mutant.file}"
        )


def test_mutant_ids_are_unique() -> None:
    ids = [m.id for m in MUTANTS]
    assert len(ids) == len(set(ids))
