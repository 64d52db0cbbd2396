"""Task runners built directly on Trio's nurseries, cancel scopes and memory channels."""

from ._base import AsCompleted as AsCompleted
from ._base import BaseTaskRunner as BaseTaskRunner
from ._base import RunnerStatistics as RunnerStatistics
from ._base import TaskConcurrencyType as TaskConcurrencyType
from ._concurrent import ConcurrentTaskRunner as ConcurrentTaskRunner
from ._processes import ProcessPoolTaskRunner as ProcessPoolTaskRunner
from ._sequential import SequentialTaskRunner as SequentialTaskRunner
from ._states import Cancelled as Cancelled
from ._states import CancelledRun as CancelledRun
from ._states import Completed as Completed
from ._states import Crashed as Crashed
from ._states import Failed as Failed
from ._states import State as State
from ._states import StateType as StateType
from ._threads import ThreadPoolTaskRunner as ThreadPoolTaskRunner

__version__ = "0.1.0"
