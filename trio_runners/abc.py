"""Abstract base classes to subclass: runners and instruments (like `trio.abc`)."""

from ._base import BaseTaskRunner as BaseTaskRunner
from ._instruments import Instrument as Instrument

__all__ = ["BaseTaskRunner", "Instrument"]
