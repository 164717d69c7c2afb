"""Time and chance, injected.

Everything in polyroute that waits, measures or draws lots goes through a :class:`Clock` and a
:class:`random.Random`, so tests replace both and never sleep for real backoff.
"""

from __future__ import annotations

import asyncio
import time as _time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """What polyroute needs from time.

    ``monotonic()`` measures durations and deadlines; ``time()`` stamps records (Unix seconds);
    ``sleep``/``asleep`` wait (backoff between retries).
    """

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    async def asleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: ``time.perf_counter``, ``time.time``, ``time.sleep``, ``asyncio.sleep``."""

    __slots__ = ()

    # the builtins themselves, not methods calling them: read several times per request
    monotonic = staticmethod(_time.perf_counter)
    time = staticmethod(_time.time)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            _time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    def __repr__(self) -> str:
        return "SystemClock()"
