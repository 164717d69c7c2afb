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


def _anthropic() -> WireAdapter:
    from polyroute.adapters._anthropic import AnthropicAdapter

    return AnthropicAdapter()


def _gemini() -> WireAdapter:
    from polyroute.adapters._gemini import GeminiAdapter

    return GeminiAdapter()


_FACTORIES: dict[str, Callable[[], WireAdapter]] = {
    "openai": OpenAIAdapter,
    "anthropic": _anthropic,
    "gemini": _gemini,
}
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


def known_apis() -> list[str]:
    """The wire APIs a provider's ``api`` may name."""
    return sorted(_FACTORIES)


def adapter_for(api: str) -> WireAdapter:
    """The (shared, stateless) adapter for ``api``; ``KeyError`` if unknown."""
    adapter = _INSTANCES.get(api)
    if adapter is None:
        adapter = _INSTANCES[api] = _FACTORIES[api]()
    return adapter
