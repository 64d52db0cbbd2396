"""The figures the benchmark derives from what it measured (benchmarks/parallel.py). Nothing
asserts on the measurements themselves; a wrong derivation would publish a wrong table."""

from __future__ import annotations

from benchmarks.parallel import dispatch_gaps


def test_dispatch_gaps_are_between_consecutive_calls_of_the_same_worker() -> None:
    # (pid, start, end), out of order: worker 1 ran three calls, worker 2 two.
    spans = [(2, 5.0, 6.0), (1, 3.25, 4.0), (1, 0.0, 1.0), (2, 0.25, 4.5), (1, 1.5, 2.5)]
    assert sorted(dispatch_gaps(spans)) == [0.5, 0.5, 0.75]


def test_a_worker_with_one_call_has_no_gap() -> None:
    assert dispatch_gaps([(1, 0.0, 1.0), (2, 0.5, 2.0)]) == []
