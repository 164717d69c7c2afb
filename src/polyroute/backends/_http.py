"""A backend sends one attempt to one provider and returns our types.

:class:`HttpBackend` composes a wire adapter (encoding, decoding) with a transport (bytes over
HTTP). Backends that are not HTTP (the LiteLLM bridge) implement the same two methods.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from polyroute._request import ChatRequest
from polyroute._types import ChatCompletion, ChatCompletionChunk
from polyroute.adapters import WireAdapter
from polyroute.adapters._sanity import DECODE_ERRORS, check_chunk, check_completion, decoding, wrong_shape
from polyroute.catalog._catalog import Endpoint, ProviderSpec, Timeouts
from polyroute.errors import BadRequest, InvalidRequest, MalformedResponse, ProviderError, ResponseTooLarge
from polyroute.transports._base import AsyncTransport, HttpRequest, Transport

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
        self._max_body = provider.limits.max_body_bytes
        self._max_line = provider.limits.max_line_bytes
        #: told the headers of every successful response (the router learns rate limits from them)
        self.on_headers: Callable[[Endpoint, Mapping[str, str]], None] | None = None

    def _transport(self) -> Transport:
        if self._sync is None:
            self._sync = self._make_sync(self.provider)
        return self._sync

    def _transport_for(self, timeouts: Timeouts) -> tuple[Transport, Timeouts]:
        """The sync transport, and ``timeouts`` with the time spent building it on first use
        (importing httpx, making a client) taken off the call's deadline: the transport holds the
        deadline from when it sends, so that time would otherwise run past it."""
        transport = self._sync
        if transport is not None:
            return transport, timeouts
        started = time.monotonic()
        transport = self._transport()
        if timeouts.deadline is not None:
            timeouts = replace(timeouts, deadline=max(timeouts.deadline - (time.monotonic() - started), 0.0))
        return transport, timeouts

    def _atransport(self) -> AsyncTransport:
        if self._async is None:
            self._async = self._make_async(self.provider)
        return self._async

    def _build(self, endpoint: Endpoint, request: ChatRequest) -> HttpRequest:
        """The HTTP request. Encoding happens before anything is sent, so an encoder's failure is a
        :class:`BadRequest` for this endpoint (not billed, its reservation released; the call may
        fail over to an endpoint whose wire API can carry the request), never a stray exception."""
        try:
            return self.adapter.build_request(self.provider, endpoint, request)
        except ProviderError:
            raise
        except (InvalidRequest, *DECODE_ERRORS) as exc:
            raise BadRequest(
                f"the request could not be encoded for {endpoint.key}: {exc}", code="unencodable_request"
            ) from exc

    def _parse(self, endpoint: Endpoint, status: int, headers: Mapping[str, str], body: bytes) -> ChatCompletion:
        adapter = self.adapter
        if len(body) > self._max_body:
            raise _too_large(f"the response body is larger than {self._max_body} bytes")
        try:
            if status >= 300:
                raise adapter.parse_error(status, headers, body)
            if self.on_headers is not None:
                self.on_headers(endpoint, headers)
            resp = adapter.parse_response(endpoint, body)
        except DECODE_ERRORS as exc:
            raise wrong_shape(exc) from exc
        return check_completion(resp)

    def complete(self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts) -> ChatCompletion:
        transport, timeouts = self._transport_for(timeouts)
        resp = transport.send(self._build(endpoint, request), timeouts)
        return self._parse(endpoint, resp.status, resp.headers, resp.body)

    async def acomplete(self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts) -> ChatCompletion:
        resp = await self._atransport().send(self._build(endpoint, request), timeouts)
        return self._parse(endpoint, resp.status, resp.headers, resp.body)

    def stream(self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts) -> Iterator[ChatCompletionChunk]:
        adapter = self.adapter
        transport, timeouts = self._transport_for(timeouts)
        resp = transport.stream(self._build(endpoint, request), timeouts)
        try:
            if resp.status >= 300:
                with decoding("error body"):
                    raise adapter.parse_error(resp.status, resp.headers, resp.read())
            if self.on_headers is not None:
                self.on_headers(endpoint, resp.headers)
            decoder = adapter.stream_decoder(endpoint, request)
            reading = _Reading(self._max_body, self._max_line)
            for data in resp.iter_bytes():
                reading.count(data)
                try:
                    chunks = decoder.feed(data)
                except DECODE_ERRORS as exc:
                    raise wrong_shape(exc, "stream") from exc
                yield from reading.checked(chunks)
                if decoder.done:
                    break
            with decoding("stream"):
                chunks = decoder.finish()
            yield from reading.checked(chunks)
            reading.ended()
        finally:
            resp.close()

    async def astream(
        self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts
    ) -> AsyncIterator[ChatCompletionChunk]:
        adapter = self.adapter
        resp = await self._atransport().stream(self._build(endpoint, request), timeouts)
        try:
            if resp.status >= 300:
                body = await resp.read()
                with decoding("error body"):
                    raise adapter.parse_error(resp.status, resp.headers, body)
            if self.on_headers is not None:
                self.on_headers(endpoint, resp.headers)
            decoder = adapter.stream_decoder(endpoint, request)
            reading = _Reading(self._max_body, self._max_line)
            read = resp.read_chunk
            while not decoder.done:
                data = await read()
                if not data:
                    break
                reading.count(data)
                try:
                    chunks = decoder.feed(data)
                except DECODE_ERRORS as exc:
                    raise wrong_shape(exc, "stream") from exc
                for chunk in reading.checked(chunks):
                    yield chunk
            with decoding("stream"):
                chunks = decoder.finish()
            for chunk in reading.checked(chunks):
                yield chunk
            reading.ended()
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
        transport, timeouts = self._transport_for(timeouts)
        resp = transport.send(codec.build_request(self.provider, endpoint, request), timeouts)
        if resp.status >= 300:
            raise codec.parse_error(resp.status, resp.headers, resp.body)
        with decoding("embeddings response"):
            return codec.parse_response(endpoint, request, resp.body)

    async def aembed(self, endpoint: Endpoint, request: EmbeddingRequest, timeouts: Timeouts) -> EmbeddingResponse:
        """One embeddings attempt (one batch), async."""
        codec = self._embedding_codec()
        resp = await self._atransport().send(codec.build_request(self.provider, endpoint, request), timeouts)
        if resp.status >= 300:
            raise codec.parse_error(resp.status, resp.headers, resp.body)
        with decoding("embeddings response"):
            return codec.parse_response(endpoint, request, resp.body)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
            self._async = None


def _too_large(message: str) -> ResponseTooLarge:
    return ResponseTooLarge(message, status=200)


class _Reading:
    """One streamed body as it is read: its size, the line in progress, and whether any chunk had
    choices. Past ``router.limits`` the attempt ends with :class:`ResponseTooLarge` (the parser
    never holds more than one line); a stream that ends without a single choice is malformed, like
    a whole response without choices."""

    __slots__ = ("_line", "_max_body", "_max_line", "_size", "choices")

    def __init__(self, max_body: int, max_line: int) -> None:
        self._max_body = max_body
        self._max_line = max_line
        self._size = 0
        self._line = 0
        self.choices = False

    def count(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._max_body:
            raise _too_large(f"the stream is larger than {self._max_body} bytes")
        last = data.rfind(b"\n")
        if last < 0:
            self._line += len(data)
        else:
            first = data.find(b"\n")
            if self._line + first > self._max_line:
                self._line += first
            else:
                self._line = len(data) - last - 1
        if self._line > self._max_line:
            raise _too_large(f"a line of the stream is longer than {self._max_line} bytes")

    def checked(self, chunks: list[ChatCompletionChunk]) -> list[ChatCompletionChunk]:
        for chunk in chunks:
            check_chunk(chunk)
            if chunk.choices:
                self.choices = True
        return chunks

    def ended(self) -> None:
        if not self.choices:
            raise MalformedResponse("the stream ended without any choices", status=200)
