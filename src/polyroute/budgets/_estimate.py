"""The worst case a call can cost, for budget reservations: a conservative estimate, fast.

The prompt estimate is the routing estimator's ceiling (:attr:`polyroute.routing._tokens.PromptSize.ceiling`):
one token per UTF-8 byte (a token covers at least one byte, so this bounds any byte-level
tokenizer's count, digits, symbols and emoji included) over every field the model reads, plus a
few tokens per message, and a fixed allowance per image. It is
a plain function of the messages and tools, so a tokenizer-based estimator can replace it
(``BudgetGuard(estimator=...)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from polyroute._request import ChatRequest
from polyroute.catalog._catalog import Endpoint, Pricing
from polyroute.routing._tokens import PromptSize

__all__ = ["TokenEstimator", "estimate_prompt_tokens", "output_bound", "worst_case_cost"]

TokenEstimator = Callable[[Sequence[Mapping[str, Any]], Sequence[Mapping[str, Any]] | None], int]


def estimate_prompt_tokens(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None = None
) -> int:
    """An upper estimate of the prompt tokens of ``messages`` (and ``tools`` definitions)."""
    return PromptSize(messages, tools).ceiling


def output_bound(request: ChatRequest, endpoint: Endpoint, default: int) -> int:
    """The most output tokens the call can produce: the request's ``max_tokens``, else the endpoint's
    ``max_output_tokens``, else its ``context_length``, else ``default``; times ``n``."""
    bound = request.max_output_tokens or endpoint.max_output_tokens or endpoint.context_length or default
    n = request.params.get("n")
    return bound * n if isinstance(n, int) and n > 1 else bound


def worst_case_cost(
    pricing: Pricing,
    prompt_tokens: int,
    output_tokens: int,
    *,
    images: int = 0,
    fee_percent: Decimal | None = None,
) -> Decimal | None:
    """The most a call can cost at ``pricing`` (``None`` if the prices are unknown), fee included:
    every prompt token at the dearer of the prompt and cache-write prices, every output token at
    the dearer of the completion and reasoning prices."""
    if not pricing.known:
        return None
    in_price = max(p for p in (pricing.prompt, pricing.cache_write) if p is not None)
    out_price = max(p for p in (pricing.completion, pricing.reasoning) if p is not None)
    cost = prompt_tokens * in_price + output_tokens * out_price + (pricing.request or 0)
    if images and pricing.image is not None:
        cost += images * pricing.image
    if fee_percent:
        cost += cost * fee_percent / 100
    return cost
