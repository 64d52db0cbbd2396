"""``python -m trio_runners``: the greetings names through a sequential and a concurrent runner."""

from __future__ import annotations

import functools
import random

import trio

from trio_runners import ConcurrentTaskRunner, SequentialTaskRunner
from trio_runners.task_runners import BaseTaskRunner

NAMES = ["arthur", "trillian", "ford", "marvin"]


async def say(greeting: str, name: str, jitter: float) -> None:
    await trio.sleep(jitter)  # stands in for I/O of varying length
    print(f"{greeting} {name}")


async def greetings(runner: BaseTaskRunner, names: list[str], jitter: bool) -> None:
    print(f"--- {type(runner).__name__}")
    async with runner.start():
        for name in names:
            for greeting in ("hello", "goodbye"):
                delay = random.uniform(0, 0.05) if jitter else 0
                await runner.submit(
                    f"{greeting}-{name}", functools.partial(say, greeting, name, delay)
                )


def main() -> None:
    trio.run(greetings, SequentialTaskRunner(), NAMES, False)
    trio.run(greetings, ConcurrentTaskRunner(), NAMES, True)


if __name__ == "__main__":
    main()
