"""A backend sends one attempt to one provider and returns our types.

:class:`HttpBackend` composes a wire adapter (encoding, decoding) with a transport (bytes over
HTTP). Backends that are not HTTP (the LiteLLM bridge) implement the same two methods.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Protocol

from polyroute._request import ChatRequest
from polyroute._types import ChatCompletion, ChatCompletionChunk
from polyroute.adapters import WireAdapter
from polyroute.catalog._catalog import Endpoint, ProviderSpec, Timeouts
from polyroute.transports._base import AsyncTransport, Transport

if TYPE_CHECKING:
    from polyroute.adapters._embeddings import EmbeddingCodec
    from polyroute.embeddings._types import EmbeddingRequest, EmbeddingResponse

__all__ = ["CUSTOM_API", "AsyncBackend", "Backend", "HttpBackend", "ProviderBackend"]

#: ``api: custom``: the provider's backend is given to the router (``Router(backends={name: ...})``)
CUSTOM_API = "custom"


class Backend(Protocol):
    """Sync: one provider."""

    def complete(self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts) -> ChatCompletion:
        """One non-streamed attempt. Raises :class:`~polyroute.errors.ProviderError`."""
        ...

    def stream(self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts) -> Iterator[ChatCompletionChunk]:
        """One streamed attempt: chunks as they arrive; raises ``ProviderError`` on failure,
        ``IncompleteStream`` if the stream ends early. Closing the generator releases the connection."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


class AsyncBackend(Protocol):
    """Async: one provider."""

    async def acomplete(self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts) -> ChatCompletion:
        """One non-streamed attempt."""
        ...

    def astream(
        self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts
    ) -> AsyncIterator[ChatCompletionChunk]:
        """One streamed attempt."""
        ...

    async def aclose(self) -> None:
        """Release resources."""
        ...


class ProviderBackend(Backend, AsyncBackend, Protocol):
    """A backend for sync and async calls: what ``Router(backends={name: ...})`` takes (for
    example :class:`polyroute.testing.FunctionBackend`)."""


class HttpBackend:
    """A provider reached over HTTP: adapter plus transports (built on first use)."""

    def __init__(
        self,
        provider: ProviderSpec,
        adapter: WireAdapter,
        *,
        sync_transport: Callable[[ProviderSpec], Transport],
        async_transport: Callable[[ProviderSpec], AsyncTransport],
    ) -> None:
        self.provider = provider
        self.adapter = adapter
        self._make_sync = sync_transport
        self._make_async = async_transport
        self._sync: Transport | None = None
        self._async: AsyncTransport | None = None
        self._codec: EmbeddingCodec | None = None

    def _transport(self) -> Transport:
        if self._sync is None:
            self._sync = self._make_sync(self.provider)
        return self._sync

    def _atransport(self) -> AsyncTransport:
        if self._async is None:
            self._async = self._make_async(self.provider)
        return self._async

    def complete(self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts) -> ChatCompletion:
        adapter = self.adapter
        resp = self._transport().send(adapter.build_request(self.provider, endpoint, request), timeouts)
        if resp.status >= 300:
            raise adapter.parse_error(resp.status, resp.headers, resp.body)
        return adapter.parse_response(endpoint, resp.body)

    async def acomplete(self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts) -> ChatCompletion:
        adapter = self.adapter
        resp = await self._atransport().send(adapter.build_request(self.provider, endpoint, request), timeouts)
        if resp.status >= 300:
            raise adapter.parse_error(resp.status, resp.headers, resp.body)
        return adapter.parse_response(endpoint, resp.body)

    def stream(self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts) -> Iterator[ChatCompletionChunk]:
        adapter = self.adapter
        resp = self._transport().stream(adapter.build_request(self.provider, endpoint, request), timeouts)
        try:
            if resp.status >= 300:
                raise adapter.parse_error(resp.status, resp.headers, resp.read())
            decoder = adapter.stream_decoder(endpoint, request)
            for data in resp.iter_bytes():
                yield from decoder.feed(data)
                if decoder.done:
                    break
            yield from decoder.finish()
        finally:
            resp.close()

    async def astream(
        self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts
    ) -> AsyncIterator[ChatCompletionChunk]:
        adapter = self.adapter
        resp = await self._atransport().stream(adapter.build_request(self.provider, endpoint, request), timeouts)
        try:
            if resp.status >= 300:
                raise adapter.parse_error(resp.status, resp.headers, await resp.read())
            decoder = adapter.stream_decoder(endpoint, request)
            read = resp.read_chunk
            while not decoder.done:
                data = await read()
                if not data:
                    break
                for chunk in decoder.feed(data):
                    yield chunk
            for chunk in decoder.finish():
                yield chunk
        finally:
            await resp.close()

    # -- embeddings ----------------------------------------------------------------------------

    def _embedding_codec(self) -> EmbeddingCodec:
        codec = self._codec
        if codec is None:
            from polyroute.adapters._embeddings import embedding_codec_for

            codec = embedding_codec_for(self.provider.api)
            if codec is None:  # the configuration validator prevents it
                raise TypeError(f"api {self.provider.api!r} has no embeddings")
            self._codec = codec
        return codec

    def embed(self, endpoint: Endpoint, request: EmbeddingRequest, timeouts: Timeouts) -> EmbeddingResponse:
        """One embeddings attempt (one batch). Raises :class:`~polyroute.errors.ProviderError`."""
        codec = self._embedding_codec()
        resp = self._transport().send(codec.build_request(self.provider, endpoint, request), timeouts)
        if resp.status >= 300:
            raise codec.parse_error(resp.status, resp.headers, resp.body)
        return codec.parse_response(endpoint, request, resp.body)

    async def aembed(self, endpoint: Endpoint, request: EmbeddingRequest, timeouts: Timeouts) -> EmbeddingResponse:
        """One embeddings attempt (one batch), async."""
        codec = self._embedding_codec()
        resp = await self._atransport().send(codec.build_request(self.provider, endpoint, request), timeouts)
        if resp.status >= 300:
            raise codec.parse_error(resp.status, resp.headers, resp.body)
        return codec.parse_response(endpoint, request, resp.body)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
            self._async = None
