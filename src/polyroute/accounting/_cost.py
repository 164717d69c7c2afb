"""The cost of a call from provider-reported usage and the endpoint's prices, in exact decimals.

The rules (the same as OpenRouter's billing, checked against its recorded ``usage.cost``):

- ``prompt_tokens`` includes cached and cache-write tokens. Cached tokens are billed at the
  cache-read price and *not again* at the prompt price; cache writes at the cache-write price
  (either falls back to the prompt price when the endpoint has none).
- ``completion_tokens`` includes reasoning tokens: they are output, billed at the completion
  price, unless the endpoint gives reasoning its own price.
- a per-request fee, and a per-image price for each image in the request.
- an optional platform fee, a percentage of the above, is a separate line.

Pricing never fails a call: unknown prices, or a successful attempt that reported no usage,
give ``None`` ("unknown"), never a made-up zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from polyroute._types import CostBreakdown, Usage
from polyroute.catalog._catalog import Pricing

__all__ = ["DISAGREEMENT_ABSOLUTE", "DISAGREEMENT_RELATIVE", "call_cost", "cost_breakdown", "count_images"]

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
#: a provider's own figure (a JSON float) and ours disagree when they differ by more than
#: both this many USD and this fraction of the provider's figure
DISAGREEMENT_ABSOLUTE = Decimal("1e-9")
DISAGREEMENT_RELATIVE = Decimal("1e-6")


def cost_breakdown(
    usage: Usage | None,
    pricing: Pricing,
    *,
    images: int = 0,
    fee_percent: Decimal | None = None,
) -> CostBreakdown | None:
    """The lines of one attempt's cost; ``None`` if the prices are unknown or ``usage`` is missing."""
    if usage is None or not pricing.known:
        return None
    prompt_price = pricing.prompt or _ZERO
    completion_price = pricing.completion or _ZERO
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    written = min(usage.cache_write_tokens, usage.prompt_tokens - cached)
    uncached = usage.prompt_tokens - cached - written
    reasoning = min(usage.reasoning_tokens, usage.completion_tokens) if pricing.reasoning is not None else 0
    lines = CostBreakdown(
        prompt=uncached * prompt_price,
        cached=cached * (pricing.cache_read if pricing.cache_read is not None else prompt_price),
        cache_write=written * (pricing.cache_write if pricing.cache_write is not None else prompt_price),
        completion=(usage.completion_tokens - reasoning) * completion_price,
        reasoning=reasoning * (pricing.reasoning or _ZERO),
        request=pricing.request or _ZERO,
        image=images * pricing.image if images and pricing.image is not None else _ZERO,
    )
    reported = usage.provider_cost
    if not fee_percent and reported is None:
        return lines
    cost = lines.cost
    return replace(
        lines,
        fee=cost * fee_percent / _HUNDRED if fee_percent else _ZERO,
        provider_reported=reported,
        disagreement=reported is not None and _disagree(cost, reported),
    )


def _disagree(ours: Decimal, theirs: Decimal) -> bool:
    gap = abs(ours - theirs)
    return gap > DISAGREEMENT_ABSOLUTE and gap > DISAGREEMENT_RELATIVE * abs(theirs)


def call_cost(usage: Usage | None, pricing: Pricing, *, images: int = 0) -> Decimal | None:
    """USD the provider charges for one attempt that reported ``usage``; ``None`` if unknown."""
    lines = cost_breakdown(usage, pricing, images=images)
    return None if lines is None else lines.cost


def count_images(messages: Sequence[Mapping[str, Any]]) -> int:
    """How many ``image_url`` parts the request's messages carry (billed per image where priced)."""
    n = 0
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            n += sum(1 for part in content if isinstance(part, Mapping) and part.get("type") == "image_url")
    return n
