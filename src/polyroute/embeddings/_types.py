"""Embedding requests and responses: the OpenAI embeddings shape, plus the route.

An :class:`EmbeddingRequest` is a :class:`~polyroute._request.ChatRequest` of another
``kind``, so planning, budgets, the Execution and the observers take it as they are: its
``messages`` hold the batch's texts (one user message each), which is what prompt estimates
and budget reservations measure.
"""

from __future__ import annotations

import base64
import sys
from array import array
from dataclasses import dataclass, field
from typing import Any, ClassVar

from polyroute._request import ChatRequest
from polyroute._types import DumpMode, Route, Usage

__all__ = ["Embedding", "EmbeddingRequest", "EmbeddingResponse", "decode_base64", "encode_base64"]

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class EmbeddingRequest(ChatRequest):
    """One batch of an embeddings call, validated: ``input`` are its texts, in order.

    ``dimensions`` is the vector size the caller asked for (``None``: the model's own);
    ``encoding_format`` what the caller wants back (``"float"`` or ``"base64"``; ``None`` is
    float and sends nothing upstream).
    """

    kind: ClassVar[str] = "embedding"
    input: tuple[str, ...] = ()
    dimensions: int | None = None
    encoding_format: str | None = None


def decode_base64(value: str) -> list[float]:
    """A vector from OpenAI's base64 encoding (little-endian float32)."""
    floats = array("f", base64.b64decode(value))
    if sys.byteorder == "big":  # pragma: no cover - no big-endian CI
        floats.byteswap()
    return floats.tolist()


def encode_base64(vector: list[float]) -> str:
    """OpenAI's base64 encoding of a vector (little-endian float32)."""
    floats = array("f", vector)
    if sys.byteorder == "big":  # pragma: no cover
        floats.byteswap()
    return base64.b64encode(floats.tobytes()).decode("ascii")


@dataclass(slots=True)
class Embedding:
    """``data[i]``: one input's vector (a base64 string when the caller asked for ``base64``)."""

    index: int
    embedding: list[float] | str
    object: str = "embedding"

    @property
    def vector(self) -> list[float]:
        """The vector as floats, whatever the encoding."""
        e = self.embedding
        return decode_base64(e) if isinstance(e, str) else e

    def model_dump(self) -> JSON:
        return {"object": self.object, "index": self.index, "embedding": self.embedding}


@dataclass(slots=True)
class EmbeddingResponse:
    """OpenAI's embeddings response (``object: "list"``), plus ``route``.

    ``data[i]`` is the vector of input ``i``, in input order. ``usage`` is the prompt tokens
    over every batch; ``usage.estimated`` is true when a provider reported none and polyroute
    counted them. ``route`` has the serving provider, every attempt of every batch and the total
    cost; ``batches`` the route of each batch when the input was split.
    """

    data: list[Embedding]
    model: str
    usage: Usage | None = None
    object: str = "list"
    route: Route | None = None
    batches: list[Route] = field(default_factory=list)

    @property
    def vectors(self) -> list[list[float]]:
        """Every vector as floats, in input order."""
        return [d.vector for d in self.data]

    def model_dump(self, *, mode: DumpMode = "python", exclude_route: bool = False) -> JSON:
        """The OpenAI JSON object, plus ``route`` unless excluded. ``mode="json"`` renders Decimals as strings."""
        out: JSON = {"object": self.object, "data": [d.model_dump() for d in self.data], "model": self.model}
        usage = self.usage
        if usage is not None:
            out["usage"] = {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.total_tokens}
            if usage.estimated:
                out["usage"]["estimated"] = True
        if self.route is not None and not exclude_route:
            out["route"] = self.route.model_dump(mode=mode)
        return out

    def __repr__(self) -> str:
        dims = len(self.data[0].vector) if self.data else 0
        return f"EmbeddingResponse(model={self.model!r}, vectors={len(self.data)}x{dims})"
