"""LlamaIndex's :class:`LLMMetadata` for a routed model, from the endpoints that may serve it.

A routed call can land on any endpoint of the model or of its fallback models, so the metadata
must hold for all of them: the context window is the *smallest* declared ``context_length``
among those candidates (an endpoint's ``max_output_tokens`` is never taken for it), and the
model counts as function-calling only if every candidate supports tools.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import LLMMetadata, MessageRole
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW, DEFAULT_NUM_OUTPUTS

from polyroute import Endpoint, Router

__all__ = ["candidate_endpoints", "routed_metadata"]


def candidate_endpoints(
    router: Router, model: str, *, models: Sequence[str] = (), provider: Mapping[str, Any] | None = None
) -> list[Endpoint]:
    """Every endpoint a call to ``model`` with these routing options may be served by.

    This is the router's own plan (nothing is sent): the model's endpoints, then those of the
    fallback models (``models`` when given, else the model's configured fallbacks), less any
    the plan excludes. Endpoints resting behind an open circuit are still candidates.
    """
    plan = router.plan(model, models=list(models) or None, provider=provider)
    return [c.endpoint for c in plan.candidates]


def routed_metadata(endpoints: Sequence[Endpoint], *, model: str, max_tokens: int | None) -> LLMMetadata:
    """Metadata that holds whichever of ``endpoints`` serves the call.

    ``context_window`` is the smallest declared ``context_length`` (LlamaIndex's default when
    none is declared); ``num_output`` is ``max_tokens`` when set, else LlamaIndex's default
    reservation; an endpoint without declared ``capabilities`` is assumed to support tools.
    """
    windows = [e.context_length for e in endpoints if e.context_length is not None]
    tools = all(e.capabilities is None or "tools" in e.capabilities for e in endpoints)
    return LLMMetadata(
        context_window=min(windows) if windows else DEFAULT_CONTEXT_WINDOW,
        num_output=max_tokens if max_tokens is not None else DEFAULT_NUM_OUTPUTS,
        is_chat_model=True,
        is_function_calling_model=tools,
        model_name=model,
        system_role=MessageRole.SYSTEM,
    )
