"""How the simulator's request handlers wait.

Without a clock, delays are real ``asyncio`` sleeps that end early (raising :class:`Closing`) when
the simulator stops, so a long ``latency`` or a :class:`~polyroute.testing.Hang` never holds up
shutdown. With a :class:`~polyroute.testing.FakeClock`, delays advance it and return at once; with
any other :class:`~polyroute._clock.Clock`, they go through its ``asleep`` (also cut short by a
stop).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from polyroute._clock import Clock
from polyroute.testing._clock import FakeClock

__all__ = ["Closing", "Pacer"]


class Closing(Exception):
    """The simulator is stopping: the handler should drop its connection and return."""


class Pacer:
    """Delays for one server. Create and use it inside the server's event loop."""

    __slots__ = ("_clock", "_closing")

    def __init__(self, clock: Clock | None) -> None:
        self._clock = clock
        self._closing = asyncio.Event()

    def close(self) -> None:
        """Wake every waiting handler with :class:`Closing`."""
        self._closing.set()

    async def pause(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time."""
        if seconds <= 0:
            return
        clock = self._clock
        if isinstance(clock, FakeClock):
            clock.advance(seconds)
            await asyncio.sleep(0)
        elif clock is not None:
            await self._unless_closing(clock.asleep(seconds))
        else:
            try:
                await asyncio.wait_for(self._closing.wait(), timeout=seconds)
            except TimeoutError:
                return
            raise Closing

    async def forever(self) -> None:
        """Wait until the simulator stops, then raise :class:`Closing`."""
        await self._closing.wait()
        raise Closing

    async def _unless_closing(self, wait: Coroutine[Any, Any, None]) -> None:
        """Run ``wait``, but raise :class:`Closing` as soon as the simulator stops."""
        waiting = asyncio.ensure_future(wait)
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait((waiting, closing), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiting, closing):
                task.cancel()
            await asyncio.gather(waiting, closing, return_exceptions=True)
        if waiting.cancelled():
            raise Closing
        waiting.result()  # re-raises the clock's own error, if any

    def time(self) -> float:
        """Unix seconds from the clock (the real time without one)."""
        return self._clock.time() if self._clock is not None else time.time()
