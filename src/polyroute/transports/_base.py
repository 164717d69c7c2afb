"""The transport interface: what the engine needs from HTTP, and nothing more."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from polyroute.catalog._catalog import Timeouts

__all__ = [
    "AsyncStreamResponse",
    "AsyncTransport",
    "HttpRequest",
    "HttpResponse",
    "StreamResponse",
    "Transport",
]


@dataclass(slots=True)
class HttpRequest:
    """A request ready to send. ``headers`` may hold the API key: never log this object."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes

    def __repr__(self) -> str:
        return f"HttpRequest({self.method} {self.url}, {len(self.body)} bytes)"


@dataclass(slots=True)
class HttpResponse:
    """A whole response. ``headers`` look up case-insensitively."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class StreamResponse(Protocol):
    """A response whose body is read as it arrives (sync)."""

    status: int
    headers: Mapping[str, str]

    def read(self) -> bytes:
        """The rest of the body (used for error responses)."""
        ...

    def iter_bytes(self) -> Iterator[bytes]:
        """Body bytes as they arrive."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


class AsyncStreamResponse(Protocol):
    """A response whose body is read as it arrives (async)."""

    status: int
    headers: Mapping[str, str]

    async def read(self) -> bytes:
        """The rest of the body (used for error responses)."""
        ...

    async def read_chunk(self) -> bytes:
        """The next body bytes as they arrive; ``b""`` at the end."""
        ...

    async def close(self) -> None:
        """Release the connection."""
        ...


class Transport(Protocol):
    """Sync HTTP for one provider. Errors are raised as :class:`polyroute.errors.TransportError`."""

    def send(self, request: HttpRequest, timeouts: Timeouts) -> HttpResponse:
        """Send and read the whole response."""
        ...

    def stream(self, request: HttpRequest, timeouts: Timeouts) -> StreamResponse:
        """Send and return once the status and headers have arrived."""
        ...

    def close(self) -> None:
        """Close pooled connections."""
        ...


class AsyncTransport(Protocol):
    """Async HTTP for one provider. Errors are raised as :class:`polyroute.errors.TransportError`."""

    async def send(self, request: HttpRequest, timeouts: Timeouts) -> HttpResponse:
        """Send and read the whole response."""
        ...

    async def stream(self, request: HttpRequest, timeouts: Timeouts) -> AsyncStreamResponse:
        """Send and return once the status and headers have arrived."""
        ...

    async def aclose(self) -> None:
        """Close pooled connections."""
        ...
