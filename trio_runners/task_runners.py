"""The runner classes (mirrors ``prefect.task_runners``)."""

from ._base import BaseTaskRunner as BaseTaskRunner
from ._base import RunnerStatistics as RunnerStatistics
from ._base import TaskConcurrencyType as TaskConcurrencyType
from ._concurrent import ConcurrentTaskRunner as ConcurrentTaskRunner
from ._sequential import SequentialTaskRunner as SequentialTaskRunner

__all__ = [
    "BaseTaskRunner",
    "ConcurrentTaskRunner",
    "RunnerStatistics",
    "SequentialTaskRunner",
    "TaskConcurrencyType",
]
