"""Resolving model ids nobody configured: ``anthropic/claude-sonnet-4``, ``groq/llama-3.1-8b-instant``.

A name not in the catalog's models resolves, when it can, to a :class:`ModelSpec` whose
endpoints are the providers that serve it, in this order:

1. ``<provider>/<model id>`` where ``<provider>`` is a configured provider: that provider,
   with the model id as given (``together/meta-llama/Llama-3.3-70B-Instruct-Turbo``).
2. ``<vendor>/<model id>`` where the vendor is a known provider's (``google/`` is Gemini,
   ``x-ai/`` is xAI, ``mistralai/`` is Mistral): that provider, if configured.
3. OpenRouter, if configured, under its own id for the model (``anthropic/claude-sonnet-4``),
   for any vendor prefix except the hosting providers' own (``groq/``, ``ollama/``...).

A bare name is read as ``<vendor>/<name>`` when its family says which vendor made it
(``claude-`` is Anthropic's, ``gemini-`` Google's, ``gpt-`` OpenAI's).

OpenRouter-style Anthropic ids are turned into the Messages API's own aliases for the native
endpoint (``claude-sonnet-4`` -> ``claude-sonnet-4-0``, ``claude-3.7-sonnet`` ->
``claude-3-7-sonnet-latest``). Prices come from a :data:`PriceLookup` when one is given
(``None`` otherwise: cost unknown, never guessed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from polyroute.catalog._catalog import Endpoint, ModelSpec, Pricing
from polyroute.catalog._known_providers import KNOWN_PROVIDERS, KnownProvider, known_provider

__all__ = ["ModelResolver", "PriceLookup", "native_model_id"]

#: ``(provider name, the provider's model id) -> Pricing`` or ``None`` when unknown. The seam for
#: price sources (a price catalog import plugs in here).
PriceLookup = Callable[[str, str], Pricing | None]

_CLAUDE_4_BARE = re.compile(r"^claude-(opus|sonnet|haiku)-4$")
_CLAUDE_3_STYLE = re.compile(r"^claude-3-\d-(opus|sonnet|haiku)$")
_OPENROUTER = "openrouter"


def native_model_id(api: str, model: str) -> str:
    """The id a provider speaking ``api`` knows ``model`` by (OpenRouter-style Claude ids differ)."""
    if api != "anthropic" or not model.startswith("claude-"):
        return model
    native = model.replace(".", "-")
    if _CLAUDE_4_BARE.match(native):
        return native + "-0"
    if _CLAUDE_3_STYLE.match(native):
        return native + "-latest"
    return native


def _vendor_of(prefix: str) -> KnownProvider | None:
    return next((p for p in KNOWN_PROVIDERS if prefix in p.vendors), None)


def _family_of(name: str) -> KnownProvider | None:
    return next((p for p in KNOWN_PROVIDERS if name.startswith(p.families)), None) if "/" not in name else None


class ModelResolver:
    """Turns ``provider/model`` and ``vendor/model`` ids into model specs over configured providers.

    ``providers`` maps each configured provider's name to its wire API.
    """

    __slots__ = ("_prices", "_providers")

    def __init__(self, providers: Mapping[str, str], prices: PriceLookup | None = None) -> None:
        self._providers = dict(providers)
        self._prices = prices

    def _endpoint(self, provider: str, model: str) -> Endpoint:
        pricing = self._prices(provider, model) if self._prices is not None else None
        return Endpoint(provider=provider, model=model, pricing=pricing or Pricing(source="unknown"))

    def endpoints(self, name: str) -> list[Endpoint]:
        """The endpoints that serve ``name``, best first (empty when none does)."""
        family = _family_of(name)
        if family is not None:
            name = f"{family.vendors[0]}/{name}"
        prefix, slash, model = name.partition("/")
        if not slash or not prefix or not model:
            return []
        out: list[Endpoint] = []
        if prefix in self._providers:
            out.append(self._endpoint(prefix, native_model_id(self._providers[prefix], model)))
        vendor = _vendor_of(prefix)
        if vendor is not None and vendor.name != prefix and vendor.name in self._providers:
            out.append(self._endpoint(vendor.name, native_model_id(self._providers[vendor.name], model)))
        if _OPENROUTER in self._providers and prefix != _OPENROUTER:
            spelled = self._openrouter_vendor(prefix, vendor)
            if spelled is not None:
                out.append(self._endpoint(_OPENROUTER, f"{spelled}/{model}"))
        return out

    def _openrouter_vendor(self, prefix: str, vendor: KnownProvider | None) -> str | None:
        """How OpenRouter spells ``prefix``; ``None`` when the ids are a host's own (``groq/``)."""
        if vendor is not None:
            return vendor.openrouter_vendor
        if prefix in self._providers or known_provider(prefix) is not None:
            return None
        return prefix  # a vendor only OpenRouter knows: meta-llama/, qwen/, moonshotai/...

    def __call__(self, name: str) -> ModelSpec | None:
        """The model spec for ``name``, or ``None`` if no configured provider serves it."""
        endpoints = self.endpoints(name)
        return ModelSpec(name, tuple(endpoints)) if endpoints else None
