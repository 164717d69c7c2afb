"""Screening one endpoint for one request: keep it, demote it to the end of the plan, or exclude it.

Hard filters (exclusions) come from the provider preferences (``ignore``, ``only``, ``order``
without fallbacks, ``data_collection``, ``zdr``, ``quantizations``, ``max_price``) and from
context fit. A missing capability or too small a ``max_output_tokens`` excludes the endpoint
when ``require_parameters`` is set and demotes it otherwise, like a prompt that may not fit
(the estimate is not sure either way). Every verdict carries its reason.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from polyroute._request import ChatRequest
from polyroute.catalog._catalog import Endpoint
from polyroute.routing._capabilities import missing_features, required_features
from polyroute.routing._preferences import ProviderPreferences
from polyroute.routing._tokens import PromptSize

__all__ = ["DEMOTE", "EXCLUDE", "KEEP", "RequestFacts", "matches", "screen"]

KEEP = 0
DEMOTE = 1
EXCLUDE = 2
_PER_MILLION = Decimal(1_000_000)


def _per_million(price: Decimal) -> str:
    return f"${(price * _PER_MILLION).normalize():f}/M"


@lru_cache(maxsize=4096)
def _lowered(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(n.lower() for n in names)


@lru_cache(maxsize=65536)
def _names_of(provider: str, key: str) -> frozenset[str]:
    return frozenset((provider.lower(), key.lower()))


def matches(endpoint: Endpoint, names: tuple[str, ...]) -> bool:
    """Whether any of ``names`` is the endpoint's provider or its ``provider/model`` key (any case)."""
    return not _names_of(endpoint.provider, endpoint.key).isdisjoint(_lowered(names))


class RequestFacts:
    """What screening needs to know about the request, measured at most once."""

    __slots__ = ("_prompt", "max_output", "needs", "request")

    def __init__(self, request: ChatRequest) -> None:
        self.request = request
        self.needs = required_features(request)
        self.max_output = request.max_output_tokens
        self._prompt: PromptSize | None = None

    @property
    def measured(self) -> bool:
        """Whether the prompt has been measured (something needed its size)."""
        return self._prompt is not None

    @property
    def prompt(self) -> PromptSize:
        """The prompt's size (measured on first use)."""
        if self._prompt is None:
            self._prompt = PromptSize(self.request.messages, self.request.params.get("tools"))
        return self._prompt


def _preference_exclusion(endpoint: Endpoint, prefs: ProviderPreferences, facts: RequestFacts) -> str | None:
    if prefs.ignore and matches(endpoint, prefs.ignore):
        return "provider.ignore lists it"
    if prefs.only and not matches(endpoint, prefs.only):
        return "not in provider.only"
    if prefs.order and not prefs.allow_fallbacks and not matches(endpoint, prefs.order):
        return "not in provider.order, and provider.allow_fallbacks is false"
    if prefs.data_collection == "deny" and endpoint.data_collection == "allow":
        return "it may retain prompts (data_collection: allow) and provider.data_collection is 'deny'"
    if prefs.zdr and endpoint.zdr is not True:
        return "not declared zero-data-retention (zdr) and provider.zdr is true"
    if prefs.quantizations:
        quant = endpoint.quantization or "unknown"
        if quant not in prefs.quantizations:
            return f"quantization {quant!r} is not in provider.quantizations"
    if prefs.max_price is not None:
        return _price_exclusion(endpoint, prefs, facts)
    return None


def _price_exclusion(endpoint: Endpoint, prefs: ProviderPreferences, facts: RequestFacts) -> str | None:
    cap = prefs.max_price
    assert cap is not None
    pricing = endpoint.pricing
    for name, limit, price in (
        ("prompt", cap.prompt, pricing.prompt),
        ("completion", cap.completion, pricing.completion),
    ):
        if limit is None:
            continue
        if price is None:
            return f"its {name} price is unknown, so provider.max_price.{name} cannot be honoured"
        if price > limit:
            return f"{name} price {_per_million(price)} is above provider.max_price.{name} {_per_million(limit)}"
    if cap.request is not None and (pricing.request or 0) > cap.request:
        return f"per-request fee ${pricing.request} is above provider.max_price.request ${cap.request}"
    if cap.image is not None and facts.prompt.images and (pricing.image or 0) > cap.image:
        return f"image price ${pricing.image} is above provider.max_price.image ${cap.image}"
    return None


def _context_verdict(endpoint: Endpoint, facts: RequestFacts) -> tuple[int, str | None]:
    context = endpoint.context_length
    if context is None:
        return KEEP, None
    prompt = facts.prompt
    out = facts.max_output or 0
    upper = prompt.upper
    if upper + out <= context:
        return KEEP, None
    wanted = f" + max_tokens {out}" if out else ""
    lower = prompt.lower
    if lower + out > context:
        return EXCLUDE, f"the prompt (at least {lower:,} tokens){wanted} cannot fit its context of {context:,}"
    tokenizer = endpoint.tokenizer or endpoint.model
    exact = prompt.exact(tokenizer)
    if exact is not None:
        if exact + out > context:
            return EXCLUDE, f"the prompt ({exact:,} tokens by tiktoken){wanted} does not fit its context of {context:,}"
        return KEEP, None
    return DEMOTE, f"the prompt may not fit: about {upper:,} tokens{wanted} against a context of {context:,}"


def screen(endpoint: Endpoint, prefs: ProviderPreferences, facts: RequestFacts) -> tuple[int, str | None]:
    """``(KEEP | DEMOTE | EXCLUDE, reason)`` for one endpoint."""
    reason = _preference_exclusion(endpoint, prefs, facts)
    if reason is not None:
        return EXCLUDE, reason
    verdict, reason = _context_verdict(endpoint, facts)
    if verdict == EXCLUDE:
        return verdict, reason
    lacks: list[str] = []
    out = facts.max_output
    if out is not None and endpoint.max_output_tokens is not None and out > endpoint.max_output_tokens:
        lacks.append(f"max_tokens {out} is above its max_output_tokens {endpoint.max_output_tokens}")
    missing = missing_features(endpoint, facts.needs)
    if missing:
        lacks.append(f"it does not declare {', '.join(sorted(missing))}")
    if lacks:
        why = "; ".join(lacks)
        if prefs.require_parameters:
            return EXCLUDE, f"{why}, and provider.require_parameters is true"
        why = f"{why}: moved after the endpoints that support the request"
        return DEMOTE, f"{reason}; {why}" if reason else why
    return verdict, reason
