"""States: the one terminal State every finished call has."""

from ._states import Cancelled as Cancelled
from ._states import CancelledRun as CancelledRun
from ._states import Completed as Completed
from ._states import Crashed as Crashed
from ._states import Failed as Failed
from ._states import State as State
from ._states import StateType as StateType

__all__ = ["Cancelled", "CancelledRun", "Completed", "Crashed", "Failed", "State", "StateType"]
