"""Wire-API adapters, looked up by a provider's ``api``.

Built-in: ``openai`` (OpenAI-compatible Chat Completions), ``anthropic`` (Anthropic Messages) and
``gemini`` (Google Gemini ``generateContent``). Others register with :func:`register_adapter`.
(``api: litellm`` providers are not HTTP adapters: the router gives them a LiteLLM backend.)

The Anthropic and Gemini adapters are imported when first used (a provider with that ``api``, or
``polyroute.adapters.AnthropicAdapter``), so ``import polyroute`` does not pay for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from polyroute.adapters._base import StreamDecoder, WireAdapter
from polyroute.adapters._openai import OpenAIAdapter

if TYPE_CHECKING:
    from polyroute._clock import Clock
    from polyroute.adapters._anthropic import AnthropicAdapter
    from polyroute.adapters._gemini import GeminiAdapter

__all__ = [
    "AnthropicAdapter",
    "GeminiAdapter",
    "OpenAIAdapter",
    "StreamDecoder",
    "WireAdapter",
    "adapter_for",
    "known_apis",
    "register_adapter",
]


def _anthropic(clock: Clock | None = None) -> WireAdapter:
    from polyroute.adapters._anthropic import AnthropicAdapter

    return AnthropicAdapter(clock=clock)


def _gemini(clock: Clock | None = None) -> WireAdapter:
    from polyroute.adapters._gemini import GeminiAdapter

    return GeminiAdapter(clock=clock)


def _openai(clock: Clock | None = None) -> WireAdapter:
    return OpenAIAdapter(clock=clock)


#: the built-in adapters, which take the router's clock
_BUILTIN: dict[str, Callable[[Clock | None], WireAdapter]] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "gemini": _gemini,
}


_FACTORIES: dict[str, Callable[[], WireAdapter]] = {"openai": _openai, "anthropic": _anthropic, "gemini": _gemini}
_INSTANCES: dict[str, WireAdapter] = {}


def __getattr__(name: str) -> Any:
    if name == "AnthropicAdapter":
        from polyroute.adapters._anthropic import AnthropicAdapter

        return AnthropicAdapter
    if name == "GeminiAdapter":
        from polyroute.adapters._gemini import GeminiAdapter

        return GeminiAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register_adapter(api: str, factory: Callable[[], WireAdapter]) -> None:
    """Make ``api: <api>`` in provider configs use adapters built by ``factory``."""
    _FACTORIES[api] = factory
    _INSTANCES.pop(api, None)
    _BUILTIN.pop(api, None)


def known_apis() -> list[str]:
    """The wire APIs a provider's ``api`` may name."""
    return sorted(_FACTORIES)


def adapter_for(api: str, *, clock: Clock | None = None) -> WireAdapter:
    """The adapter for ``api``; ``KeyError`` if unknown. Shared and stateless, except that with
    ``clock`` a built-in adapter of its own reads that clock (the router's, for Retry-After dates)."""
    if clock is not None and api in _BUILTIN:
        return _BUILTIN[api](clock)
    adapter = _INSTANCES.get(api)
    if adapter is None:
        adapter = _INSTANCES[api] = _FACTORIES[api]()
    return adapter
