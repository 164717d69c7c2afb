"""The OpenAI request parameters, as seen by adapters that translate them to another wire API.

Adapters translate the parameters they understand, drop :data:`OPENAI_ONLY` (meaningless
elsewhere, and rejected as unknown fields by strict APIs), and pass every other key through
verbatim: those are the target API's own fields, given with ``extra_body`` or as extra keywords.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["OPENAI_ONLY", "max_output_tokens", "stop_list"]

#: OpenAI parameters with no counterpart in the Anthropic or Gemini APIs; never forwarded there
OPENAI_ONLY = frozenset(
    {
        "audio",
        "function_call",
        "functions",
        "logit_bias",
        "modalities",
        "prediction",
        "prompt_cache_key",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "verbosity",
        "web_search_options",
    }
)


def max_output_tokens(params: Mapping[str, Any]) -> int | None:
    """``max_completion_tokens`` or ``max_tokens``, whichever was given."""
    value = params.get("max_completion_tokens", params.get("max_tokens"))
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def stop_list(stop: Any) -> list[str] | None:
    """``stop`` as a list of strings (OpenAI accepts one string or a list)."""
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and stop:
        return [s for s in stop if isinstance(s, str)]
    return None
