"""The opening of one async streamed attempt: everything up to its first content.

Until the first content chunk nothing has reached the caller, so an attempt can still fail over
(or lose a hedge race). :meth:`Opening.run` reads the stream until the relay commits (first
content, or a finished stream with none), under the first-token limit; the engine then relays
the rest from the same iterator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from polyroute._clock import Clock
from polyroute._request import ChatRequest
from polyroute._types import ChatCompletionChunk
from polyroute.backends._http import AsyncBackend
from polyroute.errors import FirstTokenTimeout, ReadTimeout
from polyroute.execution._execution import Send
from polyroute.execution._relay import Relay

__all__ = ["Opening", "first_token_limit"]


def first_token_limit(action: Send) -> float | None:
    """Seconds the attempt may take to its first content: the first-token timeout or what is left
    of the deadline, whichever is shorter."""
    limits = [t for t in (action.timeouts.first_token, action.remaining) if t is not None]
    return min(limits) if limits else None


class Opening:
    """One streamed attempt, opened and read up to its first content."""

    __slots__ = ("clock", "iterator", "pending", "relay", "send", "source", "started", "ttft")

    def __init__(self, send: Send, backend: AsyncBackend, clock: Clock, request: ChatRequest) -> None:
        self.send = send
        self.clock = clock
        self.started = clock.monotonic()
        self.relay = Relay(request.include_usage)
        self.source = backend.astream(send.candidate.endpoint, request, send.timeouts)
        self.iterator: AsyncIterator[ChatCompletionChunk] = aiter(self.source)
        #: chunks held back until the first content, released with it
        self.pending: list[ChatCompletionChunk] = []
        self.ttft: float | None = None

    async def run(self) -> None:
        """Read until the first content (or the end of a stream without any); raises
        :class:`~polyroute.errors.ProviderError` on failure, ``FirstTokenTimeout`` when late."""
        limit = first_token_limit(self.send)
        relay = self.relay
        try:
            async with asyncio.timeout(limit):
                while not relay.committed:
                    try:
                        chunk = await anext(self.iterator)
                    except StopAsyncIteration:
                        return
                    self.pending = relay.push(chunk)
        except TimeoutError as exc:
            first = self.send.timeouts.first_token
            if first is not None and (self.send.remaining is None or first <= self.send.remaining):
                raise FirstTokenTimeout(f"no content within {first:.3f}s") from exc
            raise ReadTimeout("the call's deadline passed during this attempt") from exc
        self.ttft = self.clock.monotonic() - self.started

    async def close(self) -> None:
        """Release the connection."""
        await self.source.aclose()  # type: ignore[attr-defined]
