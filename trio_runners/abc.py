"""Abstract base classes to subclass: runners, calls that stay on the loop, and instruments
(like `trio.abc`)."""

from ._base import BaseTaskRunner as BaseTaskRunner
from ._instruments import Instrument as Instrument
from ._loop_call import LoopCall as LoopCall

__all__ = ["BaseTaskRunner", "Instrument", "LoopCall"]
