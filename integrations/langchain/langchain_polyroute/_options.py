"""The parameters a call sends to polyroute: the model's defaults, overridden per call.

Per-call parameters arrive as LangChain call keywords (``model.invoke(msgs, temperature=0)``,
``model.bind(caller_key="team-a")``, ``bind_tools``). Only the names below are accepted: a typo
fails loudly instead of travelling upstream, and provider-specific fields go in ``extra_body``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polyroute import CompletionParams

__all__ = ["CALL_PARAMS", "REQUEST_PARAMS", "router_params"]

#: LangChain's names for polyroute's ``tags`` and ``metadata`` (LangChain uses those names for tracing)
_RENAMED = {"caller_tags": "tags", "caller_metadata": "metadata"}
_LANGCHAIN_NAME = {ours: theirs for theirs, ours in _RENAMED.items()}

#: parameters ChatPolyroute sets itself: ``stream_options`` (from ``stream_usage``)
_OWN = frozenset({"stream_options"})

REQUEST_PARAMS = frozenset(_LANGCHAIN_NAME.get(name, name) for name in CompletionParams.__annotations__) - _OWN
"""Every parameter of ``Router.completion`` (:class:`polyroute.CompletionParams`), under LangChain's names."""

#: keywords LangChain itself may pass down to a chat model; they are not request parameters
_LANGCHAIN_FLAGS = frozenset({"stream"})

CALL_PARAMS = (REQUEST_PARAMS - {"stop"}) | {"model"}
"""Every keyword a call may carry (LangChain passes ``stop`` apart)."""


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
