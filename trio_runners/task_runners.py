"""The runner classes (mirrors ``prefect.task_runners``)."""

from ._base import BaseTaskRunner as BaseTaskRunner
from ._base import TaskConcurrencyType as TaskConcurrencyType
from ._calls import RunnerStatistics as RunnerStatistics
from ._concurrent import ConcurrentTaskRunner as ConcurrentTaskRunner
from ._processes import ProcessPoolTaskRunner as ProcessPoolTaskRunner
from ._sequential import SequentialTaskRunner as SequentialTaskRunner
from ._threads import ThreadPoolTaskRunner as ThreadPoolTaskRunner

__all__ = [
    "BaseTaskRunner",
    "ConcurrentTaskRunner",
    "ProcessPoolTaskRunner",
    "RunnerStatistics",
    "SequentialTaskRunner",
    "TaskConcurrencyType",
    "ThreadPoolTaskRunner",
]
