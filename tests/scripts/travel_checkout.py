"""A module of a checkout that no Dask worker can import (tests/test_travel.py copies it, with
travel_script.py, into a temporary directory): its tasks must travel by value."""

from __future__ import annotations

import os

from trio_runners import task


def _times(x: int, factor: int) -> int:  # a helper the task reaches through its globals
    return x * factor


@task
def triple(x: int) -> tuple[int, int]:
    """``3 * x``, and the process it ran in."""
    return _times(x, 3), os.getpid()
