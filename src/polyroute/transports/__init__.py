"""HTTP transports: bytes out, status, headers and bytes (or a byte stream) back.

One small interface (:class:`Transport` and :class:`AsyncTransport`) with two implementations:
:class:`~polyroute.transports.HttpxTransport` (sync) and
:class:`~polyroute.transports.AiohttpTransport` (async, the fast path). The libraries are imported
only when a transport is first built, so ``import polyroute`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from polyroute.transports._base import (
    AsyncStreamResponse,
    AsyncTransport,
    HttpRequest,
    HttpResponse,
    StreamResponse,
    Transport,
)

if TYPE_CHECKING:
    from polyroute.transports._aiohttp import AiohttpTransport
    from polyroute.transports._httpx import HttpxTransport

__all__ = [
    "AiohttpTransport",
    "AsyncStreamResponse",
    "AsyncTransport",
    "HttpRequest",
    "HttpResponse",
    "HttpxTransport",
    "StreamResponse",
    "Transport",
]


def __getattr__(name: str) -> Any:
    if name == "AiohttpTransport":
        from polyroute.transports._aiohttp import AiohttpTransport

        return AiohttpTransport
    if name == "HttpxTransport":
        from polyroute.transports._httpx import HttpxTransport

        return HttpxTransport
    raise AttributeError(name)
