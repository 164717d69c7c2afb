"""A clock that only moves when told to.

:class:`FakeClock` satisfies :class:`polyroute._clock.Clock`: hand the same instance to the router
and to :class:`~polyroute.testing.ProviderSimulator` and every wait on either side (the router's
backoff, the simulator's latency and chunk delays) moves time forward instantly instead of sleeping.
"""

from __future__ import annotations

import asyncio
import threading

__all__ = ["FakeClock"]


class FakeClock:
    """Deterministic, thread-safe time for tests.

    ``time()`` is ``start + elapsed`` (Unix seconds); ``monotonic()`` is ``elapsed`` and starts at
    ``0.0``. Time moves only through :meth:`advance`, :meth:`sleep` and :meth:`asleep`.

    ``sleep``/``asleep`` advance the clock and append the requested duration to :attr:`sleeps`, so
    a test can assert a backoff schedule (``assert clock.sleeps == [0.5, 1.0]``). :meth:`advance`
    moves time without recording a sleep; the simulator uses it for its own delays, so
    :attr:`sleeps` holds only what the code under test asked for.
    """

    __slots__ = ("_elapsed", "_lock", "_start", "sleeps")

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._start = float(start)
        self._elapsed = 0.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []
        """Every duration passed to :meth:`sleep` or :meth:`asleep`, in call order."""

    @property
    def elapsed(self) -> float:
        """Seconds the clock has moved since it was created."""
        with self._lock:
            return self._elapsed

    def monotonic(self) -> float:
        """Seconds elapsed since creation (starts at ``0.0``)."""
        with self._lock:
            return self._elapsed

    def time(self) -> float:
        """Fake Unix time: ``start + elapsed``."""
        with self._lock:
            return self._start + self._elapsed

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (must not be negative) without recording a sleep."""
        if seconds < 0:
            raise ValueError(f"cannot move a FakeClock backwards (advance({seconds!r}))")
        with self._lock:
            self._elapsed += seconds

    def sleep(self, seconds: float) -> None:
        """Record ``seconds`` in :attr:`sleeps` and advance by it (negative counts as 0); no real wait."""
        with self._lock:
            self.sleeps.append(seconds)
            self._elapsed += max(seconds, 0.0)

    async def asleep(self, seconds: float) -> None:
        """Like :meth:`sleep`, then yield to the event loop once so other tasks run."""
        self.sleep(seconds)
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"FakeClock(time={self.time()!r}, elapsed={self.elapsed!r})"
