"""Embedding wire formats: one codec per ``api`` that has embeddings.

A codec encodes an :class:`~polyroute.embeddings.EmbeddingRequest` (one batch) and decodes the
reply into an :class:`~polyroute.embeddings.EmbeddingResponse` with the batch's vectors in
input order. Errors are decoded by the API's chat adapter (the error bodies are the same).
Built-in: ``openai`` (``POST /embeddings``: OpenAI, Mistral, Together, Fireworks, DeepInfra,
Voyage, vLLM, Ollama...) and ``gemini`` (``embedContent`` / ``batchEmbedContents``, imported
when first used). Wrong types and implausible token counts are a
:class:`~polyroute.errors.MalformedResponse`; checking counts, dimensions and values against the
request is the caller's (``polyroute.embeddings._call.check``: it knows what was declared).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

import orjson

from polyroute._types import Usage
from polyroute.adapters._jsonbody import body_text, json_object
from polyroute.adapters._openai import OpenAIAdapter, error_from_object
from polyroute.adapters._sanity import check_cost, token_count
from polyroute.catalog._catalog import Endpoint, ProviderSpec
from polyroute.errors import MalformedResponse, ProviderError
from polyroute.transports._base import HttpRequest

if TYPE_CHECKING:
    from polyroute.embeddings._types import EmbeddingRequest, EmbeddingResponse

__all__ = [
    "EmbeddingCodec",
    "OpenAIEmbeddingCodec",
    "embedding_codec_for",
    "is_vector",
    "openai_embeddings",
]


class EmbeddingCodec(Protocol):
    """Encodes one embeddings request and decodes its reply, for one wire API."""

    def build_request(self, provider: ProviderSpec, endpoint: Endpoint, request: EmbeddingRequest) -> HttpRequest:
        """The HTTP request for one batch."""
        ...

    def parse_response(self, endpoint: Endpoint, request: EmbeddingRequest, body: bytes) -> EmbeddingResponse:
        """The vectors of a 2xx reply, ordered as the inputs; ``MalformedResponse`` if it is not one."""
        ...

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        """The error of a non-2xx reply."""
        ...


def is_vector(value: Any) -> TypeGuard[list[float]]:
    """Whether ``value`` is a list of numbers (checked in C: vectors are long)."""
    if not isinstance(value, list):
        return False
    try:
        array("d", value)
    except (TypeError, OverflowError):  # not numbers; an integer beyond a double
        return False
    return True


def _usage(raw: Any) -> Usage | None:
    """OpenAI's ``{prompt_tokens, total_tokens}``; Voyage reports ``total_tokens`` only. A count
    that is there but not a plausible one (negative, fractional, a string, ``2**64``), or a
    ``cost`` that is not a plausible number, is a :class:`~polyroute.errors.MalformedResponse`,
    like in a chat reply; no count at all: ``None`` (the caller estimates it)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise MalformedResponse("usage is not an object", status=200)
    cost = raw.get("cost")
    if cost is not None:  # not used (embeddings are costed from prices), but one that cannot be real
        check_cost(cost)
    prompt, total = raw.get("prompt_tokens"), raw.get("total_tokens")
    if prompt is None and total is None:
        return None
    p = token_count(prompt if prompt is not None else total, "prompt_tokens")
    t = token_count(total, "total_tokens") if total is not None else p
    return Usage(prompt_tokens=p, completion_tokens=0, total_tokens=t)


class OpenAIEmbeddingCodec:
    """``POST {base_url}/embeddings`` in OpenAI's shape (floats or base64 vectors)."""

    name = "openai"

    def __init__(self) -> None:
        self._errors = OpenAIAdapter()

    def build_request(self, provider: ProviderSpec, endpoint: Endpoint, request: EmbeddingRequest) -> HttpRequest:
        texts = request.input
        body: dict[str, Any] = {"model": endpoint.model, "input": list(texts)}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        if request.encoding_format is not None:
            body["encoding_format"] = request.encoding_format
        if request.params:
            body.update(request.params)
        if endpoint.extra_body:
            body.update(endpoint.extra_body)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if provider.api_key is not None:
            headers["Authorization"] = "Bearer " + provider.api_key.reveal()
        if provider.headers:
            headers.update(provider.headers)
        return HttpRequest("POST", provider.base_url.rstrip("/") + "/embeddings", headers, orjson.dumps(body))

    def parse_response(self, endpoint: Endpoint, request: EmbeddingRequest, body: bytes) -> EmbeddingResponse:
        data = json_object(body)
        if not isinstance(data.get("data"), list) and "error" in data:
            raise error_from_object(200, data, {}, body)
        return openai_embeddings(data, endpoint.model, body)

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        return self._errors.parse_error(status, headers, body)


def openai_embeddings(data: Mapping[str, Any], default_model: str, body: bytes = b"") -> EmbeddingResponse:
    """An embeddings response from OpenAI's JSON shape (vectors as floats or base64), in index order."""
    from polyroute.embeddings._types import Embedding, EmbeddingResponse, decode_base64

    items = data.get("data")
    if not isinstance(items, list):
        raise MalformedResponse("embeddings response has no data list", status=200, body=body_text(body))
    out: list[Embedding | None] = [None] * len(items)
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise MalformedResponse(f"data[{position}] is not an object", status=200, body=body_text(body))
        index = item.get("index", position)
        vector = item.get("embedding")
        if isinstance(vector, str):
            try:
                vector = decode_base64(vector)
            except ValueError as exc:
                raise MalformedResponse(f"data[{position}].embedding is not base64 float32", status=200) from exc
        elif not is_vector(vector):
            raise MalformedResponse(f"data[{position}].embedding is not a vector", status=200)
        if not isinstance(index, int) or not 0 <= index < len(items) or out[index] is not None:
            raise MalformedResponse(f"data[{position}].index is {index!r}", status=200)
        out[index] = Embedding(index=index, embedding=vector)
    model = data.get("model")
    return EmbeddingResponse(
        data=out,  # type: ignore[arg-type]  # every slot filled: indexes are distinct and in range
        model=model if isinstance(model, str) and model else default_model,
        usage=_usage(data.get("usage")),
    )


def _gemini() -> EmbeddingCodec:
    from polyroute.adapters._gemini_embed import GeminiEmbeddingCodec

    return GeminiEmbeddingCodec()


_FACTORIES: dict[str, Callable[[], EmbeddingCodec]] = {"openai": OpenAIEmbeddingCodec, "gemini": _gemini}
_INSTANCES: dict[str, EmbeddingCodec] = {}


def embedding_codec_for(api: str) -> EmbeddingCodec | None:
    """The (shared, stateless) embeddings codec of ``api``; ``None`` if it has no embeddings."""
    codec = _INSTANCES.get(api)
    if codec is None:
        factory = _FACTORIES.get(api)
        if factory is None:
            return None
        codec = _INSTANCES[api] = factory()
    return codec
