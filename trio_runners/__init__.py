"""Task runners built directly on Trio's nurseries, cancel scopes and memory channels."""

from ._annotations import allow_failure as allow_failure
from ._annotations import quote as quote
from ._annotations import unmapped as unmapped
from ._base import BaseTaskRunner as BaseTaskRunner
from ._base import TaskConcurrencyType as TaskConcurrencyType
from ._calls import AsCompleted as AsCompleted
from ._calls import RunnerStatistics as RunnerStatistics
from ._concurrent import ConcurrentTaskRunner as ConcurrentTaskRunner
from ._flow_errors import FlowRunFailed as FlowRunFailed
from ._flow_errors import FlowTimeout as FlowTimeout
from ._flow_errors import TaskTimeout as TaskTimeout
from ._flow_errors import UpstreamFailed as UpstreamFailed
from ._flows import Flow as Flow
from ._flows import flow as flow
from ._futures import TaskFuture as TaskFuture
from ._hooks import FlowRunInfo as FlowRunInfo
from ._hooks import TaskRunInfo as TaskRunInfo
from ._processes import ProcessPoolTaskRunner as ProcessPoolTaskRunner
from ._sequential import SequentialTaskRunner as SequentialTaskRunner
from ._states import Cancelled as Cancelled
from ._states import CancelledRun as CancelledRun
from ._states import Completed as Completed
from ._states import Crashed as Crashed
from ._states import Failed as Failed
from ._states import State as State
from ._states import StateType as StateType
from ._tasks import Task as Task
from ._tasks import task as task
from ._threads import ThreadPoolTaskRunner as ThreadPoolTaskRunner
from ._wait import ALL_COMPLETED as ALL_COMPLETED
from ._wait import FIRST_COMPLETED as FIRST_COMPLETED
from ._wait import FIRST_EXCEPTION as FIRST_EXCEPTION
from ._wait import as_completed as as_completed
from ._wait import wait as wait

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
