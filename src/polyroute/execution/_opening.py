"""The opening of one async streamed attempt: everything up to its first content.

Until the first content chunk nothing has reached the caller, so an attempt can still fail over
(or lose a hedge race). :meth:`Opening.run` reads the stream until the relay commits (first
content, or a finished stream with none), under the attempt's first-token limit
(:func:`~polyroute.execution._policy.first_token_limit`, decided once for both engines); the
engine then relays the rest from the same iterator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from polyroute._clock import Clock
from polyroute._request import ChatRequest
from polyroute._types import ChatCompletionChunk
from polyroute.backends._http import AsyncBackend
from polyroute.errors import FirstTokenTimeout, ReadTimeout, Timeout
from polyroute.execution._execution import Send
from polyroute.execution._policy import FirstTokenLimit
from polyroute.execution._relay import Relay, Resume

__all__ = ["Opening", "late"]


def late(limit: FirstTokenLimit, detail: str = "") -> Timeout:
    """The error for an attempt whose first content did not come within ``limit``."""
    if limit.deadline:
        return ReadTimeout("the call's deadline passed during this attempt" + detail)
    return FirstTokenTimeout(f"no content within {limit.seconds:.3f}s" + detail)


class Opening:
    """One streamed attempt, opened and read up to its first content."""

    __slots__ = ("clock", "iterator", "pending", "relay", "send", "source", "started", "ttft")

    def __init__(
        self, send: Send, backend: AsyncBackend, clock: Clock, request: ChatRequest, resume: Resume | None = None
    ) -> None:
        self.send = send
        self.clock = clock
        self.started = clock.monotonic()
        request = send.request or request
        self.relay = Relay(request.include_usage, resume)
        self.source = backend.astream(send.candidate.endpoint, request, send.timeouts)
        self.iterator: AsyncIterator[ChatCompletionChunk] = aiter(self.source)
        #: chunks held back until the first content, released with it
        self.pending: list[ChatCompletionChunk] = []
        self.ttft: float | None = None

    async def run(self) -> None:
        """Read until the first content (or the end of a stream without any); raises
        :class:`~polyroute.errors.ProviderError` on failure, ``FirstTokenTimeout`` when late."""
        limit = self.send.first_token
        relay = self.relay
        clock = self.clock
        started = self.started
        try:
            async with asyncio.timeout(limit.seconds if limit is not None else None):
                while not relay.committed:
                    try:
                        chunk = await anext(self.iterator)
                    except StopAsyncIteration:
                        return
                    if limit is not None and clock.monotonic() - started > limit.seconds:
                        raise late(limit)  # simulated (or trickled) time ran past the limit
                    self.pending = relay.push(chunk)
        except TimeoutError as exc:
            assert limit is not None
            raise late(limit) from exc
        self.ttft = clock.monotonic() - started

    async def close(self) -> None:
        """Release the connection."""
        await self.source.aclose()  # type: ignore[attr-defined]
