"""The parameters a call sends to polyroute: the model's defaults, overridden per call.

Per-call parameters arrive as LangChain call keywords (``model.invoke(msgs, temperature=0)``,
``model.bind(caller_key="team-a")``, ``bind_tools``). Only the names below are accepted: a typo
fails loudly instead of travelling upstream, and provider-specific fields go in ``extra_body``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CALL_PARAMS", "router_params"]

#: OpenAI Chat Completions parameters, sent to the provider
OPENAI_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "seed",
        "n",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "reasoning_effort",
        "user",
        "extra_body",
    }
)

#: polyroute's routing options and caller identity (budgets, ledger), never sent upstream
ROUTING_PARAMS = frozenset(
    {"models", "provider", "session_id", "timeout", "caller_key", "project", "caller_tags", "caller_metadata"}
)

#: LangChain's names for polyroute's ``tags`` and ``metadata`` (LangChain uses those names for tracing)
_RENAMED = {"caller_tags": "tags", "caller_metadata": "metadata"}

#: keywords LangChain itself may pass down to a chat model; they are not request parameters
_LANGCHAIN_FLAGS = frozenset({"stream"})

CALL_PARAMS = OPENAI_PARAMS | ROUTING_PARAMS | {"model"}
"""Every keyword a call may carry."""


def router_params(defaults: Mapping[str, Any], call: Mapping[str, Any], stop: list[str] | None) -> dict[str, Any]:
    """Keyword arguments for ``Router.completion``: ``defaults`` overridden by ``call``.

    ``None`` means "not set" on both sides. ``stop`` is the call's stop list (LangChain passes it
    apart); an empty list sends no ``stop``. Raises :class:`TypeError` for unknown keywords.
    """
    unknown = sorted(call.keys() - CALL_PARAMS - _LANGCHAIN_FLAGS)
    if unknown:
        raise TypeError(
            f"ChatPolyroute got unexpected call parameter(s) {unknown}; expected some of {sorted(CALL_PARAMS)}. "
            "Put provider-specific request fields in extra_body={...}."
        )
    merged = {k: v for k, v in defaults.items() if v is not None}
    merged.update((k, v) for k, v in call.items() if v is not None and k not in _LANGCHAIN_FLAGS)
    if stop is not None:
        merged["stop"] = stop
    if not merged.get("stop"):
        merged.pop("stop", None)
    return {_RENAMED.get(k, k): v for k, v in merged.items()}
