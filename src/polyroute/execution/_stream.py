"""What ``completion(stream=True)`` returns: an iterator of chunks that knows its route."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import TracebackType

from polyroute._types import ChatCompletionChunk, Route

__all__ = ["AsyncStream", "Stream"]


class Stream:
    """Chunks of a streamed call, in the OpenAI shape. The final chunk carries ``.route``,
    also available as :attr:`route` once the stream has ended. Use as a context manager (or call
    :meth:`close`) to release the connection if you stop early. ``request_id`` is the call's id
    (the ledger's and the route's), known from the start."""

    __slots__ = ("_chunks", "request_id", "route")

    def __init__(self, chunks: Iterator[ChatCompletionChunk], request_id: str | None = None) -> None:
        self._chunks = chunks
        self.request_id = request_id
        self.route: Route | None = None

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

    def __enter__(self) -> Stream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncStream:
    """The async twin of :class:`Stream`."""

    __slots__ = ("_chunks", "request_id", "route")

    def __init__(self, chunks: AsyncIterator[ChatCompletionChunk], request_id: str | None = None) -> None:
        self._chunks = chunks
        self.request_id = request_id
        self.route: Route | None = None

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

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
