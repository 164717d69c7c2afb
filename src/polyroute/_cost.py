"""The cost of a call from provider-reported usage and the endpoint's prices, in exact decimals.

Cached prompt tokens are billed at the cache-read price and not again at the prompt price;
cache writes at the cache-write price; reasoning tokens (part of the completion count) at the
reasoning price when one is set, else as completion; plus any per-request fee. Pricing never
fails a call: unknown prices give ``None``.
"""

from __future__ import annotations

from decimal import Decimal

from polyroute._catalog import Pricing
from polyroute._types import Usage

__all__ = ["call_cost"]

_ZERO = Decimal(0)


def call_cost(usage: Usage | None, pricing: Pricing) -> Decimal | None:
    """USD for one attempt that reported ``usage``; ``None`` if the prices are unknown."""
    if not pricing.known:
        return None
    fee = pricing.request or _ZERO
    if usage is None:
        return fee
    prompt_price = pricing.prompt or _ZERO
    completion_price = pricing.completion or _ZERO
    cached = usage.cached_tokens
    written = usage.cache_write_tokens
    uncached = max(usage.prompt_tokens - cached - written, 0)
    cost = uncached * prompt_price
    cost += cached * (pricing.cache_read if pricing.cache_read is not None else prompt_price)
    cost += written * (pricing.cache_write if pricing.cache_write is not None else prompt_price)
    reasoning = usage.reasoning_tokens if pricing.reasoning is not None else 0
    cost += max(usage.completion_tokens - reasoning, 0) * completion_price
    if reasoning:
        cost += reasoning * (pricing.reasoning or _ZERO)
    return cost + fee
