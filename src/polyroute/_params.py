"""The keyword parameters of ``Router.completion`` / ``acompletion``, typed once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

__all__ = ["ROUTING_KEYS", "CompletionParams"]


class CompletionParams(TypedDict, total=False):
    """OpenAI Chat Completions parameters plus polyroute's routing and caller options.

    Any other keyword is passed through in the request body to OpenAI-compatible providers.
    """

    # -- OpenAI Chat Completions --
    temperature: float
    top_p: float
    max_tokens: int
    max_completion_tokens: int
    stop: str | Sequence[str]
    seed: int
    n: int
    tools: Sequence[Mapping[str, Any]]
    tool_choice: str | Mapping[str, Any]
    parallel_tool_calls: bool
    response_format: Mapping[str, Any]
    presence_penalty: float
    frequency_penalty: float
    logit_bias: Mapping[str, float]
    logprobs: bool
    top_logprobs: int
    reasoning_effort: str
    stream_options: Mapping[str, Any]
    user: str
    metadata: Mapping[str, Any]
    # -- routing (polyroute / OpenRouter) --
    models: Sequence[str]
    provider: Mapping[str, Any]
    session_id: str
    timeout: float
    hedge: bool | float | str
    # -- caller identity, for budgets and the ledger (never sent upstream) --
    caller_key: str
    project: str
    tags: Sequence[str]
    extra_body: Mapping[str, Any]


#: keys that are ours, not the provider's
ROUTING_KEYS = frozenset(
    {
        "models",
        "provider",
        "session_id",
        "timeout",
        "hedge",
        "caller_key",
        "project",
        "tags",
        "metadata",
        "extra_body",
        "stream_options",
    }
)
