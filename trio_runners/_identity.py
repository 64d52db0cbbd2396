"""Runner identity: a runner is its options (``==``, hash, repr, pickling, ``duplicate()``).

A runner keeps its constructor options in an attrs-frozen object (``_config``), validated by
attrs when the runner is made (`optional_int` words the errors). ``==`` and hash compare the type
and the options; the runtime state (the run, its calls) and the instruments (observers, not
configuration) never take part. `duplicate` carries the instruments over to the copy; pickling
drops them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

__all__ = ["NoOptions", "RunnerIdentity", "optional_int"]

R = TypeVar("R", bound="RunnerIdentity")


def optional_int(name: str, minimum: int) -> Callable[[Any, Any, Any], None]:
    """An attrs validator for an optional integer option such as ``max_workers``.

    The validator raises:
      TypeError: the value is not an int (bools are refused) or None.
      ValueError: the value is below ``minimum``.
    """

    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int or None, not {type(value).__name__}")
        if value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, not {value}")

    return check


@attrs.frozen
class NoOptions:
    """The options of a runner that has none."""


_NO_OPTIONS = NoOptions()


class RunnerIdentity:
    """Mixin: ``==``, hash, repr, pickling and `duplicate` from the runner's options."""

    #: The runner's options: an attrs-frozen instance (set by the constructor).
    _config: Any = _NO_OPTIONS
    _instruments: Any  # set by the runner's constructor: carried by `duplicate` only

    def _options(self) -> dict[str, Any]:
        """The constructor options of this runner, by name."""
        return attrs.asdict(self._config, recurse=False)

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
        return hash((type(self), self._config))

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self._options().items())
        return f"{type(self).__name__}({options})"

    def __getstate__(self) -> dict[str, Any]:
        return self._options()  # instruments are observers, not configuration: not pickled

    def __setstate__(self, options: dict[str, Any]) -> None:
        type(self).__init__(self, **options)
