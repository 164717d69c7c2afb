"""The OpenAI request parameters, as seen by adapters that translate them to another wire API.

Adapters translate the parameters they understand, drop :data:`OPENAI_ONLY` (meaningless
elsewhere, and rejected as unknown fields by strict APIs), and pass every other key through
verbatim: those are the target API's own fields, given with ``extra_body`` or as extra keywords.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from polyroute.errors import BadRequest

__all__ = ["OPENAI_ONLY", "TRANSLATED", "max_output_tokens", "pass_through", "stop_list", "tool_arguments"]

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

#: OpenAI parameters a translating adapter consumes itself: it maps them to the target API's own
#: fields, or drops those the target has no counterpart for; never forwarded verbatim
TRANSLATED = frozenset(
    {
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        "reasoning_effort",
        "n",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "response_format",
    }
)


def pass_through(
    body: dict[str, Any], params: Mapping[str, Any], handled: frozenset[str], extra_body: Mapping[str, Any]
) -> None:
    """Copy into ``body`` the parameters that are the target API's own fields (neither ``handled``
    nor :data:`OPENAI_ONLY`), then the endpoint's ``extra_body``, which wins."""
    for key, value in params.items():
        if key not in handled and key not in OPENAI_ONLY:
            body[key] = value
    if extra_body:
        body.update(extra_body)


def tool_arguments(call: Mapping[str, Any]) -> Any:
    """An assistant tool call's ``function.arguments``, parsed (``{}`` when absent); ``BadRequest`` if not JSON."""
    raw = (call.get("function") or {}).get("arguments") or "{}"
    if not isinstance(raw, str):
        return raw
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            f"tool call {call.get('id')!r} has arguments that are not JSON", code="invalid_tool_arguments"
        ) from exc


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
