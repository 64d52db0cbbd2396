"""Embedding: drive any runner from plain threads or from asyncio (see ``docs/embedding.md``)."""

from ._embed import AsyncBackgroundRunner as AsyncBackgroundRunner
from ._embed import BackgroundFuture as BackgroundFuture
from ._embed import BackgroundRunner as BackgroundRunner
from ._embed import run_in_background as run_in_background
from ._embed import run_in_background_async as run_in_background_async

__all__ = [
    "AsyncBackgroundRunner",
    "BackgroundFuture",
    "BackgroundRunner",
    "run_in_background",
    "run_in_background_async",
]
