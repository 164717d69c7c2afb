"""Splitting an embeddings input into batches within every candidate endpoint's limits.

Batches are cut once, before routing, within the smallest limits of all the endpoints the call
may use (so a batch that fails over fits wherever it goes). Tokens are counted only when they
could matter: a token covers at least one UTF-8 byte, so an input of no more bytes than the
token limit fits without counting. Otherwise each text is counted with the endpoints' tiktoken
encoding when one is available offline, else by its bytes (never an undercount).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from polyroute.catalog._catalog import EmbeddingLimits, Endpoint
from polyroute.routing._tokens import encoding_for

__all__ = ["Limits", "TokenCounter", "limits_of", "split", "token_counter"]

#: counts the tokens of one text
TokenCounter = Callable[[str], int]


@dataclass(frozen=True, slots=True)
class Limits:
    """What one batch may hold: items, tokens (counted by ``count``)."""

    max_items: int
    max_tokens: int
    count: TokenCounter


def _bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def token_counter(endpoints: Sequence[Endpoint], *, exact: bool = False) -> TokenCounter:
    """Tokens of a text for these endpoints: tiktoken when their tokenizer (or model id) names an
    encoding available offline; else UTF-8 bytes (an upper bound), or with ``exact`` bytes / 4
    (an estimate, for costing replies that report no usage)."""
    for ep in endpoints:
        encoding = encoding_for(ep.tokenizer or ep.model)
        if encoding is not None:
            encode = encoding.encode_ordinary
            return lambda text: len(encode(text))
    if exact:
        return lambda text: max(1, math.ceil(_bytes(text) / 4)) if text else 0
    return _bytes


def limits_of(endpoints: Sequence[Endpoint]) -> Limits:
    """The smallest limits among ``endpoints`` (OpenAI's defaults where none is declared)."""
    declared = [ep.embedding for ep in endpoints if ep.embedding is not None] or [EmbeddingLimits()]
    return Limits(
        max_items=min(d.max_items for d in declared),
        max_tokens=min(d.max_tokens for d in declared),
        count=token_counter(endpoints),
    )


def split(texts: Sequence[str], limits: Limits) -> list[tuple[int, int]]:
    """``[start, end)`` slices of ``texts``, in order, each within ``limits``. A text too large for
    any batch goes alone (the provider will say what it thinks of it)."""
    n = len(texts)
    max_items, max_tokens = limits.max_items, limits.max_tokens
    if n <= max_items and sum(map(_bytes, texts)) <= max_tokens:
        return [(0, n)]
    count = limits.count
    out: list[tuple[int, int]] = []
    start = 0
    tokens = 0
    for i, text in enumerate(texts):
        size = count(text)
        if i > start and (i - start >= max_items or tokens + size > max_tokens):
            out.append((start, i))
            start, tokens = i, 0
        tokens += size
    if start < n:
        out.append((start, n))
    return out
