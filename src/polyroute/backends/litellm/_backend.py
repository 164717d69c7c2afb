"""The LiteLLM bridge: ``api: litellm`` providers reach the long tail (Bedrock, Vertex, Azure, Cohere...).

A provider with ``api: litellm`` is served by :class:`LiteLLMBackend` instead of an HTTP adapter:
each attempt is one ``litellm.completion`` / ``litellm.acompletion`` call with the endpoint's
``model`` as LiteLLM's model string (``bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0``),
the provider's ``base_url`` as ``api_base`` and its key as ``api_key``, its ``options`` as
LiteLLM keyword arguments (``aws_region_name``, ``vertex_project``, ``api_version``...), and the
request's parameters. Retries are ours, so LiteLLM's own are turned off.

LiteLLM is imported on the first call, never by ``import polyroute`` (it takes seconds and
hundreds of MB). On that import ``LITELLM_LOCAL_MODEL_COST_MAP`` defaults to ``True`` (no network
fetch of its price map) and LiteLLM's debug banners are silenced. Its exceptions are mapped onto
ours by type (:mod:`._litellm_errors`), its responses converted by :mod:`._litellm_convert`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

from polyroute._request import ChatRequest
from polyroute._types import ChatCompletion, ChatCompletionChunk
from polyroute.adapters._sanity import decoding
from polyroute.backends.litellm._convert import chunk_from_litellm, completion_from_litellm
from polyroute.backends.litellm._errors import map_litellm_error
from polyroute.catalog._catalog import Endpoint, ProviderSpec, Timeouts
from polyroute.errors import IncompleteStream, ProviderError

if TYPE_CHECKING:
    from polyroute.embeddings._types import EmbeddingRequest, EmbeddingResponse

__all__ = ["LITELLM_API", "LiteLLMBackend", "import_litellm"]

#: the ``api`` of providers served through LiteLLM
LITELLM_API = "litellm"


def import_litellm() -> ModuleType:
    """Import LiteLLM, offline-safe and quiet; ``ImportError`` naming the extra if it is missing."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError as exc:
        raise ImportError(
            "api: litellm providers need LiteLLM: pip install 'polyroute[litellm]' (or pip install litellm)"
        ) from exc
    litellm.suppress_debug_info = True
    return litellm


class LiteLLMBackend:
    """One ``api: litellm`` provider. Satisfies both the sync and async backend interfaces."""

    def __init__(self, provider: ProviderSpec, *, loader: Callable[[], ModuleType] = import_litellm) -> None:
        self.provider = provider
        self._loader = loader
        self._module: ModuleType | None = None

    @property
    def _litellm(self) -> ModuleType:
        if self._module is None:
            self._module = self._loader()
        return self._module

    def _base_kwargs(self, endpoint: Endpoint, params: Mapping[str, Any], timeouts: Timeouts) -> dict[str, Any]:
        """What every LiteLLM call of this provider takes: its options, the request's parameters,
        the endpoint's extra body, the model, the read timeout, no LiteLLM retries, and where and
        how to connect."""
        provider = self.provider
        kwargs: dict[str, Any] = dict(provider.options)
        kwargs.update(params)
        kwargs.update(endpoint.extra_body)
        kwargs.update(model=endpoint.model, timeout=timeouts.read, num_retries=0)
        if provider.base_url:
            kwargs["api_base"] = provider.base_url
        if provider.api_key is not None:
            kwargs["api_key"] = provider.api_key.reveal()
        if provider.headers:
            kwargs["extra_headers"] = dict(provider.headers)
        return kwargs

    def _kwargs(self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts) -> dict[str, Any]:
        kwargs = self._base_kwargs(endpoint, request.params, timeouts)
        kwargs.update(messages=list(request.messages), max_retries=0)
        if request.stream:
            kwargs["stream"] = True
            kwargs["stream_options"] = {**(kwargs.get("stream_options") or {}), "include_usage": True}
        return kwargs

    @contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        """LiteLLM's exceptions raised in the block become ours, by type; any other passes through."""
        try:
            yield
        except ProviderError:
            raise
        except Exception as exc:
            mapped = map_litellm_error(exc, self._litellm.exceptions)
            if mapped is not None:
                raise mapped from exc
            raise

    def complete(self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts) -> ChatCompletion:
        litellm = self._litellm
        with self._mapped_errors():
            response = litellm.completion(**self._kwargs(endpoint, request, timeouts))
        return completion_from_litellm(response)

    async def acomplete(self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts) -> ChatCompletion:
        litellm = self._litellm
        with self._mapped_errors():
            response = await litellm.acompletion(**self._kwargs(endpoint, request, timeouts))
        return completion_from_litellm(response)

    def stream(self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts) -> Iterator[ChatCompletionChunk]:
        litellm = self._litellm
        ending = _Ending()
        source: Any = None
        try:
            with self._mapped_errors():
                source = litellm.completion(**self._kwargs(endpoint, request, timeouts))
                for raw in source:
                    yield ending.chunk(raw)
        finally:
            close = getattr(source, "close", None)
            if callable(close):
                close()
        ending.check()

    async def astream(
        self, endpoint: Endpoint, request: ChatRequest, timeouts: Timeouts
    ) -> AsyncIterator[ChatCompletionChunk]:
        litellm = self._litellm
        ending = _Ending()
        source: Any = None
        try:
            with self._mapped_errors():
                source = await litellm.acompletion(**self._kwargs(endpoint, request, timeouts))
                async for raw in source:
                    yield ending.chunk(raw)
        finally:
            aclose = getattr(source, "aclose", None)
            if callable(aclose):
                await aclose()
        ending.check()

    def _embed_kwargs(self, endpoint: Endpoint, request: EmbeddingRequest, timeouts: Timeouts) -> dict[str, Any]:
        kwargs = self._base_kwargs(endpoint, request.params, timeouts)
        kwargs["input"] = list(request.input)
        if request.dimensions is not None:
            kwargs["dimensions"] = request.dimensions
        return kwargs

    def embed(self, endpoint: Endpoint, request: EmbeddingRequest, timeouts: Timeouts) -> EmbeddingResponse:
        """One ``litellm.embedding`` call (one batch)."""
        from polyroute.backends.litellm._convert import embedding_from_litellm

        litellm = self._litellm
        with self._mapped_errors():
            response = litellm.embedding(**self._embed_kwargs(endpoint, request, timeouts))
        with decoding("embeddings response"):
            return embedding_from_litellm(response, endpoint.model)

    async def aembed(self, endpoint: Endpoint, request: EmbeddingRequest, timeouts: Timeouts) -> EmbeddingResponse:
        """One ``litellm.aembedding`` call (one batch)."""
        from polyroute.backends.litellm._convert import embedding_from_litellm

        litellm = self._litellm
        with self._mapped_errors():
            response = await litellm.aembedding(**self._embed_kwargs(endpoint, request, timeouts))
        with decoding("embeddings response"):
            return embedding_from_litellm(response, endpoint.model)

    def close(self) -> None:
        """Nothing to release: LiteLLM owns its clients."""

    async def aclose(self) -> None:
        """Nothing to release: LiteLLM owns its clients."""

    def __repr__(self) -> str:
        return f"LiteLLMBackend(provider={self.provider.name!r})"


class _Ending:
    """Converts the chunks of one LiteLLM stream, noting whether one gave a finish reason: a
    stream that ends without one is incomplete."""

    __slots__ = ("finished",)

    def __init__(self) -> None:
        self.finished = False

    def chunk(self, raw: Any) -> ChatCompletionChunk:
        chunk = chunk_from_litellm(raw)
        if chunk.finish_reason is not None:
            self.finished = True
        return chunk

    def check(self) -> None:
        if not self.finished:
            raise IncompleteStream("LiteLLM's stream ended without a finish reason", status=200)
