"""The idle limit and the deadline of a committed async stream, at almost no cost per chunk.

``asyncio.timeout`` re-armed around every chunk cancels one timer and schedules another each
time (two heap operations and two objects per chunk, more than the rest of the relay). The
watchdog instead keeps one timer armed at the earliest moment the stream could be late; per chunk
it only notes when the wait for the provider began (``since``) and when it ended. When the timer
fires it looks: if the provider really has been silent for ``idle`` seconds, or the deadline has
passed while waiting for it, it cancels the waiting task (as ``asyncio.timeout`` does, ``uncancel``
included); otherwise it re-arms for the new earliest moment. The caller's own time between chunks
is never the provider's: the timer ignores it.
"""

from __future__ import annotations

import asyncio

from polyroute.errors import ReadTimeout

__all__ = ["Watchdog", "stalled"]


class Watchdog:
    """Cancels ``task`` when a wait for the provider outlasts ``idle`` or reaches ``deadline``
    (loop times; either may be ``None``, not both). Call :meth:`waiting` before each wait; on a
    ``CancelledError`` from it ask :meth:`expired`; however the wait ended, set ``since = None``
    and, while :attr:`fired` is set (the timer fired as the wait ended), ``await``
    :meth:`absorb`."""

    __slots__ = ("_cancelling", "_deadline", "_handle", "_idle", "_loop", "_task", "fired", "since")

    def __init__(self, loop: asyncio.AbstractEventLoop, idle: float | None, deadline: float | None) -> None:
        task = asyncio.current_task(loop)
        assert task is not None, "a stream is iterated inside a task"
        self._loop = loop
        self._task = task
        self._cancelling = task.cancelling()
        self._idle = idle
        self._deadline = deadline
        self._handle: asyncio.TimerHandle | None = None
        #: the timer cancelled the task; the cancellation is not yet absorbed
        self.fired = False
        #: loop time at which the current wait for the provider began; ``None`` between waits
        self.since: float | None = None

    def waiting(self) -> None:
        """A wait for the provider begins now."""
        self.since = self._loop.time()
        if self._handle is None:
            self._arm(self.since)

    def _arm(self, since: float) -> None:
        at = self._deadline
        if self._idle is not None and (at is None or since + self._idle < at):
            at = since + self._idle
        assert at is not None
        self._handle = self._loop.call_at(at, self._check)

    def _check(self) -> None:
        self._handle = None
        since = self.since
        if since is None:  # the caller holds a chunk: the next wait re-arms
            return
        now = self._loop.time()
        late = self._deadline is not None and now >= self._deadline
        if late or (self._idle is not None and now - since >= self._idle):
            self.fired = True
            self._task.cancel()
            return
        self._arm(since)

    def expired(self) -> bool:
        """After a ``CancelledError``: whether it was this watchdog's (then it is absorbed), not
        a cancellation of the task from outside (then it must propagate)."""
        if not self.fired:
            return False
        self.fired = False
        return self._task.uncancel() <= self._cancelling

    async def absorb(self) -> None:
        """Take back a cancellation that fired as the wait ended (it would otherwise hit the
        next ``await``); a cancellation from outside still propagates."""
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            if not self.expired():
                raise
            return
        if self.fired:  # the cancellation was swallowed below us: only the count is left
            self.fired = False
            self._task.uncancel()

    def close(self) -> None:
        """Disarm (the stream ended, however it ended)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def error(self) -> ReadTimeout:
        """The error for an expiry: the deadline's, or the idle limit's."""
        if self._deadline is not None and self._loop.time() >= self._deadline:
            return ReadTimeout("the call's deadline passed mid-stream")
        assert self._idle is not None
        return stalled(self._idle)


def stalled(idle: float) -> ReadTimeout:
    """The error for a stream that sent nothing for ``idle`` seconds."""
    return ReadTimeout(f"the stream stalled: no chunk for {idle:.3f}s")
