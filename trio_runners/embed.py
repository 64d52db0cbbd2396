"""Embedding: drive any runner from plain threads or from asyncio (see ``docs/embedding.md``)."""

from ._embed_asyncio import AsyncBackgroundRunner as AsyncBackgroundRunner
from ._embed_asyncio import run_in_background_async as run_in_background_async
from ._embed_sync import BackgroundFuture as BackgroundFuture
from ._embed_sync import BackgroundRunner as BackgroundRunner
from ._embed_sync import run_in_background as run_in_background

__all__ = [
    "AsyncBackgroundRunner",
    "BackgroundFuture",
    "BackgroundRunner",
    "run_in_background",
    "run_in_background_async",
]
