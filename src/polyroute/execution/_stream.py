"""What ``completion(stream=True)`` returns: an iterator of chunks that knows its route."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Generic, TypeVar

from polyroute._closing import AsyncClosing, Closing
from polyroute._types import ChatCompletionChunk, Route

__all__ = ["AsyncStream", "Stream"]

_Chunks = TypeVar("_Chunks", bound=Iterator[ChatCompletionChunk] | AsyncIterator[ChatCompletionChunk])


class _Routed(Generic[_Chunks]):
    """The chunks of a streamed call, its request id, and its route once the final chunk is read."""

    __slots__ = ("_chunks", "request_id", "route")

    def __init__(self, chunks: _Chunks, request_id: str | None = None) -> None:
        self._chunks = chunks
        self.request_id = request_id
        self.route: Route | None = None


class Stream(_Routed[Iterator[ChatCompletionChunk]], Closing):
    """Chunks of a streamed call, in the OpenAI shape. The final chunk carries ``.route``,
    also available as :attr:`route` once the stream has ended. Use as a context manager (or call
    :meth:`close`) to release the connection if you stop early. ``request_id`` is the call's id
    (the ledger's and the route's), known from the start."""

    __slots__ = ()

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> ChatCompletionChunk:
        chunk = next(self._chunks)
        if chunk.route is not None:
            self.route = chunk.route
        return chunk

    def close(self) -> None:
        """Stop the stream and release its connection."""
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


class AsyncStream(_Routed[AsyncIterator[ChatCompletionChunk]], AsyncClosing):
    """The async twin of :class:`Stream`."""

    __slots__ = ()

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        chunk = await anext(self._chunks)
        if chunk.route is not None:
            self.route = chunk.route
        return chunk

    async def aclose(self) -> None:
        """Stop the stream and release its connection."""
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()
