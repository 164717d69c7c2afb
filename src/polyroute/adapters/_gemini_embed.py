"""Gemini embeddings: ``models/{model}:embedContent`` for one text, ``:batchEmbedContents`` for more.

Replies carry ``{"embedding": {"values": [...]}}`` or ``{"embeddings": [{"values": [...]}, ...]}``
in request order. Most Gemini embedding models report no usage; ``gemini-embedding-2`` reports
``usageMetadata.promptTokenCount`` for the whole batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from polyroute._types import Usage
from polyroute.adapters._embeddings import is_vector
from polyroute.adapters._gemini import GeminiAdapter
from polyroute.adapters._jsonbody import body_text, json_object
from polyroute.adapters._sanity import token_count
from polyroute.catalog._catalog import Endpoint, ProviderSpec
from polyroute.errors import MalformedResponse, ProviderError
from polyroute.transports._base import HttpRequest

if TYPE_CHECKING:
    from polyroute.embeddings._types import EmbeddingRequest, EmbeddingResponse

__all__ = ["GeminiEmbeddingCodec"]


def _model_path(model: str) -> str:
    return model.removeprefix("models/")


def _values(obj: Any, where: str, body: bytes) -> list[float]:
    values = obj.get("values") if isinstance(obj, Mapping) else None
    if not is_vector(values):
        raise MalformedResponse(f"{where} has no vector", status=200, body=body_text(body))
    return values


class GeminiEmbeddingCodec:
    """Gemini's ``embedContent`` and ``batchEmbedContents``."""

    name = "gemini"

    def __init__(self) -> None:
        self._errors = GeminiAdapter()

    def _item(self, model: str, text: str, request: EmbeddingRequest, *, named: bool) -> dict[str, Any]:
        item: dict[str, Any] = {"content": {"parts": [{"text": text}]}}
        if named:
            item["model"] = f"models/{model}"
        if request.dimensions is not None:
            item["outputDimensionality"] = request.dimensions
        if request.params:
            item.update(request.params)
        return item

    def build_request(self, provider: ProviderSpec, endpoint: Endpoint, request: EmbeddingRequest) -> HttpRequest:
        model = _model_path(endpoint.model)
        texts = request.input
        if len(texts) == 1:
            method = ":embedContent"
            body: dict[str, Any] = self._item(model, texts[0], request, named=False)
        else:
            method = ":batchEmbedContents"
            body = {"requests": [self._item(model, t, request, named=True) for t in texts]}
        if endpoint.extra_body:
            body.update(endpoint.extra_body)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if provider.api_key is not None:
            headers["x-goog-api-key"] = provider.api_key.reveal()
        if provider.headers:
            headers.update(provider.headers)
        url = f"{provider.base_url.rstrip('/')}/models/{model}{method}"
        return HttpRequest("POST", url, headers, orjson.dumps(body))

    def parse_response(self, endpoint: Endpoint, request: EmbeddingRequest, body: bytes) -> EmbeddingResponse:
        from polyroute.embeddings._types import Embedding, EmbeddingResponse

        data = json_object(body)
        if "error" in data:
            raise self._errors.parse_error(200, {}, body)
        if "embeddings" in data:
            items = data["embeddings"]
            if not isinstance(items, list):
                raise MalformedResponse("embeddings is not a list", status=200, body=body_text(body))
            vectors = [_values(item, f"embeddings[{i}]", body) for i, item in enumerate(items)]
        elif "embedding" in data:
            vectors = [_values(data["embedding"], "embedding", body)]
        else:
            raise MalformedResponse("response has no embedding", status=200, body=body_text(body))
        usage = None
        meta = data.get("usageMetadata")
        if meta is not None and not isinstance(meta, Mapping):
            raise MalformedResponse("usageMetadata is not an object", status=200, body=body_text(body))
        if meta is not None and meta.get("promptTokenCount") is not None:
            tokens = token_count(meta["promptTokenCount"], "promptTokenCount")
            usage = Usage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens)
        return EmbeddingResponse(
            data=[Embedding(index=i, embedding=v) for i, v in enumerate(vectors)],
            model=_model_path(endpoint.model),
            usage=usage,
        )

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        return self._errors.parse_error(status, headers, body)
