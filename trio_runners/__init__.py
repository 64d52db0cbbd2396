"""Task runners built directly on Trio's nurseries, cancel scopes and memory channels."""

from ._base import BaseTaskRunner as BaseTaskRunner
from ._base import TaskConcurrencyType as TaskConcurrencyType
from ._calls import AsCompleted as AsCompleted
from ._calls import RunnerStatistics as RunnerStatistics
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
from .flows import ALL_COMPLETED as ALL_COMPLETED
from .flows import FIRST_COMPLETED as FIRST_COMPLETED
from .flows import FIRST_EXCEPTION as FIRST_EXCEPTION
from .flows import Flow as Flow
from .flows import FlowRunFailed as FlowRunFailed
from .flows import FlowRunInfo as FlowRunInfo
from .flows import FlowTimeout as FlowTimeout
from .flows import Task as Task
from .flows import TaskFuture as TaskFuture
from .flows import TaskRunInfo as TaskRunInfo
from .flows import TaskTimeout as TaskTimeout
from .flows import UpstreamFailed as UpstreamFailed
from .flows import allow_failure as allow_failure
from .flows import as_completed as as_completed
from .flows import flow as flow
from .flows import quote as quote
from .flows import task as task
from .flows import unmapped as unmapped
from .flows import wait as wait

__version__ = "0.1.0"

__all__ = [
    "ALL_COMPLETED",
    "allow_failure",
    "as_completed",
    "AsCompleted",
    "BaseTaskRunner",
    "Cancelled",
    "CancelledRun",
    "Completed",
    "ConcurrentTaskRunner",
    "Crashed",
    "Failed",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "Flow",
    "flow",
    "FlowRunFailed",
    "FlowRunInfo",
    "FlowTimeout",
    "ProcessPoolTaskRunner",
    "quote",
    "RunnerStatistics",
    "SequentialTaskRunner",
    "State",
    "StateType",
    "task",
    "Task",
    "TaskConcurrencyType",
    "TaskFuture",
    "TaskRunInfo",
    "TaskTimeout",
    "ThreadPoolTaskRunner",
    "unmapped",
    "UpstreamFailed",
    "wait",
]
