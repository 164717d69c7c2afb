"""The async stream's watchdog: one lazy timer for the idle limit and the deadline.

Limits of 0 s make the timer due at once, so each test runs in a few loop turns (no real waiting).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from polyroute.errors import ReadTimeout
from polyroute.execution._watchdog import Watchdog


async def _wait_under(watchdog: Watchdog, wait: Callable[[], Awaitable[str]]) -> str:
    """One wait for the provider, as the engine does it."""
    watchdog.waiting()
    try:
        return await wait()
    except asyncio.CancelledError:
        if watchdog.expired():
            raise watchdog.error() from None
        raise
    finally:
        watchdog.since = None
        if watchdog.fired:
            await watchdog.absorb()


async def _never() -> str:
    await asyncio.Event().wait()
    return "never"


def test_a_provider_silent_past_the_idle_limit_is_a_stall() -> None:
    async def main() -> None:
        watchdog = Watchdog(asyncio.get_running_loop(), idle=0.0, deadline=None)
        with pytest.raises(ReadTimeout, match="stalled"):
            await _wait_under(watchdog, _never)
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
        watchdog.close()

    asyncio.run(main())


def test_a_wait_at_the_deadline_says_the_deadline_passed() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        watchdog = Watchdog(loop, idle=None, deadline=loop.time())
        with pytest.raises(ReadTimeout, match="deadline"):
            await _wait_under(watchdog, _never)
        watchdog.close()

    asyncio.run(main())


def test_a_cancellation_from_outside_propagates() -> None:
    async def main() -> None:
        watchdog = Watchdog(asyncio.get_running_loop(), idle=3600.0, deadline=None)
        await _wait_under(watchdog, _never)

    async def outer() -> None:
        task = asyncio.create_task(main())
        for _ in range(3):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(outer())


def test_a_cancellation_swallowed_below_is_taken_back_and_the_chunk_kept() -> None:
    async def swallows() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return "late chunk"  # a source that turns a cancellation into data
        return "never"

    async def main() -> None:
        watchdog = Watchdog(asyncio.get_running_loop(), idle=0.0, deadline=None)
        assert await _wait_under(watchdog, swallows) == "late chunk"
        assert not watchdog.fired
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
        await asyncio.sleep(0)  # no cancellation is left to hit a later await
        watchdog.close()

    asyncio.run(main())


def test_the_callers_time_between_chunks_is_not_the_providers() -> None:
    async def source() -> AsyncIterator[str]:
        yield "a"
        yield "b"

    async def main() -> list[str]:
        watchdog = Watchdog(asyncio.get_running_loop(), idle=0.0, deadline=None)
        it = source()
        got = [await _wait_under(watchdog, it.__anext__)]
        for _ in range(3):  # the caller is busy while the (due) timer runs: nothing fires
            await asyncio.sleep(0)
        assert not watchdog.fired
        got.append(await _wait_under(watchdog, it.__anext__))
        watchdog.close()
        return got

    assert asyncio.run(main()) == ["a", "b"]
