"""The simulator's embeddings: deterministic vectors, the OpenAI and Gemini wire shapes, and the
same faults as chat.

:func:`embedding_vector` is the vector the simulator returns for a text: seeded by a hash of the
text alone (so two providers of one model agree, as they should), unit length, and exactly
representable as float32 (so float and base64 replies carry the same numbers).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import sys
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiohttp import web

from polyroute.testing._behaviors import (
    Behavior,
    Continue,
    Disconnect,
    EmbeddingReply,
    ErrorReply,
    FunctionBehavior,
    Hang,
    MalformedJSON,
    RejectContinuation,
    Reply,
    Stall,
    StreamErrorReply,
    Truncate,
)
from polyroute.testing._pacing import Pacer
from polyroute.testing._wire import Exchange, HttpReply, WireFormat, json_body, merge_headers, reply_headers

__all__ = ["EmbeddingAsk", "embedding_vector", "perform_embedding"]

_JSON = "application/json"


@lru_cache(maxsize=65536)
def _vector(text: str, dimensions: int) -> tuple[float, ...]:
    digest = hashlib.shake_128(text.encode("utf-8", "surrogatepass")).digest(2 * dimensions)
    raw = array("h", digest)
    if sys.byteorder == "big":  # pragma: no cover
        raw.byteswap()
    values = [x + 0.5 for x in raw]  # never all zero
    norm = math.sqrt(math.fsum(x * x for x in values))
    return tuple(array("f", [x / norm for x in values]).tolist())


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """The simulator's embedding of ``text``: ``dimensions`` float32 values of unit length,
    derived from a hash of the text (the same on every provider and run)."""
    if dimensions < 1:
        raise ValueError(f"dimensions must be >= 1, got {dimensions!r}")
    return list(_vector(text, dimensions))


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


@dataclass(frozen=True, slots=True)
class EmbeddingAsk:
    """What an embeddings request asks for: the texts, the size, the encoding, the shape."""

    texts: tuple[str, ...]
    dimensions: int | None
    base64: bool
    model: str
    #: Gemini: ``embedContent`` (one ``embedding``) rather than ``batchEmbedContents``
    single: bool = False


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _gemini_text(item: Any) -> str:
    content = item.get("content") if isinstance(item, Mapping) else None
    parts = content.get("parts") if isinstance(content, Mapping) else None
    texts = [p["text"] for p in parts or () if isinstance(p, Mapping) and isinstance(p.get("text"), str)]
    return "".join(texts)


def _dims(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def read_ask(wire: WireFormat, subpath: str, body: Mapping[str, Any], model: str) -> EmbeddingAsk:
    """The embeddings request in ``body`` (``wire`` says whose shape)."""
    if wire.api == "gemini":
        if subpath.endswith(":embedContent"):
            return EmbeddingAsk((_gemini_text(body),), _dims(body.get("outputDimensionality")), False, model, True)
        items = body.get("requests")
        items = items if isinstance(items, list) else []
        dims = _dims(items[0].get("outputDimensionality")) if items and isinstance(items[0], Mapping) else None
        return EmbeddingAsk(tuple(_gemini_text(i) for i in items), dims, False, model)
    raw = body.get("input")
    texts = (raw,) if isinstance(raw, str) else tuple(_text(t) for t in raw) if isinstance(raw, list) else ()
    return EmbeddingAsk(texts, _dims(body.get("dimensions")), body.get("encoding_format") == "base64", model)


def _render(wire: WireFormat, ask: EmbeddingAsk, vectors: list[list[float]], usage: bool, exchange: Exchange) -> bytes:
    if wire.api == "gemini":
        if ask.single:
            return json_body({"embedding": {"values": vectors[0] if vectors else []}}, indent=None)
        return json_body({"embeddings": [{"values": v} for v in vectors]}, indent=None)
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(array("f", v).tobytes()).decode() if ask.base64 else v,
        }
        for i, v in enumerate(vectors)
    ]
    out: dict[str, Any] = {"object": "list", "data": data, "model": ask.model}
    if usage:
        tokens = sum(_tokens(t) for t in ask.texts)
        out["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
    return json_body(out, indent=None)


def _reply(
    wire: WireFormat, ask: EmbeddingAsk, default_dims: int, shape: EmbeddingReply, exchange: Exchange
) -> HttpReply:
    dims = shape.dimensions or ask.dimensions or default_dims
    texts = list(ask.texts)
    if shape.count is not None:
        texts = (texts * (shape.count // max(1, len(texts)) + 1))[: shape.count] if texts else ["?"] * shape.count
    vectors = [list(_vector(t, dims)) for t in texts]
    body = _render(wire, ask, vectors, shape.usage, exchange)
    return HttpReply(200, body, reply_headers(exchange, _JSON))


def _response(http: HttpReply, extra: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=http.status, body=http.body, headers=merge_headers(http.headers, extra or {}))


async def perform_embedding(
    request: web.Request,
    pacer: Pacer,
    wire: WireFormat,
    exchange: Exchange,
    *,
    ask: EmbeddingAsk,
    behavior: Behavior,
    default_dims: int,
) -> web.StreamResponse:
    """Carry out ``behavior`` for one embeddings request."""
    from polyroute.testing._handler import abort_connection

    match behavior:
        case Reply() | EmbeddingReply():
            shape = behavior if isinstance(behavior, EmbeddingReply) else EmbeddingReply()
            await pacer.pause(behavior.latency)
            return _response(_reply(wire, ask, default_dims, shape, exchange), behavior.headers)
        case ErrorReply():
            await pacer.pause(behavior.latency)
            return _response(wire.error(behavior, exchange))
        case StreamErrorReply():  # an error object in a 200 body
            code = behavior.code if isinstance(behavior.code, int) and 400 <= behavior.code <= 599 else 500
            http = wire.error(ErrorReply(code, message=behavior.message), exchange)
            return _response(HttpReply(200, http.body, http.headers))
        case Disconnect():
            await abort_connection(request)
            return web.Response()
        case Truncate() | MalformedJSON():
            http = _reply(wire, ask, default_dims, EmbeddingReply(), exchange)
            return _response(HttpReply(200, http.body[: len(http.body) // 2], http.headers))
        case Hang():
            await pacer.forever()
            return web.Response()  # pragma: no cover - forever does not return
        case Stall():
            await pacer.pause(behavior.seconds)
            http = _reply(wire, ask, default_dims, EmbeddingReply(), exchange)
            return _response(HttpReply(200, http.body[: len(http.body) // 2], http.headers))
        case FunctionBehavior() | Continue() | RejectContinuation():  # resolved by the handler
            raise AssertionError(f"unresolved {type(behavior).__name__}")
