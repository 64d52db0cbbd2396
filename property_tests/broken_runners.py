"""What the kit's tests of itself share: a kit class made for one broken runner, and the check
that the kit reports the expected property with the expected violation.

Each test file lists its broken runners as `Caught` rows and runs them with `check_caught`.
"""

from __future__ import annotations

import sys
import unittest
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import Phase, settings

from trio_runners.testing import ConformanceError, RunnerConformance

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

# Every broken runner is found within the ci profile's 200 examples (whatever the profile).
FAST = settings(max_examples=200, report_multiple_bugs=False)
# Shrinking takes long where an example does (a state machine's steps, a deadlock guard), and is
# not what these tests are about: they only need the kit to fail.
NO_SHRINK = settings(FAST, phases=[Phase.explicit, Phase.reuse, Phase.generate])
# Only the schedules a timed property plays first (its landmarks): nothing drawn, no database.
LANDMARKS_ONLY = settings(FAST, phases=[Phase.explicit], database=None)
#: Runs a test twice: with drawn schedules (``landmarks_only=False``) and with landmarks alone.
DRAWN_AND_LANDMARKS = pytest.mark.parametrize(
    "landmarks_only", [False, True], ids=["drawn", "landmarks"]
)


def kit(
    factory: Callable[[], Any],
    *,
    shrink: bool = True,
    landmarks_only: bool = False,
    **capabilities: Any,
) -> RunnerConformance:
    """A kit for the runners ``factory`` makes, declaring ``capabilities`` (``landmarks_only``:
    its timed properties play their landmarks and draw nothing)."""
    cls = type(
        "Check",
        (RunnerConformance,),
        {
            "runner_factory": staticmethod(factory),
            "hypothesis_settings": (
                LANDMARKS_ONLY if landmarks_only else FAST if shrink else NO_SHRINK
            ),
            **capabilities,
        },
    )
    return cls()  # type: ignore[no-any-return]


def played(test: Callable[[], None]) -> None:
    """``test()``; a failure if it was skipped: Hypothesis skips a test that has no example to
    run (e.g. no landmark, with only the explicit phase)."""
    try:
        test()
    except (pytest.skip.Exception, unittest.SkipTest) as skip:
        pytest.fail(f"the kit's test did not run: {skip}")


def assert_reported(
    test: Callable[[], None],
    prop: str | None,
    detail: str,
    kind: type[ConformanceError] = ConformanceError,
) -> None:
    """``test`` fails with a ``kind`` of `ConformanceError` for ``prop`` (None: any property)
    whose violations mention ``detail``."""
    with pytest.raises((AssertionError, BaseExceptionGroup)) as info:
        played(test)
    errors: list[BaseException] = [info.value]
    leaves = []
    while errors:
        error = errors.pop()
        if isinstance(error, BaseExceptionGroup):
            errors.extend(error.exceptions)
        else:
            leaves.append(error)
    found = [e for e in leaves if isinstance(e, kind) and prop in (None, e.prop)]
    assert found, f"expected the kit to report a {kind.__name__} of {prop!r}, got {leaves!r}"
    assert any(detail in v for e in found for v in e.violations), found[0].violations


@attrs.frozen
class Caught:
    """A broken runner, the kit test that must catch it, and what it must report."""

    runner: Callable[[], Any]
    test: str
    prop: str
    detail: str
    capabilities: dict[str, Any] = attrs.field(factory=dict)
    shrink: bool = True


def check_caught(bug: Caught, *, landmarks_only: bool = False) -> None:
    """The kit's ``bug.test`` reports ``bug.prop`` with a violation mentioning ``bug.detail``
    (``landmarks_only``: from the landmarks of a timed property alone)."""
    check = kit(bug.runner, shrink=bug.shrink, landmarks_only=landmarks_only, **bug.capabilities)
    assert_reported(getattr(check, bug.test), bug.prop, bug.detail)
