"""Wire-API adapters, looked up by a provider's ``api``.

Built-in: ``openai`` (OpenAI-compatible Chat Completions). Others register with
:func:`register_adapter` or are added here as they are written.
"""

from __future__ import annotations

from collections.abc import Callable

from polyroute.adapters._base import StreamDecoder, WireAdapter
from polyroute.adapters._openai import OpenAIAdapter

__all__ = ["OpenAIAdapter", "StreamDecoder", "WireAdapter", "adapter_for", "known_apis", "register_adapter"]

_FACTORIES: dict[str, Callable[[], WireAdapter]] = {"openai": OpenAIAdapter}
_INSTANCES: dict[str, WireAdapter] = {}


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
