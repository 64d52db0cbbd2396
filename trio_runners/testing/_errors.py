"""What the kit raises when a runner breaks a guarantee: `ConformanceError` and its kinds."""

from __future__ import annotations

__all__ = ["CancellationSwallowed", "ConformanceError", "RunnerRaised", "error_for"]


class ConformanceError(AssertionError):
    """A runner broke a guarantee. ``prop`` names the property, ``violations`` say how."""

    def __init__(self, prop: str, violations: list[str], schedule: object) -> None:
        self.prop = prop
        self.violations = violations
        self.schedule = schedule
        lines = "\n  ".join(violations)
        super().__init__(f"{prop} violated:\n  {lines}\nschedule: {schedule!r}")


class RunnerRaised(ConformanceError):
    """The runner raised where it must not: ``wait`` raised for a known key, or an exception
    of the runner's own left the example."""


class CancellationSwallowed(ConformanceError):
    """An enclosing cancellation did not propagate: ``submit`` returned normally after the
    call it ran was interrupted, or ``start()`` exited normally without ``cancelled_caught``."""


def error_for(prop: str, violations: list[str], schedule: object) -> ConformanceError:
    """The `ConformanceError` subclass for the first kind of violation found (Hypothesis
    shrinks each kind separately, so each is reported with its own minimal schedule)."""
    kinds: list[type[ConformanceError]] = [CancellationSwallowed, RunnerRaised]
    for kind in kinds:
        if any(_kind_of(v) is kind for v in violations):
            return kind(prop, violations, schedule)
    return ConformanceError(prop, violations, schedule)


def _kind_of(violation: str) -> type[ConformanceError]:
    if "was swallowed" in violation:
        return CancellationSwallowed
    if violation.startswith("runner:"):
        return RunnerRaised
    return ConformanceError
