"""The wire-API adapter interface: encode a request, decode a response, a stream or an error.

An adapter knows one wire API (OpenAI-compatible, Anthropic, Gemini...) and nothing about
routing. It is pure: bytes in, our types or our errors out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from polyroute._request import ChatRequest
from polyroute._types import ChatCompletion, ChatCompletionChunk
from polyroute.catalog._catalog import Endpoint, ProviderSpec
from polyroute.errors import ProviderError
from polyroute.transports._base import HttpRequest

__all__ = ["StreamDecoder", "WireAdapter"]


class StreamDecoder(Protocol):
    """Turns a stream's bytes into chunks; one per stream."""

    def feed(self, data: bytes) -> list[ChatCompletionChunk]:
        """Chunks completed by ``data``. Raises :class:`ProviderError` for an error inside the stream."""
        ...

    def finish(self) -> list[ChatCompletionChunk]:
        """The stream ended: remaining chunks. Raises ``IncompleteStream`` if it ended early."""
        ...

    @property
    def done(self) -> bool:
        """Whether the stream signalled its end (``[DONE]`` or its wire API's equivalent)."""
        ...


class WireAdapter(Protocol):
    """One wire API."""

    def build_request(self, provider: ProviderSpec, endpoint: Endpoint, request: ChatRequest) -> HttpRequest:
        """The HTTP request for ``request`` at ``endpoint``."""
        ...

    def parse_response(self, endpoint: Endpoint, body: bytes) -> ChatCompletion:
        """A 2xx body as a :class:`ChatCompletion`; ``MalformedResponse`` if it is not one."""
        ...

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        """The error for a non-2xx response, classified by status, headers and body."""
        ...

    def stream_decoder(self, endpoint: Endpoint, request: ChatRequest) -> StreamDecoder:
        """A decoder for one streamed response."""
        ...
