"""Runner identity: a runner is its constructor options (``==``, hash, repr, pickling, copies).

A runner's options say what it is; its runtime state (the run, its calls) and its instruments
(observers, not configuration) never take part in ``==``, hash or pickling. `duplicate` carries
the instruments over to the copy; pickling drops them.
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["RunnerIdentity"]

R = TypeVar("R", bound="RunnerIdentity")


class RunnerIdentity:
    """Mixin: identity from `_options`, the constructor options of the runner."""

    _instruments: Any  # set by the runner's constructor: carried by `duplicate` only

    def _options(self) -> dict[str, Any]:
        """The constructor options of this runner (override when there are any)."""
        return {}

    def duplicate(self: R) -> R:
        """A new, unstarted runner with the same options and the same instruments. Not a
        checkpoint."""
        cls: Any = type(self)
        copy: R = cls(**self._options(), instruments=self._instruments.instruments)
        return copy

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self) or not isinstance(other, RunnerIdentity):
            return NotImplemented
        return self._options() == other._options()

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self._options().items()))))

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self._options().items())
        return f"{type(self).__name__}({options})"

    def __getstate__(self) -> dict[str, Any]:
        return self._options()  # instruments are observers, not configuration: not pickled

    def __setstate__(self, options: dict[str, Any]) -> None:
        type(self).__init__(self, **options)
